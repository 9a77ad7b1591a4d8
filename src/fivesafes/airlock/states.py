"""A release request's state machine: every change of state is one named transition.

```text
draft ─submit─▶ submitted ─start_review─▶ under_review ─decide─▶ approved ─release─▶ released
under_review ─decide─▶ partly_approved ─release─▶ released, or changes_requested
                       partly_approved ─revise─▶ draft
under_review ─decide─▶ changes_requested ─revise─▶ draft
under_review ─decide─▶ rejected (final)
submitted, under_review ─return─▶ changes_requested
any state not final ─withdraw─▶ withdrawn (final)
```

``decide`` lands in ``approved``, ``partly_approved``, ``changes_requested`` or ``rejected`` by
what the two checkers decided file by file (``fivesafes.airlock.review``); nothing else moves
a request to ``approved`` or ``partly_approved``. ``return`` is one checker sending the request
back to its author with a message, before the review is decided (it releases nothing, so it
needs no second checker). Releasing a partly approved request releases its approved files and
lands in ``changes_requested`` when some file was returned for changes (the author revises
those), or ``released`` when every other file was rejected. A revised request keeps its id and
history and gets a new version; its votes start again. The table is the machine (a test holds
it to ``moves()``):

| from | transition | to |
| --- | --- | --- |
| draft | submit | submitted |
| submitted | start_review | under_review |
| under_review | decide | approved / partly_approved / changes_requested / rejected |
| submitted, under_review | return | changes_requested |
| approved | release | released |
| partly_approved | release | released / changes_requested |
| changes_requested, partly_approved | revise | draft |
| draft, submitted, under_review, approved | withdraw | withdrawn |
| partly_approved, changes_requested | withdraw | withdrawn |
"""

from __future__ import annotations

from enum import StrEnum

from fivesafes.protocol.errors import InvalidRequest


class RequestState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    PARTLY_APPROVED = "partly_approved"
    CHANGES_REQUESTED = "changes_requested"
    REJECTED = "rejected"
    RELEASED = "released"
    WITHDRAWN = "withdrawn"

    @property
    def is_final(self) -> bool:
        return self in FINAL

    @property
    def words(self) -> str:
        """The state as a sentence says it: ``partly approved``."""
        return self.value.replace("_", " ")


class Transition(StrEnum):
    SUBMIT = "submit"
    START_REVIEW = "start_review"
    DECIDE = "decide"
    RETURN = "return"
    RELEASE = "release"
    REVISE = "revise"
    WITHDRAW = "withdraw"


FINAL = frozenset({RequestState.REJECTED, RequestState.RELEASED, RequestState.WITHDRAWN})
DECISIONS = frozenset(
    {
        RequestState.APPROVED,
        RequestState.PARTLY_APPROVED,
        RequestState.CHANGES_REQUESTED,
        RequestState.REJECTED,
    }
)
RELEASABLE = frozenset({RequestState.APPROVED, RequestState.PARTLY_APPROVED})
REVIEWING = frozenset({RequestState.SUBMITTED, RequestState.UNDER_REVIEW})

_MOVES: dict[tuple[RequestState, Transition], frozenset[RequestState]] = {
    (RequestState.DRAFT, Transition.SUBMIT): frozenset({RequestState.SUBMITTED}),
    (RequestState.SUBMITTED, Transition.START_REVIEW): frozenset({RequestState.UNDER_REVIEW}),
    (RequestState.UNDER_REVIEW, Transition.DECIDE): DECISIONS,
    **{
        (state, Transition.RETURN): frozenset({RequestState.CHANGES_REQUESTED})
        for state in REVIEWING
    },
    (RequestState.APPROVED, Transition.RELEASE): frozenset({RequestState.RELEASED}),
    (RequestState.PARTLY_APPROVED, Transition.RELEASE): frozenset(
        {RequestState.RELEASED, RequestState.CHANGES_REQUESTED}
    ),
    (RequestState.CHANGES_REQUESTED, Transition.REVISE): frozenset({RequestState.DRAFT}),
    (RequestState.PARTLY_APPROVED, Transition.REVISE): frozenset({RequestState.DRAFT}),
    **{
        (state, Transition.WITHDRAW): frozenset({RequestState.WITHDRAWN})
        for state in RequestState
        if state not in FINAL
    },
}


class InvalidTransition(InvalidRequest):
    """The request's state does not allow this transition."""


def next_state(
    state: RequestState, transition: Transition, outcome: RequestState | None = None
) -> RequestState:
    """The state ``transition`` leads to from ``state`` (``outcome`` picks one of several,
    for ``decide`` and a partly approved request's ``release``); raises ``InvalidTransition``
    otherwise."""
    allowed = _MOVES.get((state, transition))
    if not allowed:
        raise InvalidTransition(
            f"A {state.words} request cannot {transition.value.replace('_', ' ')}."
        )
    if len(allowed) == 1:
        (only,) = allowed
        if outcome is not None and outcome is not only:
            raise InvalidTransition(
                f"{transition.value} leads to {only.value}, not {outcome.value}."
            )
        return only
    if outcome not in allowed:
        raise InvalidTransition(
            f"{transition.value} needs one of {sorted(s.value for s in allowed)}."
        )
    return outcome


def can_move(state: RequestState, transition: Transition) -> bool:
    return (state, transition) in _MOVES


def moves() -> dict[tuple[RequestState, Transition], frozenset[RequestState]]:
    """Every (state, transition) the machine has and where each may lead (the module's
    table, for a test to hold it to)."""
    return dict(_MOVES)
