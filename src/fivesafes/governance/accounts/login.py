"""Web login: a password and, when enrolled (or required), a TOTP code; lockout after failed
attempts. One answer for every failure, so nobody learns which part was wrong or whether the
username exists; the audit log records why, and never the password or the code.

A login is three steps, so the slow part holds no lock: :func:`read_account` (a read), then
:func:`check_attempt` (Argon2id and TOTP, outside any transaction), then
:func:`record_attempt` (a short write that checks again that nothing changed meanwhile, e.g.
the same code used by a concurrent login, and records the counters and the audit event).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from fivesafes.audit.events import AuditEventType
from fivesafes.governance.accounts import passwords, totp
from fivesafes.governance.accounts.secret_box import SecretUnreadable
from fivesafes.governance.accounts.store import AccountStore, totp_binding
from fivesafes.governance.people import Account
from fivesafes.governance.policies import is_locked, lockout_after

UNKNOWN = "(unknown user)"  # the audit actor of a failed login for no account: what was typed
# is never recorded (people type passwords into the username field)


@dataclass(frozen=True)
class Snapshot:
    """What a login reads of an account."""

    id: int
    password_hash: str | None
    totp_secret: str | None
    totp_pending: str | None
    totp_last_step: int | None
    locked_until: datetime | None
    disabled: bool

    @classmethod
    def of(cls, row: Any) -> Snapshot:
        return cls(
            id=row.id,
            password_hash=row.password_hash,
            totp_secret=row.totp_secret,
            totp_pending=row.totp_pending,
            totp_last_step=row.totp_last_step,
            locked_until=row.locked_until,
            disabled=row.disabled_at is not None,
        )


@dataclass(frozen=True)
class Checked:
    reason: str  # "ok", or why it failed (for the audit log only)
    step: int | None = None  # the TOTP time step the code matched
    new_hash: str | None = None  # the password re-hashed with today's parameters


@dataclass(frozen=True)
class LoginOutcome:
    account: Account | None  # None: failed
    reason: str


def read_account(store: AccountStore, session: Session, username: str) -> Snapshot | None:
    row = store._row(session, username)
    return None if row is None else Snapshot.of(row)


def check_attempt(
    store: AccountStore, snapshot: Snapshot | None, password: str, code: str | None
) -> Checked:
    """Judge an attempt against what was read (slow: Argon2id); no database."""
    now = store.clock()
    if snapshot is None:
        passwords.verify_password(None, password)  # the same time as for a real account
        return Checked("unknown_user")
    if snapshot.disabled:
        passwords.verify_password(None, password)
        return Checked("disabled")
    if is_locked(snapshot.locked_until, now):
        passwords.verify_password(None, password)
        return Checked("locked")
    verified = passwords.verify_password(snapshot.password_hash, password)
    if not verified.ok:
        return Checked("bad_password")
    sealed = snapshot.totp_secret or snapshot.totp_pending
    step = None
    if sealed is not None:
        try:
            secret = store.box.open(sealed, totp_binding(snapshot.id))
        except SecretUnreadable:
            return Checked("second_factor_unreadable")
        step = totp.matching_step(secret, code or "", now, snapshot.totp_last_step)
        if step is None:
            return Checked("bad_code")
    elif store.settings.require_totp:
        return Checked("no_second_factor")
    new_hash = passwords.hash_password(password) if verified.rehash else None
    return Checked("ok", step, new_hash)


def record_attempt(
    store: AccountStore,
    session: Session,
    username: str,
    snapshot: Snapshot | None,
    checked: Checked,
) -> LoginOutcome:
    """Record the attempt in the caller's (write) transaction; a success stands only if the
    account is as it was read (not disabled, locked or changed, the code's step still new)."""
    row = store._row(session, username)
    if row is None:
        return _failed(store, session, None, UNKNOWN if snapshot is None else username, checked)
    if checked.reason != "ok":
        counted = checked.reason not in ("disabled", "locked")
        return _failed(store, session, row if counted else None, username, checked)
    assert snapshot is not None  # "ok" was judged on an account that was read
    now = store.clock()
    current = Snapshot.of(row)
    if (
        current.disabled
        or is_locked(current.locked_until, now)
        or current.password_hash != snapshot.password_hash
        or (current.totp_secret, current.totp_pending)
        != (snapshot.totp_secret, snapshot.totp_pending)
        or (
            checked.step is not None
            and current.totp_last_step is not None
            and checked.step <= current.totp_last_step
        )
    ):
        return _failed(store, session, row, username, Checked("changed_meanwhile"))
    values: dict[str, object] = {"failed_logins": 0, "locked_until": None}
    if checked.step is not None:
        values["totp_last_step"] = checked.step
    if current.totp_secret is None and current.totp_pending is not None:
        values.update(totp_secret=current.totp_pending, totp_pending=None)  # first use
    if checked.new_hash is not None:
        values["password_hash"] = checked.new_hash
    store._update(session, row.id, **values)
    store._event(
        session,
        AuditEventType.LOGIN_SUCCEEDED,
        username,
        user=username,
        second_factor="totp" if checked.step is not None else "none",
    )
    return LoginOutcome(store.require(session, username), "ok")


def attempt_login(
    store: AccountStore, session: Session, username: str, password: str, code: str | None
) -> LoginOutcome:
    """The three steps in one transaction (for callers that hold one anyway)."""
    snapshot = read_account(store, session, username)
    return record_attempt(
        store, session, username, snapshot, check_attempt(store, snapshot, password, code)
    )


def _failed(
    store: AccountStore, session: Session, row: Any | None, actor: str, checked: Checked
) -> LoginOutcome:
    """Record a failure: counted against the account (and maybe locking it) when ``row``."""
    details: dict[str, object] = {"reason": checked.reason}
    if row is not None:
        failures = int(row.failed_logins) + 1
        settings = store.settings
        lock = lockout_after(
            failures, settings.max_failed_logins, timedelta(minutes=settings.lockout_minutes)
        )
        values: dict[str, object] = {"failed_logins": failures}
        if lock is not None:
            values["locked_until"] = store.clock() + lock
        store._update(session, row.id, **values)
        details["failures"] = failures
        if lock is not None:
            store._event(
                session,
                AuditEventType.ACCOUNT_LOCKED,
                actor,
                user=actor,
                minutes=int(lock.total_seconds() // 60),
            )
    store._event(session, AuditEventType.LOGIN_FAILED, actor, **details)
    return LoginOutcome(None, checked.reason)
