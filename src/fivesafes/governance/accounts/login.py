"""Web login: a password and, when enrolled (or required), a TOTP code; lockout after failed
attempts. One answer for every failure, so nobody learns which part was wrong or whether the
username exists; the audit log records why, and never the password or the code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from fivesafes.audit.events import AuditEventType
from fivesafes.governance.accounts import passwords, totp
from fivesafes.governance.accounts.secret_box import SecretUnreadable
from fivesafes.governance.accounts.store import AccountStore, _bound
from fivesafes.governance.people import Account
from fivesafes.governance.policies import is_locked, lockout_after

UNKNOWN = "(unknown user)"  # the audit actor of a failed login for no account: what was typed
# is never recorded (people type passwords into the username field)


@dataclass(frozen=True)
class LoginOutcome:
    account: Account | None  # None: failed
    reason: str  # "ok", or why it failed (for the audit log only)


def attempt_login(
    store: AccountStore, session: Session, username: str, password: str, code: str | None
) -> LoginOutcome:
    """Check one login attempt and record it (counters, lockout, audit). The caller commits
    and then tells the person only "failed" or "ok"."""
    now = store.clock()
    row = store._row(session, username)
    if row is None:
        passwords.verify_password(None, password)
        return _failed(store, session, None, UNKNOWN, "unknown_user")
    if row.disabled_at is not None:
        passwords.verify_password(None, password)
        return _failed(store, session, None, username, "disabled")
    if is_locked(row.locked_until, now):
        passwords.verify_password(None, password)
        return _failed(store, session, None, username, "locked")
    checked = passwords.verify_password(row.password_hash, password)
    if not checked.ok:
        return _failed(store, session, row, username, "bad_password")
    step: int | None = None
    pending = False
    sealed = row.totp_secret or row.totp_pending
    if sealed is not None:
        pending = row.totp_secret is None
        try:
            secret = store.box.open(sealed, _bound(row.id))
        except SecretUnreadable:
            return _failed(store, session, row, username, "second_factor_unreadable")
        step = totp.matching_step(secret, code or "", now, row.totp_last_step)
        if step is None:
            return _failed(store, session, row, username, "bad_code")
    elif store.settings.require_totp:
        return _failed(store, session, row, username, "no_second_factor")
    values: dict[str, object] = {"failed_logins": 0, "locked_until": None}
    if step is not None:
        values["totp_last_step"] = step
    if pending:
        values.update(totp_secret=row.totp_pending, totp_pending=None)
    if checked.rehash:
        values["password_hash"] = passwords.hash_password(password)
    store._update(session, row.id, **values)
    store._event(
        session,
        AuditEventType.LOGIN_SUCCEEDED,
        username,
        user=username,
        second_factor="totp" if step is not None else "none",
    )
    return LoginOutcome(store.require(session, username), "ok")


def _failed(
    store: AccountStore, session: Session, row: object | None, actor: str, reason: str
) -> LoginOutcome:
    details: dict[str, object] = {"reason": reason}
    if row is not None:
        user_id: int = getattr(row, "id")  # noqa: B009 - a Row's attribute
        failures = int(getattr(row, "failed_logins")) + 1  # noqa: B009
        settings = store.settings
        lock = lockout_after(
            failures, settings.max_failed_logins, timedelta(minutes=settings.lockout_minutes)
        )
        values: dict[str, object] = {"failed_logins": failures}
        if lock is not None:
            values["locked_until"] = store.clock() + lock
        store._update(session, user_id, **values)
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
    return LoginOutcome(None, reason)
