"""A node's releases of slides for review at other hospitals (issue 16, point 5; ADR 0029): the
custodian's decision, kept and audited in the node's transaction, and the record of what was
pushed to the hub's review store and whether the hub was told of a withdrawal.

| action   | who                   | refused when                    | audit event         |
| -------- | --------------------- | ------------------------------- | ------------------- |
| approve  | the node's custodians | the node has not approved the   | ``slide_release_``  |
|          |                       | project, or it has ended; the   | ``approved`` (each  |
|          |                       | slide is released for it        | slide, its release, |
|          |                       | already                         | the models)         |
| pushed   | the node itself       | the release is not approved     | ``..._pushed``      |
|          |                       |                                 | (bytes, tiles)      |
| withdraw | its custodians and    | withdrawn already; no reason    | ``..._withdrawn``   |
|          | TRE admins            | given                           | (why)               |

A release is known outside the node by its release id, a keyed pseudonym of the project and
the slide (:func:`release_id`): the hub and the readers never learn the node's slide id, and
two projects' readers cannot tell they look at the same slide. Whether a slide exists at the
node is the caller's to check (the register is in the node's data, not its database).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import FromClause, Table, select, update
from sqlalchemy.orm import Session

from fivesafes.audit.chain import AuditTables, append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.governance.errors import NotPermitted
from fivesafes.governance.people import Actor
from fivesafes.governance.roles import Role, node_scope
from fivesafes.protocol.errors import InvalidRequest, NotFoundOrNoPermission

REASON_LIMIT = 1000
MAX_SLIDES = 1000  # released in one decision
MAX_MODELS = 20


@dataclass(frozen=True)
class SlideRelease:
    release_id: str
    project_id: str
    slide_id: str
    models: tuple[str, ...]
    state: str  # approved | pushed | withdrawn
    decided_by: str
    decided_at: datetime
    pushed_at: datetime | None
    bytes: int | None
    tiles: int | None
    withdrawn_at: datetime | None
    reason: str | None
    hub_told: bool

    @property
    def to_push(self) -> bool:
        return self.state == "approved"

    @property
    def to_delete_at_hub(self) -> bool:
        return self.state == "withdrawn" and not self.hub_told


def release_id(key: bytes, project_id: str, slide_id: str) -> str:
    """The release's name outside the node: keyed by the node's pseudonym key, so it is the
    same every time and tells nothing of the slide's id at the node."""
    message = f"slide-release\x00{project_id}\x00{slide_id}".encode()
    return "SL" + hmac.new(key, message, hashlib.sha256).hexdigest()[:20].upper()


def check_release_slides(actor: Actor, node: str) -> None:
    if not actor.account.holds(Role.CUSTODIAN, node_scope(node)):
        raise NotPermitted(f"Only a custodian of {node} releases its slides for review.")


def check_withdraw_release(actor: Actor, node: str) -> None:
    scope = node_scope(node)
    if not (
        actor.account.holds(Role.CUSTODIAN, scope) or actor.account.holds(Role.TRE_ADMIN, scope)
    ):
        raise NotPermitted(f"Only a custodian or TRE admin of {node} withdraws a slide's release.")


def approve_releases(
    session: Session,
    tables: tuple[Table, AuditTables, FromClause],
    *,
    project_id: str,
    slide_ids: Iterable[str],
    models: Iterable[str],
    key: bytes,
    by: Actor,
    node: str,
    now: datetime,
) -> list[SlideRelease]:
    """Release the slides for review in the project (its readers at the hub), with the
    predictions of ``models``: one release and one audit event per slide, in the caller's
    transaction. ``tables``: the releases, the node's audit log, and its approvals."""
    releases, audit, approvals = tables
    check_release_slides(by, node)
    slides = sorted(set(slide_ids))
    chosen = tuple(sorted(set(models)))
    if not slides:
        raise InvalidRequest("Name at least one slide to release.")
    if len(slides) > MAX_SLIDES or len(chosen) > MAX_MODELS:
        raise InvalidRequest(
            f"Release at most {MAX_SLIDES} slides, with at most {MAX_MODELS} models, at once."
        )
    approval = session.execute(
        select(approvals.c.state, approvals.c.end_date).where(approvals.c.project_id == project_id)
    ).one_or_none()
    if approval is None or approval.state != "approved":
        raise InvalidRequest(
            "This node has not approved the project: approve it first (fivesafes node approve)."
        )
    if approval.end_date < date.fromordinal(now.toordinal()):
        raise InvalidRequest("The project has ended: its slides are no longer released.")
    made = []
    for slide_id in slides:
        rid = release_id(key, project_id, slide_id)
        known = session.execute(
            select(releases.c.state).where(releases.c.release_id == rid)
        ).scalar_one_or_none()
        if known is not None and known != "withdrawn":
            raise InvalidRequest("A slide named is released for the project already.")
        row: dict[str, Any] = {
            "release_id": rid, "project_id": project_id, "slide_id": slide_id,
            "models": list(chosen), "state": "approved", "decided_by": by.username,
            "decided_at": now, "pushed_at": None, "bytes": None, "tiles": None, "sha256": None,
            "withdrawn_by": None, "withdrawn_at": None, "reason": None, "hub_told": False,
        }  # fmt: skip
        if known is None:
            session.execute(releases.insert().values(**row))
        else:  # released again after a withdrawal: the same name, a new decision
            session.execute(update(releases).where(releases.c.release_id == rid).values(**row))
        append_event(
            session, audit, AuditEventType.SLIDE_RELEASE_APPROVED, by=by.username,
            project_id=project_id, node=node,
            details={"slide_id": slide_id, "release_id": rid, "models": list(chosen)},
        )  # fmt: skip
        made.append(_get(session, releases, rid))
    return made


