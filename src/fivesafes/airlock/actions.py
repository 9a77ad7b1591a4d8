"""Every airlock action: one function each, taking the transaction's store and ``by=`` (who
acts), writing the change and its audit events through that one store, so both commit
together or neither does.

Each action loads the request and checks the actor may see it before anything else (anyone
else is told it does not exist, the same answer as for a request that does not), then lets the
request's own rules (``request``, ``permissions``, ``states``, ``review``) decide.

| action         | who                          | audit events (``airlock_`` ...)                 |
| -------------- | ---------------------------- | ----------------------------------------------- |
| create         | the author                   | ``request_created``                             |
| add/remove file| the author, on a draft       | ``files_changed`` (names and sha256 only)       |
| submit         | the author                   | ``request_submitted``                           |
| vote           | a checker, never the author  | ``voted`` (the first: ``review_started``), then |
|                |                              | ``consolidation_started`` or ``decided``        |
| consolidate    | one of the two checkers      | ``reconsidered``, then ``decided``              |
| return         | a checker, never the author  | ``decided`` (changes_requested, ``returned_by``)|
| revise         | the author                   | ``request_revised``                             |
| withdraw       | the author                   | ``request_withdrawn``                           |
| release        | the author                   | ``released`` (the files released, and those     |
|                |                              | returned); refused: ``release_refused``         |
| download       | the author                   | ``bundle_downloaded``                           |

A vote's value and comment are never in the audit log while the review is blind, nor is a
return's message; the decision (``airlock_decided``, its outcome approved, partly_approved,
changes_requested or rejected) is. A refusal of what the state or the review allows ends by
naming what the one who asked can do next (``next_steps``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fivesafes.airlock import next_steps, review
from fivesafes.airlock.bundle import sha256
from fivesafes.airlock.files import RequestFile
from fivesafes.airlock.next_steps import Step
from fivesafes.airlock.permissions import (
    can_review,
    check_act_as_author,
    check_review,
    check_see_request,
)
from fivesafes.airlock.request import ReleaseRequest, Screen, Version
from fivesafes.airlock.review import FileVote, ReviewError, Vote
from fivesafes.airlock.states import REVIEWING, InvalidTransition, RequestState
from fivesafes.airlock.store import AirlockStore, StoredBundle, Summary, stored_bundle
from fivesafes.audit.events import AuditEventType
from fivesafes.governance.people import Actor
from fivesafes.governance.roles import Scope
from fivesafes.kit.store import AuditRecord
from fivesafes.protocol.errors import InvalidRequest, NotFoundOrNoPermission

EVENTS = {
    "files_set": AuditEventType.AIRLOCK_FILES_CHANGED,
    "submitted": AuditEventType.AIRLOCK_REQUEST_SUBMITTED,
    "review_started": AuditEventType.AIRLOCK_REVIEW_STARTED,
    "voted": AuditEventType.AIRLOCK_VOTED,
    "consolidation_started": AuditEventType.AIRLOCK_CONSOLIDATION_STARTED,
    "reconsidered": AuditEventType.AIRLOCK_RECONSIDERED,
    "decided": AuditEventType.AIRLOCK_DECIDED,
    "returned": AuditEventType.AIRLOCK_DECIDED,  # by one checker, with returned_by
    "revised": AuditEventType.AIRLOCK_REQUEST_REVISED,
    "withdrawn": AuditEventType.AIRLOCK_REQUEST_WITHDRAWN,
    "released": AuditEventType.AIRLOCK_RELEASED,
}
T = TypeVar("T")


def _audit(
    store: AirlockStore,
    request: ReleaseRequest,
    kind: AuditEventType,
    by: str,
    details: dict[str, object],
    outcome: str = "ok",
) -> None:
    store.audit(
        AuditRecord(
            type=kind,
            by=by,
            project_id=request.project_id,
            details={"request_id": request.id, **details},
            outcome=outcome,
            node=request.scope.node,
        )
    )


def _keep(store: AirlockStore, request: ReleaseRequest, by: Actor) -> None:
    """Save the request and write each event it recorded, as this actor's."""
    store.save(request)
    for event in request.events:
        outcome = str(event.details.get("outcome", "ok"))
        _audit(store, request, EVENTS[event.action], by.username, event.details, outcome)
    request.events.clear()


def _load(store: AirlockStore, request_id: str, by: Actor) -> ReleaseRequest:
    """The request, if ``by`` may see it; otherwise the one answer for both cases."""
    request = store.load(request_id)
    if request is None:
        raise NotFoundOrNoPermission("release request")
    check_see_request(by, request.scope, request.author)
    return request


def steps_for(request: ReleaseRequest, by: Actor) -> list[Step]:
    """What ``by`` can do next on ``request`` (``next_steps``)."""
    may_review = can_review(by, request.scope, request.author)
    return next_steps.for_viewer(request, by.username, may_review=may_review)


