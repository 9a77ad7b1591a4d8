"""Enrolling nodes: a one-time token, exchanged by the node for its registration.

The hub admin issues a token for a named node; the node's operator gives it to ``node enrol``,
which sends the node's Ed25519 public key. From then on every node request is signed with
that key and checked here.
"""

from __future__ import annotations

import secrets
import threading
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fivesafes.audit.chain import append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.hub.db import AUDIT, EnrolmentToken, Node
from fivesafes.hub.people import hash_token
from fivesafes.protocol.errors import BadSignature, Conflict, Unauthenticated
from fivesafes.protocol.models import NodeView
from fivesafes.protocol.signing import fingerprint, parse_public_key, verify_request
from fivesafes.storage.types import utcnow

PRESENCE_WRITE_INTERVAL = timedelta(seconds=2)


def issue_enrolment_token(session: Session, *, node_name: str, lifetime: timedelta, by: str) -> str:
    if session.scalar(select(Node).where(Node.name == node_name)) is not None:
        raise Conflict(f"A node called {node_name!r} is already enrolled.")
    token = "enrol_" + secrets.token_urlsafe(32)
    session.add(
        EnrolmentToken(
            token_hash=hash_token(token),
            node_name=node_name,
            expires_at=utcnow() + lifetime,
            used_at=None,
        )
    )
    append_event(session, AUDIT, AuditEventType.ENROLMENT_TOKEN_ISSUED, by=by, node=node_name)
    return token


def enrol_node(session: Session, *, token: str, node_name: str, public_key: str) -> Node:
    """Exchange a one-time token for a registration. Any bad token gets one answer."""
    parse_public_key(public_key)  # raises on a malformed key
    now = utcnow()
    row = session.scalar(
        select(EnrolmentToken).where(EnrolmentToken.token_hash == hash_token(token))
    )
    if (
        row is None
        or row.used_at is not None
        or row.expires_at <= now
        or row.node_name != node_name
    ):
        raise Unauthenticated("The enrolment token is invalid, used, expired or for another node.")
    if session.scalar(select(Node).where(Node.public_key == public_key)) is not None:
        raise Conflict("That public key is already registered to another node.")
    row.used_at = now
    node = Node(name=node_name, public_key=public_key, enrolled_at=now, last_seen_at=None)
    session.add(node)
    session.flush()
    append_event(session, AUDIT, AuditEventType.NODE_ENROLLED, by=node_name, node=node_name)
    return node


def enrolled_node(session: Session, node_name: str) -> Node | None:
    return session.scalar(select(Node).where(Node.name == node_name))


def check_request_signature(
    node: Node | None, *, method: str, path: str, timestamp: str, body: bytes, signature: str
) -> Node:
    """``node`` if its registered key signed this request; otherwise (or with no such node)
    Unauthenticated, with one answer for both."""
    if node is None:
        raise Unauthenticated("The request is not signed by an enrolled node.")
    try:
        verify_request(node.public_key, method, path, timestamp, body, signature)
    except BadSignature as exc:
        raise Unauthenticated("The request is not signed by an enrolled node.") from exc
    return node


class EnrolledNodes:
    """Enrolled nodes' registrations, read from the database once per hub process and kept.

    A registration binds a name to a public key and never changes after enrolment (there is no
    path that edits or removes one), so the hub need not read it again for every signed request
    a node sends; every request's signature is still checked against the registered key. Names
    not found are looked up again each time (nothing negative is kept), so a node enrolled
    meanwhile, by this process or another, is found at once. Revoking a node or replacing its
    key, if ever added, must clear the entry here (ADR 0013).

    The kept objects are detached from any session; ``record_presence`` updates their
    ``last_seen_at``, which is what it throttles its writes on.
    """

    def __init__(self) -> None:
        self._by_name: dict[str, Node] = {}
        self._lock = threading.Lock()

    def known(self, name: str) -> Node | None:
        return self._by_name.get(name)

    def keep(self, node: Node) -> Node:
        """Keep ``node`` (just read) unless one is kept already; return the kept one."""
        with self._lock:
            return self._by_name.setdefault(node.name, node)


def presence_due(node: Node, now: datetime) -> bool:
    """Whether the node's presence is old enough to be written again."""
    return node.last_seen_at is None or now - node.last_seen_at >= PRESENCE_WRITE_INTERVAL


def record_presence(session: Session, node: Node, now: datetime | None = None) -> None:
    """The node's agent is polling: it is online. Written at most every couple of seconds."""
    now = now or utcnow()
    if presence_due(node, now):
        session.execute(update(Node).where(Node.id == node.id).values(last_seen_at=now))
        node.last_seen_at = now


def is_online(node: Node, now: datetime, offline_after: timedelta) -> bool:
    """A node is online while its agent has polled (or sent a run's heartbeat) within
    ``offline_after`` (``[hub] node_offline_after_seconds``)."""
    return node.last_seen_at is not None and now - node.last_seen_at <= offline_after


def node_views(
    session: Session, now: datetime, offline_after: timedelta, names: list[str] | None = None
) -> list[NodeView]:
    """The enrolled nodes (or those of ``names``) by name, each online or offline at ``now``
    and when it was last seen: ``GET /api/v1/nodes``, the portal's and the CLI's."""
    query = select(Node).order_by(Node.name)
    if names is not None:
        query = query.where(Node.name.in_(names))
    return [
        NodeView(
            name=node.name,
            online=is_online(node, now, offline_after),
            last_seen_at=node.last_seen_at,
            enrolled_at=node.enrolled_at,
            fingerprint=fingerprint(node.public_key),
        )
        for node in session.scalars(query)
    ]
