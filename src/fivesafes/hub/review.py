"""The hub's review store (ADR 0029, point 3): the de-identified pyramids of slides that nodes
released for a project's review, received over the nodes' own outbound requests, kept while
the release and the project last, served to the project's members only.

| step   | who                   | what happens                                | audit event     |
| ------ | --------------------- | ------------------------------------------- | --------------- |
| offer  | the node (signed)     | a row ``receiving``, if the node takes part | —               |
|        |                       | in the project and reported its approval    |                 |
| chunk  | the node (signed)     | bytes appended where the hub's copy ends    | —               |
| finish | the node (signed)     | size, SHA-256 and contents checked          | ``slide_review``|
|        |                       | (``slides.pack``), then ``ready``           | ``_received``   |
| delete | the node (signed), or | the pack deleted, the row ``deleted`` with  | ``slide_review``|
|        | the hub's sweep once  | why; the open copy and cached tiles dropped | ``_deleted``    |
|        | the project ended     |                                             |                 |

Who sees a slide here: the members of the project it was released for, while it is ready and
the project has not ended, and no one else; anyone else is told it does not exist. The pack's
files live under ``[hub] review_store`` (``<review id>.pack``), never named in a page.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fivesafes.audit.chain import append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.governance.accounts import WebSession
from fivesafes.governance.people import Actor, via_session
from fivesafes.hub.db import (
    AUDIT,
    SLIDE_REVIEWS,
    STUDIES,
    Node,
    Project,
    ProjectMember,
    ProjectNode,
)
from fivesafes.protocol.errors import InvalidRequest, NotFoundOrNoPermission
from fivesafes.protocol.models import SlideReviewOffer
from fivesafes.slides.catalogue import SLIDE_ID
from fivesafes.slides.pack import SUFFIX, TilePack
from fivesafes.slides.reading import SlideUnreadable
from fivesafes.storage.types import utcnow

log = logging.getLogger(__name__)
CHUNK_BYTES = 512 * 1024  # a chunk's most, within the hub's request limit (1 MiB by default)
T = SLIDE_REVIEWS.c
SEEN_SECONDS = 5.0  # how long a reader's right to a slide is kept before it is asked again


@dataclass(frozen=True)
class ReviewSlide:
    """A slide in the review store, as its readers may know it."""

    review_id: str
    project_id: str
    project_title: str
    facts: dict[str, Any]
    ready_at: datetime | None


def pack_path(root: Path, review_id: str) -> Path:
    return root / f"{review_id}{SUFFIX}"


def _partial(root: Path, review_id: str) -> Path:
    return root / f"{review_id}{SUFFIX}.partial"


def offer(
    session: Session, node: Node, offered: SlideReviewOffer, root: Path, now: datetime
) -> int:
    """Accept the node's offer of a pack (or take up an unfinished one): the bytes the hub has
    of it already (0 for a new one), so the node sends the rest."""
    link = session.get(ProjectNode, (offered.project_id, node.id))
    project = session.get(Project, offered.project_id)
    if link is None or project is None:
        raise NotFoundOrNoPermission("project")
    if link.approval != "approved":
        raise InvalidRequest("The hub has no approval of this project from this node.")
    if project.end_date < now.date():
        raise InvalidRequest("The project has ended: its slides are not received any more.")
    found = session.execute(
        select(T.node, T.state, T.sha256, T.bytes, T.received).where(
            T.review_id == offered.review_id
        )
    ).one_or_none()
    if found is not None and found.node != node.name:
        raise NotFoundOrNoPermission("slide review")
    if found is not None and found.state == "ready" and found.sha256 == offered.sha256:
        return int(found.bytes)  # pushed whole before
    partial = _partial(root, offered.review_id)
    if (
        found is not None
        and found.state == "receiving"
        and (found.sha256, found.bytes) == (offered.sha256, offered.bytes)
        and partial.is_file()
        and partial.stat().st_size == found.received
    ):
        return int(found.received)  # take up where it stopped
    root.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(b"")
    row = {
        "node": node.name, "project_id": offered.project_id, "state": "receiving",
        "facts": offered.facts.model_dump(), "bytes": offered.bytes, "sha256": offered.sha256,
        "received": 0, "offered_at": now, "ready_at": None, "deleted_at": None, "reason": None,
    }  # fmt: skip
    if found is None:
        session.execute(SLIDE_REVIEWS.insert().values(review_id=offered.review_id, **row))
    else:
        session.execute(update(SLIDE_REVIEWS).where(T.review_id == offered.review_id).values(**row))
    return 0


def receive(
    session: Session, node: Node, review_id: str, offset: int, data: bytes, root: Path
) -> int:
    """Append a chunk at ``offset`` (where the hub's copy ends); the bytes received so far."""
    found = _receiving(session, node, review_id)
    if offset != found.received:
        raise InvalidRequest(f"The hub has {found.received} bytes of this pack: send from there.")
    if not data or len(data) > CHUNK_BYTES or found.received + len(data) > found.bytes:
        raise InvalidRequest("A chunk is 1 byte to 512 KiB, within the pack's size offered.")
    partial = _partial(root, review_id)
    with partial.open("r+b") as handle:
        handle.seek(offset)
        handle.write(data)
        handle.truncate()
    received = offset + len(data)
    session.execute(update(SLIDE_REVIEWS).where(T.review_id == review_id).values(received=received))
    return received


def finish(session: Session, node: Node, review_id: str, root: Path, now: datetime) -> None:
    """The pack is whole: check its size, checksum and contents, then serve it."""
    found = _receiving(session, node, review_id)
    partial = _partial(root, review_id)
    if found.received != found.bytes or partial.stat().st_size != found.bytes:
        raise InvalidRequest("The pack is not whole yet: send the rest first.")
    digest = hashlib.sha256()
    with partial.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    if digest.hexdigest() != found.sha256:
        partial.unlink(missing_ok=True)
        session.execute(update(SLIDE_REVIEWS).where(T.review_id == review_id).values(received=0))
        raise InvalidRequest("The pack's SHA-256 is not the one offered: offer it again.")
    try:
        TilePack.open(partial).close()
    except SlideUnreadable:
        partial.unlink(missing_ok=True)
        raise InvalidRequest(
            "The file sent is not a slide's release pack this hub reads."
        ) from None
    os.replace(partial, pack_path(root, review_id))
    session.execute(
        update(SLIDE_REVIEWS).where(T.review_id == review_id).values(state="ready", ready_at=now)
    )
    append_event(
        session, AUDIT, AuditEventType.SLIDE_REVIEW_RECEIVED, by=node.name,
        project_id=found.project_id, node=node.name,
        details={"review_id": review_id, "bytes": found.bytes},
    )  # fmt: skip


def delete(
    session: Session, review_id: str, root: Path, *, reason: str, by: str, node: Node | None,
    now: datetime,
) -> bool:  # fmt: skip
    """Delete the slide's pack from the store (its node withdrew it; its project ended). True
    if there was something to delete (False: deleted before); one the hub never had, or
    another node's, does not exist."""
    found = session.execute(
        select(T.node, T.project_id, T.state).where(T.review_id == review_id)
    ).one_or_none()
    if found is None or (node is not None and found.node != node.name):
        raise NotFoundOrNoPermission("slide review")
    if found.state == "deleted":
        return False
    pack_path(root, review_id).unlink(missing_ok=True)
    _partial(root, review_id).unlink(missing_ok=True)
    session.execute(
        update(SLIDE_REVIEWS)
        .where(T.review_id == review_id)
        .values(state="deleted", deleted_at=now, reason=reason[:1000])
    )
    append_event(
        session, AUDIT, AuditEventType.SLIDE_REVIEW_DELETED, by=by, project_id=found.project_id,
        node=found.node, details={"review_id": review_id, "reason": reason[:1000]},
    )  # fmt: skip
    return True


def ended(session: Session, today: date) -> list[str]:
    """The slides still stored whose project has ended (the sweep deletes them)."""
    return list(
        session.scalars(
            select(T.review_id)
            .join(Project, Project.id == T.project_id)
            .where(T.state != "deleted", Project.end_date < today)
        )
    )


def visible(
    session: Session, actor: Actor, today: date, review_id: str | None = None
) -> list[ReviewSlide]:
    """The ready slides of the projects ``actor`` is a member of, that have not ended (one
    of them, if ``review_id`` is given); never a case the actor reads in a review study: they
    see it only through their read, by its study pseudonym and with the AI's predictions only
    when their read may show them (``hub/portal/studies.py``)."""
    cases, reads = STUDIES.cases, STUDIES.reads
    theirs = (
        select(cases.c.review_id)
        .join(reads, (reads.c.study_id == cases.c.study_id) & (reads.c.case == cases.c.case))
        .where(reads.c.reader == actor.username)
    )
    query = (
        select(T.review_id, T.project_id, Project.title, T.facts, T.ready_at)
        .join(Project, Project.id == T.project_id)
        .join(ProjectMember, ProjectMember.project_id == T.project_id)
        .where(ProjectMember.user_id == actor.id, T.state == "ready", Project.end_date >= today)
        .where(T.review_id.not_in(theirs))
        .order_by(T.project_id, T.review_id)
    )
    if review_id is not None:
        query = query.where(T.review_id == review_id)
    return [ReviewSlide(r[0], r[1], r[2], dict(r[3]), r[4]) for r in session.execute(query)]


class ReviewAccess:
    """Which released slides a reader may see, asked of the hub's database, kept briefly."""

    def __init__(self, read: Callable[[Callable[[Session], Any]], Any]) -> None:
        self._read = read
        self._lock = threading.Lock()
        self._seen: dict[tuple[int, str], tuple[float, ReviewSlide | None]] = {}

    def listing(self, web: WebSession) -> list[ReviewSlide]:
        actor = via_session(web.account)
        found: list[ReviewSlide] = self._read(lambda s: visible(s, actor, _today()))
        return found

    def slide(self, web: WebSession, review_id: str) -> ReviewSlide | None:
        if not SLIDE_ID.fullmatch(review_id):
            return None
        actor = via_session(web.account)
        key = (actor.id, review_id)
        tick = time.monotonic()
        with self._lock:
            kept = self._seen.get(key)
        if kept is not None and kept[0] > tick:
            return kept[1]
        found = self._read(lambda s: visible(s, actor, _today(), review_id))
        answer = found[0] if found else None
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen.clear()
            self._seen[key] = (tick + SEEN_SECONDS, answer)
        return answer

    def forget(self, review_id: str) -> None:
        with self._lock:
            for key in [k for k in self._seen if k[1] == review_id]:
                del self._seen[key]


def _today() -> date:
    return utcnow().date()


def _receiving(session: Session, node: Node, review_id: str) -> Any:
    found = session.execute(
        select(T.node, T.project_id, T.state, T.bytes, T.received, T.sha256).where(
            T.review_id == review_id
        )
    ).one_or_none()
    if found is None or found.node != node.name:
        raise NotFoundOrNoPermission("slide review")
    if found.state != "receiving":
        raise InvalidRequest(f"The hub is not receiving this pack (it is {found.state}).")
    return found
