"""Enrolling nodes: a one-time token, exchanged by the node for its registration.

The hub admin issues a token for a named node; the node's operator gives it to ``node enrol``,
which sends the node's Ed25519 public key. From then on every node request is signed with
that key and checked here.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fivesafes.audit.chain import append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.hub.db import AUDIT, EnrolmentToken, Node
from fivesafes.hub.people import hash_token
from fivesafes.protocol.errors import BadSignature, Conflict, Unauthenticated
from fivesafes.protocol.signing import parse_public_key, verify_request
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


def authenticate_node(
    session: Session,
    *,
    node_name: str,
    method: str,
    path: str,
    timestamp: str,
    body: bytes,
    signature: str,
) -> Node:
    """The node whose key signed this request, or Unauthenticated."""
    node = session.scalar(select(Node).where(Node.name == node_name))
    if node is None:
        raise Unauthenticated("The request is not signed by an enrolled node.")
    try:
        verify_request(node.public_key, method, path, timestamp, body, signature)
    except BadSignature as exc:
        raise Unauthenticated("The request is not signed by an enrolled node.") from exc
    return node


def record_presence(session: Session, node: Node, now: datetime | None = None) -> None:
    """The node's agent is polling: it is online. Written at most every couple of seconds."""
    now = now or utcnow()
    if node.last_seen_at is None or now - node.last_seen_at >= PRESENCE_WRITE_INTERVAL:
        session.execute(update(Node).where(Node.id == node.id).values(last_seen_at=now))
        node.last_seen_at = now


def is_online(node: Node, now: datetime, offline_after: timedelta) -> bool:
    return node.last_seen_at is not None and now - node.last_seen_at <= offline_after