def mark_pushed(
    session: Session,
    tables: tuple[Table, AuditTables],
    rid: str,
    *,
    size: int,
    tiles: int,
    sha256: str,
    node: str,
    now: datetime,
) -> SlideRelease:
    """Record that the release's pack reached the hub whole."""
    releases, audit = tables
    found = _get(session, releases, rid)
    if found.state != "approved":
        raise InvalidRequest(f"The release is {found.state}: it is not pushed again.")
    session.execute(
        update(releases)
        .where(releases.c.release_id == rid)
        .values(state="pushed", pushed_at=now, bytes=size, tiles=tiles, sha256=sha256)
    )
    append_event(
        session, audit, AuditEventType.SLIDE_RELEASE_PUSHED, by=node, project_id=found.project_id,
        node=node, details={"release_id": rid, "bytes": size, "tiles": tiles},
    )  # fmt: skip
    return _get(session, releases, rid)


def withdraw(
    session: Session,
    tables: tuple[Table, AuditTables],
    rid: str,
    *,
    reason: str,
    by: Actor,
    node: str,
    now: datetime,
) -> SlideRelease:
    """Withdraw the release: the hub is told to delete the slide's pack (``mark_told`` once it
    was); a release not pushed yet is never pushed."""
    releases, audit = tables
    check_withdraw_release(by, node)
    found = _get(session, releases, rid)
    if found.state == "withdrawn":
        raise InvalidRequest("The release is withdrawn already.")
    reason = reason.strip()
    if not reason:
        raise InvalidRequest("Say why the release is withdrawn (--reason).")
    if len(reason) > REASON_LIMIT:
        raise InvalidRequest(f"A withdrawal's reason has at most {REASON_LIMIT} characters.")
    session.execute(
        update(releases).where(releases.c.release_id == rid).values(
            state="withdrawn", withdrawn_by=by.username, withdrawn_at=now, reason=reason,
            hub_told=found.state != "pushed",  # nothing of it at the hub to delete
        )
    )  # fmt: skip
    append_event(
        session, audit, AuditEventType.SLIDE_RELEASE_WITHDRAWN, by=by.username,
        project_id=found.project_id, node=node, details={"release_id": rid, "reason": reason},
    )  # fmt: skip
    return _get(session, releases, rid)


def mark_told(session: Session, releases: Table, rid: str) -> None:
    """The hub deleted the withdrawn release's pack (or never had it)."""
    session.execute(update(releases).where(releases.c.release_id == rid).values(hub_told=True))


def listed(session: Session, releases: Table, project_id: str | None = None) -> list[SlideRelease]:
    """Every release (of the project, if given), newest decision first."""
    query = select(releases).order_by(releases.c.decided_at.desc(), releases.c.release_id)
    if project_id is not None:
        query = query.where(releases.c.project_id == project_id)
    return [_release(row._mapping) for row in session.execute(query)]


def release(session: Session, releases: Table, rid: str) -> SlideRelease:
    return _get(session, releases, rid)


def _get(session: Session, releases: Table, rid: str) -> SlideRelease:
    row = session.execute(select(releases).where(releases.c.release_id == rid)).one_or_none()
    if row is None:
        raise NotFoundOrNoPermission("slide release")
    return _release(row._mapping)


def _release(row: Any) -> SlideRelease:
    return SlideRelease(
        release_id=row["release_id"], project_id=row["project_id"], slide_id=row["slide_id"],
        models=tuple(row["models"]), state=row["state"], decided_by=row["decided_by"],
        decided_at=row["decided_at"], pushed_at=row["pushed_at"], bytes=row["bytes"],
        tiles=row["tiles"], withdrawn_at=row["withdrawn_at"], reason=row["reason"],
        hub_told=bool(row["hub_told"]),
    )  # fmt: skip
