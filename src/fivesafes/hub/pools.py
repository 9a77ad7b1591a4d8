"""Pools at the hub (issue 18, part 4; docs/pool.md, ADR 0032): a linked project's member asks
for the rows of its linked persons to be brought together, for a time, in a pool; the hub makes
and signs the terms, and keeps where the pool stands. It never holds a row.

- :func:`request_pool` makes the terms (which node sends which catalogue variables, to which
  pool, for what purpose, until when) and the *pool project* the analyses then run in: its one
  node is the pool, its members the linked project's, its end date the pool's expiry (so the
  pool's own node policy refuses every task after it). Each custodian approves the terms'
  digest at their node (``fivesafes node pool approve``), and the pool's operator the pool
  project (``fivesafes node approve -c pool.toml``).
- :func:`status` gives a node (a sender, or the pool) the signed terms and the state.
- :func:`report` records what a node or the pool did under those terms: approved, sent,
  revoked (a sender), ready, destroyed (the pool, with its certificate of destruction, whose
  signature the hub checks against the pool's key in the terms). A revocation or the expiry
  tells the pool, at its next look, to destroy its data.

| state       | reached when                                                            |
| ----------- | ----------------------------------------------------------------------- |
| requested   | the terms are made                                                      |
| ready       | the pool says every extract was merged                                  |
| revoked     | a sender's custodian withdrew (the pool destroys at its next look)      |
| expired     | (read as such) its expiry passed and no certificate has come yet        |
| destroyed   | the pool's signed certificate of destruction came                       |
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from fivesafes.analyses.catalogue import VARIABLES
from fivesafes.audit.chain import append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.governance.people import Actor
from fivesafes.governance.permissions import check_read_task, check_submit_task
from fivesafes.governance.policies import check_project_active
from fivesafes.hub.db import AUDIT, LINKAGE, POOLS, Node, Project, ProjectNode
from fivesafes.hub.projects import create_project, project_access, project_for, project_record
from fivesafes.protocol.errors import BadSignature, InvalidRequest, NotFoundOrNoPermission
from fivesafes.protocol.models import Name
from fivesafes.protocol.pool import (
    PoolEvent,
    PoolState,
    PoolStatus,
    PoolTerms,
    SignedPoolTerms,
    terms_digest,
)
from fivesafes.protocol.projects import Linkage
from fivesafes.protocol.signing import canonical_json, sign, verify

MAX_POOL_DAYS = 366
SENDER_EVENTS = frozenset({"approved", "sent", "revoked"})
POOL_EVENTS = frozenset({"ready", "destroyed"})


class PoolAsk(BaseModel):
    """What a member asks for (``POST /api/v1/projects/{id}/pools``)."""

    model_config = ConfigDict(extra="forbid")
    pool_node: Name
    variables: Annotated[
        dict[Name, Annotated[list[Annotated[str, Field(max_length=32)]], Field(max_length=12)]],
        Field(min_length=2, max_length=8),
    ]
    expires_on: date
    purpose: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class PoolView(BaseModel):
    """A pool as the project's members see it: its terms in words, where it stands, what each
    node and the pool reported (kinds and when), and its certificate of destruction once made."""

    pool_id: str
    project_id: str
    pool_project_id: str
    pool_node: str
    variables: dict[str, list[str]]
    purpose: str
    expires_at: datetime
    state: PoolState
    digest: str
    reports: list[dict[str, Any]]
    certificate: dict[str, Any] | None = None


def request_pool(
    session: Session,
    project_id: str,
    ask: PoolAsk,
    actor: Actor,
    *,
    key: Ed25519PrivateKey,
    urls: dict[str, str],
    now: datetime,
) -> PoolView:
    """Make and sign a pool's terms, and its pool project; audited with the terms' digest."""
    project = project_for(session, project_id, actor)
    check_submit_task(actor, project_access(session, project), now.date())
    check_project_active(project.start_date, project.end_date, now.date())
    if project.linkage != Linkage.ACROSS_NODES.value:
        raise InvalidRequest("A pool needs a project whose terms ask for linkage across its nodes.")
    if session.execute(select(LINKAGE.results.c.project_id).where(
        LINKAGE.results.c.project_id == project.id)).first() is None:  # fmt: skip
        raise InvalidRequest("The project's nodes have not been linked yet.")
    keys = _senders(session, project, ask)
    pool = session.execute(select(Node).where(Node.name == ask.pool_node)).scalar_one_or_none()
    if pool is None or ask.pool_node not in urls:
        raise InvalidRequest("pool_node: the hub knows no pool of that name.")
    if not now.date() < ask.expires_on <= min(project.end_date, date.fromordinal(
        now.date().toordinal() + MAX_POOL_DAYS)):  # fmt: skip
        raise InvalidRequest(
            f"expires_on: a pool lasts from tomorrow to the project's end, and at most "
            f"{MAX_POOL_DAYS} days."
        )
    record = project_record(session, project)
    pool_project = create_project(
        session,
        title=f"Pool of {project.title}"[:200],
        members=list(record.members),
        nodes=[ask.pool_node],
        start_date=now.date(),
        end_date=ask.expires_on,
        purpose=ask.purpose,
        lay_summary=f"The linked persons' rows of project {project.id}, brought together for a "
        "time in a pool, for the analyses that need them together.",
        pi=record.pi,
        by=actor.username,
    )
    pool_id = "pl_" + secrets.token_hex(6)
    terms = PoolTerms(
        pool_id=pool_id,
        project_id=project.id,
        pool_project_id=pool_project.id,
        pool_node=ask.pool_node,
        pool_url=urls[ask.pool_node],
        pool_public_key=pool.public_key,
        variables={node: list(dict.fromkeys(v)) for node, v in sorted(ask.variables.items())},
        node_keys=keys,
        purpose=ask.purpose,
        requested_by=actor.username,
        created_at=now,
        expires_at=datetime.combine(ask.expires_on, time.min, tzinfo=UTC),
    )
    payload = terms.model_dump(mode="json")
    digest = terms_digest(payload)
    session.execute(
        insert(POOLS).values(
            pool_id=pool_id,
            project_id=project.id,
            pool_project_id=pool_project.id,
            pool_node=ask.pool_node,
            terms=payload,
            signature=sign(payload, key),
            digest=digest,
            state=PoolState.REQUESTED.value,
            reports=[],
            certificate=None,
            created_at=now,
            expires_at=terms.expires_at,
        )
    )
    details = {"pool_id": pool_id, "project_id": project.id, "digest": digest,
               "pool_project_id": pool_project.id, "pool_node": ask.pool_node}  # fmt: skip
    append_event(session, AUDIT, AuditEventType.POOL_REQUESTED, by=actor.username, details=details)
    return _view(_row(session, pool_id), now)


def _senders(session: Session, project: Project, ask: PoolAsk) -> dict[str, str]:
    """Each sending node's public key: nodes of the project that approved its version."""
    keys = {}
    for node_name, variables in ask.variables.items():
        unknown = [v for v in variables if v not in VARIABLES]
        if unknown or not variables:
            raise InvalidRequest("variables: each node sends one catalogue variable or more, "
                                 "by their names in docs/analyses.md.")  # fmt: skip
        node = session.execute(select(Node).where(Node.name == node_name)).scalar_one_or_none()
        link = session.get(ProjectNode, (project.id, node.id)) if node is not None else None
        if node is None or link is None:
            raise InvalidRequest("variables: a node named there is not a node of the project.")
        if link.approval != "approved" or link.approved_version != project.version:
            raise InvalidRequest("variables: a node named there has not approved the project's "
                                 "current version.")  # fmt: skip
        keys[node_name] = node.public_key
    if ask.pool_node in keys:
        raise InvalidRequest("pool_node: a pool is not one of the nodes that send to it.")
    return keys


