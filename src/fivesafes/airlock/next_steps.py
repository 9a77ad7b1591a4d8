"""What the person looking at a request can do next, as a command and as the page's button.

Every outcome and every refusal of what the state allows ends by naming the way forward, for
the one who asked: the author, a checker, or someone who only watches.

| state | the author | a checker |
| --- | --- | --- |
| draft | add files, submit | |
| submitted, under review | wait for the checkers (or withdraw) | vote on each file, or return |
| | | the request; consolidate |
| approved | release | |
| partly approved | release the approved files, then revise the returned ones | |
| changes requested | revise the returned files and resubmit | |
| rejected | start a new request | |
| released | download the bundle again | |

Commands are written as the ``fivesafes airlock`` command line takes them (each also needs
``--config`` and ``--by``); buttons by their label on the request's page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fivesafes.airlock import review
from fivesafes.airlock.request import ReleaseRequest
from fivesafes.airlock.review import Vote
from fivesafes.airlock.states import REVIEWING, RequestState


@dataclass(frozen=True)
class Step:
    """One thing to do next: in words, as a command, and as the page's button (if any)."""

    text: str
    command: str = ""
    button: str = ""

    def __str__(self) -> str:
        return f"{self.text}: `{self.command}`" if self.command else self.text


def outcome_words(outcomes: Mapping[str, Vote]) -> str:
    """``1 file approved (a.csv); 2 returned for changes (b.csv, c.csv)``."""
    parts = []
    for vote in Vote:
        names = [n for n, v in outcomes.items() if v is vote]
        if names:
            count = f"{len(names)} file" + ("" if len(names) == 1 else "s")
            parts.append(f"{count} {vote.outcome} ({', '.join(names)})")
    return "; ".join(parts)


def for_author(request: ReleaseRequest) -> list[Step]:
    """What the author of ``request`` can do next."""
    rid, state = request.id, request.state
    outcomes = request.outcomes
    returned = [n for n, v in outcomes.items() if v is Vote.REQUEST_CHANGES]
    approved = [n for n, v in outcomes.items() if v is Vote.APPROVE]
    revise = f"fivesafes airlock request revise {rid}"
    release = f"fivesafes airlock release {rid} --out BUNDLE.zip"
    if state is RequestState.DRAFT:
        return [
            Step("Add files", f"fivesafes airlock request add-file {rid} PATH", "Add file"),
            Step("then submit it", f"fivesafes airlock request submit {rid}", "Submit for review"),
        ]
    if state in REVIEWING:
        return [Step("Two output checkers review it: nothing to do until they decide")]
    if state is RequestState.APPROVED:
        return [Step("Release it", release, "Release and download the signed bundle")]
    if state is RequestState.PARTLY_APPROVED:
        steps = [Step(f"Release {_the(approved, 'approved')}", release,
                      "Release the approved files")]  # fmt: skip
        if returned:
            steps.append(Step(f"then revise {_the(returned, 'returned for changes', after=True)}"
                              " and resubmit", revise, "Revise"))  # fmt: skip
        return steps
    if state is RequestState.CHANGES_REQUESTED:
        if _returned_whole(request) or not returned:
            said = "A checker returned it to you with what to change: revise it and resubmit"
        else:
            them = "it" if len(returned) == 1 else "them"
            said = f"{_files(returned)} returned for changes: revise {them} and resubmit"
        return [Step(said, revise, "Revise")]
    if state is RequestState.REJECTED:
        return [
            Step(
                "Every file was rejected and nothing leaves from this request: start a new one",
                "fivesafes airlock request create",
                "New release request",
            )
        ]
    if state is RequestState.RELEASED:
        return [Step("Download the signed bundle again", release, "Download the signed bundle")]
    return []


def for_checker(request: ReleaseRequest, checker: str) -> list[Step]:
    """What output checker ``checker`` can do next on ``request``."""
    rid = request.id
    if request.state not in REVIEWING:
        return [Step(f"The request is {request.state.words}: nothing for a checker to do")]
    voters = review.checkers(request.votes)
    if checker not in voters and len(voters) >= review.CHECKERS:
        return [Step("Two other output checkers are reviewing it: nothing for you to do")]
    disputed = request.consolidating
    if disputed:
        return [Step(f"Vote again on {', '.join(disputed)}, saying why (consolidation)",
                     f"fivesafes airlock consolidate {rid} FILE --vote VOTE --comment WHY",
                     "Vote again")]  # fmt: skip
    mine = {v.file for v in request.votes if v.checker == checker}
    pending = [n for n in request.file_names if n not in mine]
    if not pending:
        return [Step("Your review is in: waiting for the other checker")]
    return [
        Step(f"Vote on {', '.join(pending)} (a vote that does not approve says why)",
             f"fivesafes airlock review vote {rid} FILE --vote approve|request_changes|reject "
             "--comment WHY", "Vote"),
        Step("or return the whole request to its author with what to change",
             f"fivesafes airlock review return {rid} --message WHAT", "Return to the researcher"),
    ]  # fmt: skip


def for_viewer(request: ReleaseRequest, viewer: str, *, may_review: bool) -> list[Step]:
    """The next steps for whoever is looking: the author's, a checker's, or none."""
    if viewer == request.author:
        return for_author(request)
    if may_review:
        return for_checker(request, viewer)
    return []


def sentence(steps: Sequence[Step]) -> str:
    """The steps as one sentence for a message: ``Next: …; then …``."""
    return ("Next: " + "; ".join(str(s) for s in steps) + ".") if steps else ""


def _files(names: Sequence[str]) -> str:
    return f"{len(names)} file" + ("" if len(names) == 1 else "s")


def _the(names: Sequence[str], what: str, *, after: bool = False) -> str:
    """``the approved file``, ``the 2 approved files``; ``after``: ``the file returned …``."""
    files = "file" if len(names) == 1 else f"{len(names)} files"
    return f"the {files} {what}" if after else f"the {what} {files}"


def _returned_whole(request: ReleaseRequest) -> bool:
    last = request.history[-1] if request.history else None
    return bool(last and last.number == request.version and last.returned_by)
