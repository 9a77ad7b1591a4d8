"""Two independent reviews of every file, blinded until both are in, and what they decide.

Each of the two output checkers votes on every file of the request's current version
(approve, request changes, reject) with a comment. Until both have voted on every file, a
checker sees only their own votes; the author sees none. Then, from each checker's latest vote:

| the two votes on each file                      | the request                   |
| ----------------------------------------------- | ----------------------------- |
| every file: both approve                        | approved                      |
| no disagreement, some file: both reject         | rejected                      |
| no disagreement, otherwise (changes requested)  | changes requested             |
| some file: the two disagree                     | consolidation                 |

**Consolidation**: with both reviews in and visible to both, the two checkers discuss and vote
again on the files they disagree on (only those, with a comment saying why), until they agree;
each such vote is recorded. So a file is approved only when both checkers' latest votes approve
it, and no third checker ever votes on a version two have reviewed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from fivesafes.airlock.states import RequestState
from fivesafes.protocol.errors import InvalidRequest

CHECKERS = 2


class Vote(StrEnum):
    APPROVE = "approve"
    REQUEST_CHANGES = "request_changes"
    REJECT = "reject"


@dataclass(frozen=True)
class FileVote:
    checker: str
    file: str
    vote: Vote
    comment: str = ""


class ReviewError(InvalidRequest):
    """A vote or consolidation the review's rules do not allow."""


def checkers(votes: Iterable[FileVote]) -> list[str]:
    """The checkers who have voted on this version, in the order they first voted."""
    return list(dict.fromkeys(v.checker for v in votes))


def latest(votes: Sequence[FileVote]) -> dict[tuple[str, str], FileVote]:
    """Each checker's last vote on each file (a checker may change a vote until both are in)."""
    found: dict[tuple[str, str], FileVote] = {}
    for vote in votes:
        found[(vote.checker, vote.file)] = vote
    return found


def complete(votes: Sequence[FileVote], files: Sequence[str]) -> bool:
    """Whether two checkers have each voted on every file."""
    cast = latest(votes)
    voters = checkers(votes)
    return len(voters) == CHECKERS and all((c, f) in cast for c in voters for f in files)


def check_vote(votes: Sequence[FileVote], files: Sequence[str], new: FileVote) -> None:
    """Raise ``ReviewError`` unless ``new`` may be cast: on a file of this version, by one of at
    most two checkers; once both reviews are in, only on a file they disagree on, with a
    comment (consolidation)."""
    if new.file not in files:
        raise ReviewError("There is no such file in this version of the request.")
    voters = checkers(votes)
    if new.checker not in voters and len(voters) >= CHECKERS:
        raise ReviewError("Two output checkers are already reviewing this request.")
    if complete(votes, files):
        if new.file not in disagreements(votes, files):
            raise ReviewError("Both reviews are in and agree on this file.")
        if not new.comment.strip():
            raise ReviewError("A vote in consolidation says why.")


def visible(votes: Sequence[FileVote], files: Sequence[str], viewer: str) -> list[FileVote]:
    """The votes ``viewer`` may see: their own, and the other checker's once both are in."""
    shown = latest(votes).values()
    if complete(votes, files):
        return list(shown)
    return [v for v in shown if v.checker == viewer]


def disagreements(votes: Sequence[FileVote], files: Sequence[str]) -> list[str]:
    """The files the two checkers voted differently on (only once both are in)."""
    if not complete(votes, files):
        return []
    cast = latest(votes)
    first, second = checkers(votes)
    return [f for f in files if cast[(first, f)].vote is not cast[(second, f)].vote]


def decision(votes: Sequence[FileVote], files: Sequence[str]) -> RequestState | None:
    """What the reviews decide (see the module's table), or None: not complete, or the two
    checkers still disagree on some file."""
    if not complete(votes, files) or disagreements(votes, files):
        return None
    cast = latest(votes)
    first = checkers(votes)[0]
    final = [cast[(first, f)].vote for f in files]
    if all(v is Vote.APPROVE for v in final):
        return RequestState.APPROVED
    if any(v is Vote.REJECT for v in final):
        return RequestState.REJECTED
    return RequestState.CHANGES_REQUESTED