def _explained(request: ReleaseRequest, by: Actor, work: Callable[[], T]) -> T:
    """``work``; a refusal of what the state or the review allows also says what ``by`` can
    do next."""
    before = steps_for(request, by)
    try:
        return work()
    except (InvalidTransition, ReviewError) as exc:
        said = next_steps.sentence(before)
        if not said:
            raise
        raise type(exc)(f"{exc.message} {said}") from None


# ---- the author --------------------------------------------------------------------------


def create_request(
    store: AirlockStore,
    *,
    scope: Scope,
    title: str,
    project_id: str | None,
    by: Actor,
    run_id: str | None = None,
    files: Sequence[RequestFile] = (),
) -> ReleaseRequest:
    """A new draft authored by ``by`` (with ``files``, if any: checked as at submission)."""
    title = title.strip()
    if not title or len(title) > 300:
        raise InvalidRequest("A release request has a title of 1 to 300 characters.")
    existing = store.from_run(run_id) if run_id else None
    if existing is not None:
        raise InvalidRequest(f"Run {run_id} is already release request {existing}.")
    request = ReleaseRequest(
        id="ar_" + secrets.token_hex(6),
        scope=scope,
        author=by.username,
        title=title,
        project_id=project_id,
    )
    if files:
        request.set_files(list(files), by=by)
    store.add(request, run_id=run_id)
    _audit(
        store,
        request,
        AuditEventType.AIRLOCK_REQUEST_CREATED,
        by.username,
        {"title": title, "scope": str(scope), **({"run_id": run_id} if run_id else {})},
    )
    _keep(store, request, by)
    return request


def add_file(store: AirlockStore, request_id: str, file: RequestFile, *, by: Actor) -> None:
    """Add a file to a draft (replacing a file of the same name)."""
    request = _load(store, request_id, by)
    _explained(request, by, lambda: request.add_file(file, by=by))
    _keep(store, request, by)


def remove_file(store: AirlockStore, request_id: str, name: str, *, by: Actor) -> None:
    request = _load(store, request_id, by)
    _explained(request, by, lambda: request.remove_file(name, by=by))
    _keep(store, request, by)


def submit(store: AirlockStore, request_id: str, *, by: Actor, screen: Screen) -> ReleaseRequest:
    """Submit the draft: every file is checked again and gets its pre-screen."""
    request = _load(store, request_id, by)
    _explained(request, by, lambda: request.submit(by=by, screen=screen))
    _keep(store, request, by)
    return request


def revise(store: AirlockStore, request_id: str, *, by: Actor) -> ReleaseRequest:
    """After changes were requested (or with approved files not yet released): a new draft
    version with the files still to change (``ReleaseRequest.carried_forward``: never one
    released or rejected), to change (``add_file``, ``remove_file``) and submit again; the
    earlier version stays in history."""
    request = _load(store, request_id, by)
    _explained(request, by, lambda: request.revise(request.carried_forward(), by=by))
    _keep(store, request, by)
    return request


def withdraw(store: AirlockStore, request_id: str, *, by: Actor) -> None:
    request = _load(store, request_id, by)
    _explained(request, by, lambda: request.withdraw(by=by))
    _keep(store, request, by)


def release(
    store: AirlockStore,
    request_id: str,
    *,
    by: Actor,
    key: Ed25519PrivateKey,
    service: str,
    now: datetime,
) -> StoredBundle:
    """The signed bundle of an approved request, or of a partly approved one's approved files
    (``ChangedSinceApproval`` if any stored file is not byte for byte what was approved)."""
    request = _load(store, request_id, by)
    made = _explained(
        request, by, lambda: request.release(by=by, key=key, now=now, service=service)
    )
    stored = stored_bundle(request, made, by=by.username, at=now)
    store.put_bundle(stored)
    _keep(store, request, by)
    return stored


def refuse_release(store: AirlockStore, request_id: str, *, by: Actor, why: str) -> None:
    """Record a refused release (a file changed since approval) in a unit of its own."""
    request = _load(store, request_id, by)
    _audit(
        store,
        request,
        AuditEventType.AIRLOCK_RELEASE_REFUSED,
        by.username,
        {"version": request.version, "why": why},
        outcome="refused",
    )


def download(store: AirlockStore, request_id: str, *, by: Actor) -> StoredBundle:
    """The latest bundle of a request, again (its author only): a released request's, or the
    approved files released from a partly approved version."""
    request = _load(store, request_id, by)
    check_act_as_author(by, request.scope, request.author)
    stored = store.bundle(request_id)
    if stored is None:
        said = next_steps.sentence(steps_for(request, by))
        raise InvalidTransition(
            f"A {request.state.words} request has no approved files to release. {said}".strip()
        )
    _audit(
        store,
        request,
        AuditEventType.AIRLOCK_BUNDLE_DOWNLOADED,
        by.username,
        {"version": stored.version, "signature": stored.signature},
    )
    return stored


