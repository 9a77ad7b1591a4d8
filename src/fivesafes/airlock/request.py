"""A release request and the actions on it: each takes ``by`` (who acts), checks who may act
(``permissions``) before what the state allows (``states``, ``review``), changes the request,
and records an event for the audit log. Nothing here does I/O: a store persists the request
and writes each new event in the same transaction (``fivesafes.airlock.store``).

A request is reviewed version by version: ``revise`` after changes were requested starts a new
version with new files, and its reviews start again; every earlier version, with its files'
hashes, votes and decision, stays in ``history``.

Outcomes are per file: a partly approved request releases its approved files (a bundle of
those alone) and the others go back to the author; the next version carries the files still to
be changed (:meth:`ReleaseRequest.carried_forward`: never a released or a rejected file).
One checker may return a request under review to its author with a message
(:meth:`ReleaseRequest.return_to_author`): nothing is released, so one checker is enough.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fivesafes.airlock import review
from fivesafes.airlock.bundle import Bundle, bundle, sha256
from fivesafes.airlock.files import PreScreen, RequestFile, check_files, pre_screen
from fivesafes.airlock.permissions import check_act_as_author, check_review
from fivesafes.airlock.review import FileVote, ReviewError, Vote
from fivesafes.airlock.states import REVIEWING, RequestState, Transition, next_state
from fivesafes.governance.people import Actor
from fivesafes.governance.roles import Scope


@dataclass(frozen=True)
class Event:
    """One change, for the audit log: what happened, by whom, about what (never file bytes)."""

    action: str
    by: str
    details: dict[str, Any]


MAX_MESSAGE = 4000

Screen = Callable[[Sequence[RequestFile]], Mapping[str, PreScreen]]
"""Pre-screens every file of a version at once (a table's marker is another file)."""


@dataclass(frozen=True)
class Version:
    """A reviewed version as the history keeps it."""

    number: int
    files: dict[str, str]  # name -> sha256
    votes: list[FileVote]
    outcome: RequestState | None
    returned_by: str | None = None  # the checker who returned it to its author, if one did
    message: str = ""  # their message to the author
    released: tuple[str, ...] = ()  # the files released from this version

    @property
    def outcomes(self) -> dict[str, Vote]:
        """Each file's outcome (the two checkers' agreed vote); none for a returned version."""
        return review.outcomes(self.votes, list(self.files)) or {}

    @property
    def approved(self) -> dict[str, str]:
        """The approved files' sha256, as they were when the checkers decided."""
        if self.outcome is RequestState.APPROVED:
            return dict(self.files)
        if self.outcome is RequestState.PARTLY_APPROVED:
            agreed = self.outcomes
            return {n: h for n, h in self.files.items() if agreed.get(n) is Vote.APPROVE}
        return {}


@dataclass
class ReleaseRequest:
    id: str
    scope: Scope
    author: str
    title: str
    project_id: str | None = None
    state: RequestState = RequestState.DRAFT
    version: int = 1
    files: list[RequestFile] = field(default_factory=list)
    screens: dict[str, PreScreen] = field(default_factory=dict)
    votes: list[FileVote] = field(default_factory=list)
    approved: dict[str, str] = field(default_factory=dict)  # name -> sha256 at approval
    history: list[Version] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @property
    def file_names(self) -> list[str]:
        return [f.name for f in self.files]

    def _record(self, action: str, by: Actor, **details: Any) -> None:
        self.events.append(Event(action, by.username, {"version": self.version, **details}))

    def _move(self, transition: Transition, outcome: RequestState | None = None) -> None:
        """Move by ``transition``; a move the state does not have is refused."""
        self.state = next_state(self.state, transition, outcome)

    # ---- the author ----------------------------------------------------------------------

    def set_files(self, files: list[RequestFile], *, by: Actor) -> None:
        """Compose the draft: its files (checked as they would be at submission)."""
        check_act_as_author(by, self.scope, self.author)
        if self.state is not RequestState.DRAFT:
            raise ReviewError("Only a draft's files can be changed.")
        check_files(files)
        self.files = list(files)
        self._record("files_set", by, files={f.name: sha256(f.content) for f in files})

    def add_file(self, file: RequestFile, *, by: Actor) -> None:
        """Add ``file`` to the draft, in place of a file of the same name if there is one."""
        kept = [f for f in self.files if f.name != file.name]
        self.set_files([*kept, file], by=by)

    def remove_file(self, name: str, *, by: Actor) -> None:
        check_act_as_author(by, self.scope, self.author)
        if name not in self.file_names:
            raise ReviewError("The request has no file of that name.")
        self.set_files([f for f in self.files if f.name != name], by=by)

    def submit(self, *, by: Actor, threshold: int = 10, screen: Screen | None = None) -> None:
        """Submit the draft for review; every file gets its pre-screen (``screen``, by default
        ``files.pre_screen`` at ``threshold``)."""
        check_act_as_author(by, self.scope, self.author)
        check_files(self.files)
        self._move(Transition.SUBMIT)
        screened = screen(self.files) if screen else {}
        self.screens = {
            f.name: screened.get(f.name) or pre_screen(f, threshold) for f in self.files
        }
        self._record("submitted", by, files={f.name: sha256(f.content) for f in self.files})

    def revise(self, files: list[RequestFile], *, by: Actor) -> None:
        """After changes were requested (or with some files approved and not yet released): a
        new version with ``files``, reviewed afresh."""
        check_act_as_author(by, self.scope, self.author)
        after = next_state(self.state, Transition.REVISE)
        check_files(files)
        self.state = after
        self.version += 1
        self.files = list(files)
        self.votes, self.screens, self.approved = [], {}, {}
        self._record("revised", by, files={f.name: sha256(f.content) for f in files})

    def carried_forward(self) -> list[RequestFile]:
        """The files a revision starts from: those of this version not released and not
        rejected (every file, for a version returned whole)."""
        if not self.history or self.history[-1].number != self.version:
            return list(self.files)
        decided = self.history[-1]
        agreed = decided.outcomes
        return [
            f
            for f in self.files
            if f.name not in decided.released and agreed.get(f.name) is not Vote.REJECT
        ]

    def withdraw(self, *, by: Actor) -> None:
        check_act_as_author(by, self.scope, self.author)
        self._move(Transition.WITHDRAW)
        self._record("withdrawn", by)

    def release(self, *, by: Actor, key: Ed25519PrivateKey, now: datetime, service: str) -> Bundle:
        """The signed bundle of the approved files (all of an approved request's; a partly
        approved one's approved files, the others back to the author); files changed since
        approval refuse."""
        check_act_as_author(by, self.scope, self.author)
        returned = [n for n, v in self._outcomes().items() if v is Vote.REQUEST_CHANGES]
        after = RequestState.CHANGES_REQUESTED if returned else RequestState.RELEASED
        next_state(self.state, Transition.RELEASE, after)  # raises unless (partly) approved
        decided = self.history[-1]
        names = set(self.approved)
        made = bundle(
            request_id=self.id,
            version=self.version,
            author=self.author,
            scope=str(self.scope),
            files=[f for f in self.files if f.name in names],
            approved=self.approved,
            decisions=[
                {"checker": v.checker, "file": v.file, "vote": v.vote.value, "comment": v.comment}
                for v in review.latest(decided.votes).values()
                if v.file in names
            ],
            released_at=now,
            service=service,
            key=key,
        )
        self._move(Transition.RELEASE, after)
        released = tuple(f.name for f in self.files if f.name in names)
        self.history[-1] = replace(decided, released=released)
        self._record(
            "released",
            by,
            manifest_signature=made.signature,
            files=list(released),
            **({"returned": returned} if returned else {}),
        )
        return made

    # ---- the output checkers --------------------------------------------------------------

    def vote(self, file: str, vote: Vote, comment: str = "", *, by: Actor) -> None:
        """A checker's vote on one file; the first vote starts the review. Everything is
        checked before anything changes."""
        check_review(by, self.scope, self.author)
        if self.state not in REVIEWING:
            raise ReviewError(f"A {self.state.words} request is not under review.")
        cast = FileVote(by.username, file, vote, comment)
        consolidating = review.complete(self.votes, self.file_names)
        review.check_vote(self.votes, self.file_names, cast)
        if self.state is RequestState.SUBMITTED:
            self._move(Transition.START_REVIEW)
            self._record("review_started", by)
        self.votes.append(cast)
        # the vote itself stays blind until both reviews are in
        self._record("reconsidered" if consolidating else "voted", by, file=file)
        if not consolidating and review.disagreements(self.votes, self.file_names):
            disputed = review.disagreements(self.votes, self.file_names)
            self.events.append(
                Event(
                    "consolidation_started", "airlock", {"version": self.version, "files": disputed}
                )
            )
        self._decide_if_settled()

    def return_to_author(self, message: str, *, by: Actor) -> None:
        """One checker sends the request under review back to its author with ``message``
        (what to change); its votes so far stay in the history. Nothing is released, so one
        checker suffices; a third checker cannot step in on a version two are reviewing."""
        check_review(by, self.scope, self.author)
        if self.state not in REVIEWING:
            raise ReviewError(f"A {self.state.words} request is not under review.")
        voters = review.checkers(self.votes)
        if by.username not in voters and len(voters) >= review.CHECKERS:
            raise ReviewError("Two output checkers are already reviewing this request.")
        message = message.strip()
        if not message or len(message) > MAX_MESSAGE:
            raise ReviewError(
                f"Returning a request says what to change: a message of 1 to {MAX_MESSAGE:,} "
                "characters."
            )
        self._move(Transition.RETURN)
        hashes = {f.name: sha256(f.content) for f in self.files}
        self.history.append(
            Version(
                self.version,
                hashes,
                list(self.votes),
                RequestState.CHANGES_REQUESTED,
                returned_by=by.username,
                message=message,
            )
        )
        self._record("returned", by, outcome=RequestState.CHANGES_REQUESTED.value)

    def _outcomes(self) -> dict[str, Vote]:
        """The current version's per-file outcomes, once decided."""
        if not self.history or self.history[-1].number != self.version:
            return {}
        return self.history[-1].outcomes

    @property
    def outcomes(self) -> dict[str, Vote]:
        """Each file's outcome in the current version, once the checkers have decided."""
        return self._outcomes()

    @property
    def consolidating(self) -> list[str]:
        """The files the two checkers disagree on (both reviews in): consolidation."""
        if self.state is not RequestState.UNDER_REVIEW:
            return []
        return review.disagreements(self.votes, self.file_names)

    def _decide_if_settled(self) -> None:
        outcome = review.decision(self.votes, self.file_names)
        if outcome is None:
            return
        self._move(Transition.DECIDE, outcome)
        hashes = {f.name: sha256(f.content) for f in self.files}
        decided = Version(self.version, hashes, list(self.votes), outcome)
        self.approved = decided.approved
        self.history.append(decided)
        self.events.append(
            Event("decided", "airlock", {"version": self.version, "outcome": outcome.value})
        )

    def visible_votes(self, viewer: Actor) -> list[FileVote]:
        """What ``viewer`` may see of the current version's votes (blinding)."""
        if viewer.username == self.author:
            return list(self.votes) if self.state is not RequestState.UNDER_REVIEW else []
        return review.visible(self.votes, self.file_names, viewer.username)