def _row(session: Session, pool_id: str) -> Any:
    row = session.execute(select(POOLS).where(POOLS.c.pool_id == pool_id)).first()
    if row is None:
        raise NotFoundOrNoPermission("pool")
    return row


def _state(row: Any, now: datetime) -> PoolState:
    state = PoolState(row.state)
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
    if state in (PoolState.REQUESTED, PoolState.READY) and now >= expires:
        return PoolState.EXPIRED
    return state


def _view(row: Any, now: datetime) -> PoolView:
    terms = row.terms
    return PoolView(
        pool_id=row.pool_id,
        project_id=row.project_id,
        pool_project_id=row.pool_project_id,
        pool_node=row.pool_node,
        variables=terms["variables"],
        purpose=terms["purpose"],
        expires_at=row.expires_at,
        state=_state(row, now),
        digest=row.digest,
        # who did what, when: the persons each reported stay in the hub's record and audit log
        # (a node's linked persons, exact), never shown
        reports=[{k: r[k] for k in ("node", "kind", "at")} for r in row.reports],
        certificate=_shown_certificate(row.certificate),
    )


def _shown_certificate(signed: dict[str, Any] | None) -> dict[str, Any] | None:
    """The certificate as members see it: what it says but the exact persons pooled (a count
    of linked persons the gate has not judged), its digest, and that the hub checked its
    signature under the pool's key in the terms (the pool's operator holds the whole signed
    certificate: ``fivesafes pool certificate``)."""
    if signed is None:
        return None
    payload = dict(signed["payload"])
    return {
        "payload": {k: v for k, v in payload.items() if k != "persons"},
        "digest": hashlib.sha256(canonical_json(payload)).hexdigest(),
        "signature_checked": True,
    }