# ---- the output checkers ------------------------------------------------------------------


def vote(
    store: AirlockStore, request_id: str, file: str, cast: Vote, comment: str, *, by: Actor
) -> ReleaseRequest:
    """A checker's vote on one file (before both reviews are in: blinded)."""
    request = _load(store, request_id, by)
    _explained(request, by, lambda: request.vote(file, cast, comment, by=by))
    _keep(store, request, by)
    return request


def return_request(
    store: AirlockStore, request_id: str, message: str, *, by: Actor
) -> ReleaseRequest:
    """A checker returns the request under review to its author with ``message``."""
    request = _load(store, request_id, by)
    _explained(request, by, lambda: request.return_to_author(message, by=by))
    _keep(store, request, by)
    return request


def consolidate(
    store: AirlockStore, request_id: str, file: str, cast: Vote, comment: str, *, by: Actor
) -> ReleaseRequest:
    """A vote again on a file the two checkers disagree on, saying why (consolidation)."""
    request = _load(store, request_id, by)
    check_review(by, request.scope, request.author)

    def again() -> None:
        if file not in request.consolidating:
            raise ReviewError(
                "That file is not in consolidation: both reviews are not in, or they agree."
            )
        request.vote(file, cast, comment, by=by)

    _explained(request, by, again)
    _keep(store, request, by)
    return request


# ---- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestView:
    """A request as ``viewer`` may see it: votes blinded, files without their bytes."""

    id: str
    scope: str
    author: str
    title: str
    project_id: str | None
    state: RequestState
    version: int
    files: list[dict[str, object]]
    votes: list[FileVote]
    consolidating: list[str]
    history: list[Version]
    outcomes: dict[str, Vote]  # each file's, once the current version is decided
    returned: Version | None  # the current version, if a checker returned it whole
    next: list[Step]  # what the viewer can do next

    @property
    def outcome_words(self) -> str:
        return next_steps.outcome_words(self.outcomes)

    def reasons(self, file: str) -> list[str]:
        """The checkers' comments on ``file`` once decided, for the author to act on."""
        decided = self.history[-1] if self.history else None
        if decided is None or decided.number != self.version:
            return []
        return review.reasons(decided.votes, file)


def show(store: AirlockStore, request_id: str, *, by: Actor) -> RequestView:
    request = _load(store, request_id, by)
    last = request.history[-1] if request.history else None
    current = last if last is not None and last.number == request.version else None
    return RequestView(
        id=request.id,
        scope=str(request.scope),
        author=request.author,
        title=request.title,
        project_id=request.project_id,
        state=request.state,
        version=request.version,
        files=[
            {
                "name": f.name,
                "type": f.type.value,
                "description": f.description,
                "sha256": sha256(f.content),
                "bytes": len(f.content),
                "pre_screen": s.as_dict() if (s := request.screens.get(f.name)) else None,
                "outcome": request.outcomes[f.name].outcome if f.name in request.outcomes else None,
                "released": bool(current and f.name in current.released),
            }
            for f in request.files
        ],
        votes=request.visible_votes(by),
        consolidating=request.consolidating,
        history=request.history,
        outcomes=request.outcomes,
        returned=current if current is not None and current.returned_by else None,
        next=steps_for(request, by),
    )


def file_content(store: AirlockStore, request_id: str, name: str, *, by: Actor) -> bytes:
    """One file's bytes, for its author or a checker of the request's scope to look at."""
    request = _load(store, request_id, by)
    for f in request.files:
        if f.name == name:
            return f.content
    raise InvalidRequest("The request has no file of that name.")


def visible_requests(store: AirlockStore, scope: Scope, *, by: Actor) -> list[Summary]:
    """The requests of ``scope`` that ``by`` may see: their own, or all of them for a checker."""
    found = store.summaries(scope)
    return [s for s in found if s.author == by.username or can_review(by, scope, s.author)]


@dataclass(frozen=True)
class QueueItem:
    summary: Summary
    waiting_for: str  # your review | consolidation | the other checker


def queue(store: AirlockStore, scope: Scope, *, by: Actor) -> list[QueueItem]:
    """What waits for checker ``by``: requests under review they may review (never their
    own), unless two other checkers have it."""
    items = []
    for summary in store.summaries(scope, states=REVIEWING):
        if not can_review(by, scope, summary.author):
            continue
        request = store.load(summary.id)
        assert request is not None
        voters = review.checkers(request.votes)
        if by.username not in voters and len(voters) >= review.CHECKERS:
            continue
        mine = {v.file for v in request.votes if v.checker == by.username}
        if set(request.file_names) - mine:
            items.append(QueueItem(summary, "your review"))
        elif request.consolidating:
            items.append(QueueItem(summary, "consolidation"))
        else:
            items.append(QueueItem(summary, "the other checker"))
    return items
