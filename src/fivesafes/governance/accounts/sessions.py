"""Web sessions: a random id in an HttpOnly cookie (only its SHA-256 is stored) and a CSRF
token per session that every form posts back. Sessions end at logout, after
``session_hours``, after ``session_idle_minutes`` without a request, when the password
changes and when the account is disabled."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from fivesafes.audit.events import AuditEventType
from fivesafes.governance.accounts.store import AccountStore
from fivesafes.governance.errors import CsrfFailed
from fivesafes.governance.people import Account

TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most this often


@dataclass(frozen=True)
class WebSession:
    account: Account
    csrf: str  # render it into every form (and htmx's hx-headers) of this session
    expires_at: datetime


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def create_session(store: AccountStore, session: Session, account: Account) -> tuple[str, str]:
    """A new session for ``account`` (after a successful login): its id, for the cookie, and
    its CSRF token. Always a new id, so a session id set before login is never reused."""
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = store.clock()
    session.execute(
        insert(store.tables.sessions).values(
            id_hash=_hash(session_id),
            user_id=account.id,
            csrf=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=store.settings.session_hours),
        )
    )
    return session_id, csrf


@dataclass(frozen=True)
class Lookup:
    session: WebSession | None
    write: bool = False  # the session's last-seen time is due to be moved on


def look_up(store: AccountStore, session: Session, session_id: str) -> Lookup:
    """:func:`session_user` without writing: whether a write is due is returned instead."""
    if not session_id or len(session_id) > 200:
        return Lookup(None)
    s = store.tables.sessions
    row = session.execute(select(s).where(s.c.id_hash == _hash(session_id))).first()
    now = store.clock()
    if row is None or row.ended_at is not None:
        return Lookup(None)
    idle = timedelta(minutes=store.settings.session_idle_minutes)
    if now >= row.expires_at or now >= row.last_seen_at + idle:
        return Lookup(None)
    account = store.get(session, row.user_id)
    if account is None or account.disabled:
        return Lookup(None)
    found = WebSession(account=account, csrf=row.csrf, expires_at=row.expires_at)
    return Lookup(found, write=now - row.last_seen_at >= TOUCH_EVERY)


def session_user(store: AccountStore, session: Session, session_id: str) -> WebSession | None:
    """The live session behind a cookie's value, or None (unknown, ended, expired, idle too
    long, or its account disabled)."""
    if not session_id or len(session_id) > 200:
        return None
    s = store.tables.sessions
    row = session.execute(select(s).where(s.c.id_hash == _hash(session_id))).first()
    now = store.clock()
    if row is None or row.ended_at is not None:
        return None
    idle = timedelta(minutes=store.settings.session_idle_minutes)
    if now >= row.expires_at or now >= row.last_seen_at + idle:
        session.execute(update(s).where(s.c.id_hash == row.id_hash).values(ended_at=now))
        return None
    account = store.get(session, row.user_id)
    if account is None or account.disabled:
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        session.execute(update(s).where(s.c.id_hash == row.id_hash).values(last_seen_at=now))
    return WebSession(account=account, csrf=row.csrf, expires_at=row.expires_at)


def check_csrf(web_session: WebSession, token: str | None) -> None:
    """CsrfFailed unless ``token`` is this session's CSRF token (compared in constant time)."""
    if not token or not hmac.compare_digest(token.encode(), web_session.csrf.encode()):
        raise CsrfFailed("The form's security token is missing or out of date; reload the page.")


def can_post(web_session: WebSession, token: str | None) -> bool:
    try:
        check_csrf(web_session, token)
    except CsrfFailed:
        return False
    return True


def end_session(store: AccountStore, session: Session, session_id: str) -> None:
    """Log out: the session ends now (ending an unknown or ended one does nothing)."""
    s = store.tables.sessions
    row = session.execute(
        select(s.c.id_hash, s.c.user_id).where(
            s.c.id_hash == _hash(session_id), s.c.ended_at.is_(None)
        )
    ).first()
    if row is None:
        return
    session.execute(update(s).where(s.c.id_hash == row.id_hash).values(ended_at=store.clock()))
    account = store.get(session, row.user_id)
    who = account.username if account else "unknown"
    store._event(session, AuditEventType.SESSION_ENDED, who, user=who)
