"""Accounts in a service's own database: creating them, roles, accreditation, passwords and
TOTP. Every function runs in the caller's transaction and writes its audit event there."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from fivesafes.audit.chain import AuditTables, append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.governance.accounts import passwords, totp
from fivesafes.governance.accounts.secret_box import SecretBox
from fivesafes.governance.accounts.settings import AccountSettings
from fivesafes.governance.accounts.tables import AccountTables
from fivesafes.governance.people import Account
from fivesafes.governance.policies import check_password
from fivesafes.governance.roles import Grant, Role, Scope
from fivesafes.protocol.errors import Conflict, InvalidRequest
from fivesafes.storage.types import utcnow

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
ORGANISATION = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class AccountStore:
    """Constructed once per service (no I/O); every method takes the unit's session."""

    def __init__(
        self,
        tables: AccountTables,
        audit: AuditTables,
        settings: AccountSettings,
        *,
        issuer: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.tables = tables
        self.audit = audit
        self.settings = settings
        self.issuer = issuer
        self.clock = clock
        self.box = SecretBox(settings.secret_key_file)

    # ---- reading -------------------------------------------------------------------------

    def _account(self, session: Session, row: Any) -> Account:
        grants = frozenset(
            Grant(Role(role), Scope.parse(scope))
            for role, scope in session.execute(self.tables.grants_of, {"user_id": row.id})
        )
        return Account(
            id=row.id,
            username=row.username,
            display_name=row.display_name,
            organisation=row.organisation,
            accredited_until=row.accredited_until,
            grants=grants,
            disabled=row.disabled_at is not None,
        )

    def _row(self, session: Session, username: str) -> Any:
        return session.execute(self.tables.user_by_name, {"username": username}).first()

    def find(self, session: Session, username: str) -> Account | None:
        row = self._row(session, username)
        return None if row is None else self._account(session, row)

    def get(self, session: Session, user_id: int) -> Account | None:
        row = session.execute(self.tables.user_by_id, {"user_id": user_id}).first()
        return None if row is None else self._account(session, row)

    def require(self, session: Session, username: str) -> Account:
        account = self.find(session, username)
        if account is None:
            raise InvalidRequest(f"There is no user called {username!r}.")
        return account

    def everyone(self, session: Session) -> list[Account]:
        users = self.tables.users
        rows = session.execute(select(users).order_by(users.c.username)).all()
        return [self._account(session, row) for row in rows]

    def second_factor(self, session: Session, username: str) -> str:
        """``enrolled``, ``pending`` (awaiting a first code) or ``none``."""
        row = self._row(session, username)
        if row is None or (row.totp_secret is None and row.totp_pending is None):
            return "none"
        return "enrolled" if row.totp_secret is not None else "pending"

    # ---- changing ------------------------------------------------------------------------

    def _event(self, session: Session, kind: AuditEventType, by: str, **details: Any) -> None:
        append_event(session, self.audit, kind, by=by, details=details)

    def create(
        self,
        session: Session,
        *,
        username: str,
        display_name: str,
        organisation: str | None = None,
        accredited_until: date | None = None,
        grants: Iterable[Grant] = (),
        by: str,
    ) -> Account:
        if not USERNAME.match(username):
            raise InvalidRequest(
                "A username is lower-case letters, digits, dots, hyphens or underscores "
                "(at most 64), starting with a letter or digit."
            )
        if organisation is not None and not ORGANISATION.match(organisation):
            raise InvalidRequest("An organisation is named in lower case, digits and hyphens.")
        if self._row(session, username) is not None:
            raise Conflict(f"A user called {username!r} already exists.")
        display_name = display_name.strip() or username
        if len(display_name) > 200:
            raise InvalidRequest("A display name has at most 200 characters.")
        now = self.clock()
        user_id = session.execute(
            insert(self.tables.users)
            .values(
                username=username,
                display_name=display_name,
                created_at=now,
                organisation=organisation,
                accredited_until=accredited_until,
                failed_logins=0,
            )
            .returning(self.tables.users.c.id)
        ).scalar_one()
        self._event(
            session,
            AuditEventType.USER_CREATED,
            by,
            user=username,
            organisation=organisation,
            accredited_until=accredited_until.isoformat() if accredited_until else None,
            role=", ".join(str(g) for g in sorted(grants)),  # the key of earlier events
        )
        for one in grants:
            self._grant(session, user_id, username, one, by=by)
        return self.require(session, username)

    def _grant(self, session: Session, user_id: int, username: str, one: Grant, *, by: str) -> None:
        session.execute(
            insert(self.tables.grants).values(
                user_id=user_id,
                role=one.role.value,
                scope=str(one.scope),
                granted_at=self.clock(),
                granted_by=by,
            )
        )
        self._event(
            session,
            AuditEventType.ROLE_GRANTED,
            by,
            user=username,
            role=one.role.value,
            scope=str(one.scope),
        )

    def grant(self, session: Session, username: str, one: Grant, *, by: str) -> Account:
        account = self.require(session, username)
        if one in account.grants:
            raise Conflict(f"{username} already holds {one}.")
        self._grant(session, account.id, username, one, by=by)
        return self.require(session, username)

    def revoke(self, session: Session, username: str, one: Grant, *, by: str) -> Account:
        account = self.require(session, username)
        if one not in account.grants:
            raise InvalidRequest(f"{username} does not hold {one}.")
        g = self.tables.grants.c
        session.execute(
            delete(self.tables.grants).where(
                g.user_id == account.id, g.role == one.role.value, g.scope == str(one.scope)
            )
        )
        self._event(
            session,
            AuditEventType.ROLE_REVOKED,
            by,
            user=username,
            role=one.role.value,
            scope=str(one.scope),
        )
        return self.require(session, username)

    def _update(self, session: Session, user_id: int, **values: Any) -> None:
        users = self.tables.users
        session.execute(update(users).where(users.c.id == user_id).values(**values))

    def set_accreditation(
        self, session: Session, username: str, until: date | None, *, by: str
    ) -> Account:
        account = self.require(session, username)
        self._update(session, account.id, accredited_until=until)
        self._event(
            session,
            AuditEventType.ACCREDITATION_SET,
            by,
            user=username,
            accredited_until=until.isoformat() if until else None,
        )
        return self.require(session, username)

    def set_organisation(
        self, session: Session, username: str, organisation: str | None, *, by: str
    ) -> Account:
        account = self.require(session, username)
        if organisation is not None and not ORGANISATION.match(organisation):
            raise InvalidRequest("An organisation is named in lower case, digits and hyphens.")
        self._update(session, account.id, organisation=organisation)
        self._event(
            session,
            AuditEventType.ORGANISATION_SET,
            by,
            user=username,
            organisation=organisation,
        )
        return self.require(session, username)

    def set_password(self, session: Session, username: str, password: str, *, by: str) -> None:
        """Store an Argon2id hash; end the account's web sessions (a new password is a new
        start) and clear any lockout."""
        account = self.require(session, username)
        check_password(password, username=username, min_length=self.settings.password_min_length)
        self._update(
            session,
            account.id,
            password_hash=passwords.hash_password(password),
            failed_logins=0,
            locked_until=None,
        )
        self.end_all_sessions(session, account.id)
        self._event(session, AuditEventType.PASSWORD_SET, by, user=username)

    def enrol_totp(
        self, session: Session, username: str, *, by: str, pending: bool = False
    ) -> tuple[str, str]:
        """A new TOTP secret and its ``otpauth://`` URI, shown once. Stored encrypted; with
        ``pending`` it waits for a first valid code (:meth:`confirm_totp`, or a login) before
        it replaces the account's current one."""
        account = self.require(session, username)
        secret = totp.new_secret()
        sealed = self.box.seal(secret, totp_binding(account.id))
        column = "totp_pending" if pending else "totp_secret"
        values: dict[str, Any] = {column: sealed}
        if not pending:
            values.update(totp_pending=None, totp_last_step=None)
        self._update(session, account.id, **values)
        self._event(
            session,
            AuditEventType.TOTP_ENROLLED,
            by,
            user=username,
            state="pending" if pending else "enrolled",
        )
        return secret, totp.provisioning_uri(secret, username, self.issuer)

    def confirm_totp(self, session: Session, username: str, code: str) -> bool:
        """Activate a pending secret with a first valid code."""
        row = self._row(session, username)
        if row is None or row.totp_pending is None:
            return False
        secret = self.box.open(row.totp_pending, totp_binding(row.id))
        step = totp.matching_step(secret, code, self.clock(), None)
        if step is None:
            return False
        self._update(
            session, row.id, totp_secret=row.totp_pending, totp_pending=None, totp_last_step=step
        )
        self._event(
            session, AuditEventType.TOTP_ENROLLED, username, user=username, state="enrolled"
        )
        return True

    def disable(self, session: Session, username: str, *, by: str) -> Account:
        """No more logins, sessions or tokens for this account (its records stay)."""
        account = self.require(session, username)
        self._update(session, account.id, disabled_at=self.clock())
        self.end_all_sessions(session, account.id)
        self._event(session, AuditEventType.USER_DISABLED, by, user=username)
        return self.require(session, username)

    def end_all_sessions(self, session: Session, user_id: int) -> None:
        s = self.tables.sessions
        session.execute(
            update(s)
            .where(s.c.user_id == user_id, s.c.ended_at.is_(None))
            .values(ended_at=self.clock())
        )


def totp_binding(user_id: int) -> str:
    """What a TOTP secret is bound to (AES-GCM associated data)."""
    return f"totp:{user_id}"
