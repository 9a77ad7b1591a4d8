"""Two independent reviews of every file, blinded until both are in, and what they decide.

Each of the two output checkers votes on every file of the request's current version:
approve, request changes (return it to the author), or reject; a vote that does not approve
says why (the author reads it once the review is decided). Until both have voted on every
file, a checker sees only their own votes; the author sees none. Then each file's outcome is
the two checkers' agreed vote, and the request, from those outcomes:

| the two votes on each file                                  | the request         |
| ----------------------------------------------------------- | ------------------- |
| every file: both approve                                    | approved            |
| every file: both reject                                     | rejected            |
| some file both approve, every other both return or reject   | partly approved     |
| no file approved, some both return for changes              | changes requested   |
| some file: the two disagree                                 | consolidation       |

A partly approved request releases its approved files and returns the others (one rejected
file no longer rejects the rest). **Consolidation**: with both reviews in and visible to both,
the two checkers vote again on the files they disagree on (only those, with a comment saying
why), until they agree; each such vote is recorded. So a file is approved only when both
checkers' latest votes approve it, and no third checker ever votes on a version two have
reviewed. One checker may instead **return** the whole request to its author with a message
before the review is decided (``request.ReleaseRequest.return_to_author``).
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

    @property
    def outcome(self) -> str:
        """A file's outcome when both checkers vote this: approved, returned, rejected."""
        return OUTCOME_WORDS[self]


OUTCOME_WORDS = {
    Vote.APPROVE: "approved",
    Vote.REQUEST_CHANGES: "returned for changes",
    Vote.REJECT: "rejected",
}


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
    most two checkers, saying why unless it approves; once both reviews are in, only on a file
    they disagree on, with a comment (consolidation)."""
    if new.file not in files:
        raise ReviewError("There is no such file in this version of the request.")
    voters = checkers(votes)
    if new.checker not in voters and len(voters) >= CHECKERS:
        raise ReviewError("Two output checkers are already reviewing this request.")
    if complete(votes, files):
        if new.file not in disagreements(votes, files):
            raise ReviewError("Both reviews are in and agree on this file.")
        if not new.comment.strip():
            raise ReviewError("A vote in consolidation says why: add a comment.")
    if new.vote is not Vote.APPROVE and not new.comment.strip():
        raise ReviewError(
            "A file returned for changes or rejected says why: add a comment the author can act on."
        )


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


def outcomes(votes: Sequence[FileVote], files: Sequence[str]) -> dict[str, Vote] | None:
    """Each file's agreed vote, or None: not complete, or the two still disagree on a file."""
    if not complete(votes, files) or disagreements(votes, files):
        return None
    cast = latest(votes)
    first = checkers(votes)[0]
    return {f: cast[(first, f)].vote for f in files}


def decision(votes: Sequence[FileVote], files: Sequence[str]) -> RequestState | None:
    """What the reviews decide (see the module's table), or None: not complete, or the two
    checkers still disagree on some file."""
    agreed = outcomes(votes, files)
    if agreed is None:
        return None
    final = set(agreed.values())
    if final == {Vote.APPROVE}:
        return RequestState.APPROVED
    if final == {Vote.REJECT}:
        return RequestState.REJECTED
    if Vote.APPROVE in final:
        return RequestState.PARTLY_APPROVED
    return RequestState.CHANGES_REQUESTED


def reasons(votes: Sequence[FileVote], file: str) -> list[str]:
    """The checkers' comments on ``file`` (their latest votes), for the author to act on."""
    said = [v.comment.strip() for (_, f), v in latest(votes).items() if f == file]
    return list(dict.fromkeys(c for c in said if c))  # two checkers agreeing in the same words
