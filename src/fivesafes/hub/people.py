"""Safe people at the hub, for now: accounts, roles and expiring, hashed API tokens.

(Accreditation, passwords and TOTP come with the governance work; see the issue tracker.)
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.audit.chain import append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.hub.db import AUDIT, ApiToken, User
from fivesafes.protocol.errors import Conflict, InvalidRequest, Unauthenticated
from fivesafes.storage.types import utcnow

ROLES = ("researcher", "hub_admin")
TOKEN_PREFIX = "fs_"  # noqa: S105 - a prefix, not a secret


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(session: Session, *, username: str, display_name: str, role: str, by: str) -> User:
    if role not in ROLES:
        raise InvalidRequest(f"Unknown role {role!r}; roles are {', '.join(ROLES)}.")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise Conflict(f"A user called {username!r} already exists.")
    user = User(username=username, display_name=display_name, role=role, created_at=utcnow())
    session.add(user)
    session.flush()
    append_event(
        session, AUDIT, AuditEventType.USER_CREATED, by=by, details={"user": username, "role": role}
    )
    return user


def issue_token(session: Session, *, username: str, lifetime: timedelta, by: str) -> str:
    """Create an API token and return it; only its hash is stored, so it is shown once."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise InvalidRequest(f"There is no user called {username!r}.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        ApiToken(
            token_hash=hash_token(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + lifetime,
            revoked_at=None,
        )
    )
    append_event(
        session,
        AUDIT,
        AuditEventType.TOKEN_ISSUED,
        by=by,
        details={"user": username, "expires_at": (now + lifetime).isoformat()},
    )
    return token


def authenticate(session: Session, token: str, now: datetime | None = None) -> User:
    """The user behind a bearer token, or Unauthenticated (one answer for every bad token)."""
    now = now or utcnow()
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise Unauthenticated("The token is invalid or has expired.")
    user = session.get(User, row.user_id)
    if user is None:  # pragma: no cover - foreign key makes this impossible
        raise Unauthenticated("The token is invalid or has expired.")
    return user