def pools_of(session: Session, project_id: str, actor: Actor, now: datetime) -> list[PoolView]:
    """The project's pools, to those who may read its results."""
    project = project_for(session, project_id, actor)
    try:
        check_read_task(actor, project_access(session, project))
    except NotFoundOrNoPermission:
        raise NotFoundOrNoPermission("project") from None
    return pool_views(session, project.id, now)


def pool_views(session: Session, project_id: str, now: datetime) -> list[PoolView]:
    """The project's pools, oldest first (for a caller already allowed to read them)."""
    rows = session.execute(
        select(POOLS).where(POOLS.c.project_id == project_id).order_by(POOLS.c.created_at)
    ).all()
    return [_view(row, now) for row in rows]


def _for_node(session: Session, node: Node, pool_id: str) -> Any:
    row = session.execute(select(POOLS).where(POOLS.c.pool_id == pool_id)).first()
    if row is None or (node.name not in row.terms["variables"] and node.name != row.pool_node):
        raise NotFoundOrNoPermission("pool")
    return row


def status(session: Session, node: Node, pool_id: str, key: Ed25519PrivateKey,
           now: datetime) -> PoolStatus:  # fmt: skip
    """The signed terms and where the pool stands, for a node that sends to it or the pool."""
    row = _for_node(session, node, pool_id)
    sent = sorted({r["node"] for r in row.reports if r["kind"] == "sent"})
    return PoolStatus(
        terms=SignedPoolTerms(payload=row.terms, signature=row.signature),
        state=_state(row, now),
        sent=sent,
    )


def report(session: Session, node: Node, pool_id: str, event: PoolEvent,
           key: Ed25519PrivateKey, now: datetime) -> PoolStatus:  # fmt: skip
    """Record what ``node`` did under the terms (see the module's table); audited."""
    row = _for_node(session, node, pool_id)
    if event.digest != row.digest:
        raise InvalidRequest("The event is not under this pool's terms (another digest).")
    is_pool = node.name == row.pool_node
    if event.kind not in (POOL_EVENTS if is_pool else SENDER_EVENTS):
        raise InvalidRequest(f"A {'pool' if is_pool else 'sending node'} does not report "
                             f"'{event.kind}'.")  # fmt: skip
    state = PoolState(row.state)
    certificate = row.certificate
    if event.kind == "destroyed":
        certificate = _checked_certificate(row, event)
        state = PoolState.DESTROYED
    elif state is PoolState.DESTROYED:
        raise InvalidRequest("The pool's data is destroyed: nothing more happens under it.")
    elif event.kind == "revoked":
        state = PoolState.REVOKED
    elif event.kind == "ready" and state is PoolState.REQUESTED:
        state = PoolState.READY
    elif event.kind == "approved" and state is not PoolState.REQUESTED:
        raise InvalidRequest(f"The pool is {_state(row, now).value}: it takes no extract now.")
    elif event.kind == "sent" and state not in (PoolState.REQUESTED, PoolState.READY):
        # the pool may say it is ready (the last extract merged) before its sender reports
        raise InvalidRequest(f"The pool is {_state(row, now).value}: it takes no extract now.")
    entry = {"node": node.name, "kind": event.kind, "persons": event.persons,
             "at": now.isoformat()}  # fmt: skip
    session.execute(
        update(POOLS)
        .where(POOLS.c.pool_id == pool_id)
        .values(state=state.value, reports=[*row.reports, entry], certificate=certificate)
    )
    append_event(session, AUDIT, AuditEventType.POOL_REPORTED, by=node.name, node=node.name,
                 details={"pool_id": pool_id, "kind": event.kind,
                          "persons": event.persons})  # fmt: skip
    return status(session, node, pool_id, key, now)


def _checked_certificate(row: Any, event: PoolEvent) -> dict[str, Any]:
    """The certificate, if the pool's key in the terms signed it and it names this pool."""
    if event.certificate is None:
        raise InvalidRequest("A destruction is reported with its certificate.")
    payload = event.certificate.payload
    try:
        verify(payload, event.certificate.signature, row.terms["pool_public_key"])
    except (BadSignature, ValueError):
        raise InvalidRequest("The certificate is not signed by the pool's key.") from None
    if payload.get("pool_id") != row.pool_id:
        raise InvalidRequest("The certificate is of another pool.")
    return event.certificate.model_dump(mode="json")
