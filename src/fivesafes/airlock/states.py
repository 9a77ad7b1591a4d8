"""A release request's state machine: every change of state is one named transition.

```text
draft ─submit─▶ submitted ─start_review─▶ under_review ─decide─▶ approved ─release─▶ released
                                                                 changes_requested ─revise─▶ draft
                                                                 rejected (final)
any state not final ─withdraw─▶ withdrawn (final)
```

``decide`` lands in ``approved``, ``changes_requested`` or ``rejected`` by what the two checkers
decided (``fivesafes.airlock.review``); nothing else moves a request to ``approved``. A revised
request keeps its id and history and gets a new version; its votes start again.

| from                | transition     | to                  |
| ------------------- | -------------- | ------------------- |
| draft               | submit         | submitted           |
| submitted           | start_review   | under_review        |
| under_review        | decide         | approved / changes_requested / rejected |
| approved            | release        | released            |
| changes_requested   | revise         | draft               |
| draft, submitted, under_review, approved, changes_requested | withdraw | withdrawn |
"""

from __future__ import annotations

from enum import StrEnum

from fivesafes.protocol.errors import InvalidRequest


class RequestState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"
    REJECTED = "rejected"
    RELEASED = "released"
    WITHDRAWN = "withdrawn"

    @property
    def is_final(self) -> bool:
        return self in FINAL


class Transition(StrEnum):
    SUBMIT = "submit"
    START_REVIEW = "start_review"
    DECIDE = "decide"
    RELEASE = "release"
    REVISE = "revise"
    WITHDRAW = "withdraw"


FINAL = frozenset({RequestState.REJECTED, RequestState.RELEASED, RequestState.WITHDRAWN})
DECISIONS = frozenset(
    {RequestState.APPROVED, RequestState.CHANGES_REQUESTED, RequestState.REJECTED}
)

_MOVES: dict[tuple[RequestState, Transition], frozenset[RequestState]] = {
    (RequestState.DRAFT, Transition.SUBMIT): frozenset({RequestState.SUBMITTED}),
    (RequestState.SUBMITTED, Transition.START_REVIEW): frozenset({RequestState.UNDER_REVIEW}),
    (RequestState.UNDER_REVIEW, Transition.DECIDE): DECISIONS,
    (RequestState.APPROVED, Transition.RELEASE): frozenset({RequestState.RELEASED}),
    (RequestState.CHANGES_REQUESTED, Transition.REVISE): frozenset({RequestState.DRAFT}),
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
    for ``decide``); raises ``InvalidTransition`` otherwise."""
    allowed = _MOVES.get((state, transition))
    if not allowed:
        raise InvalidTransition(
            f"A {state.value} request cannot {transition.value.replace('_', ' ')}."
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
