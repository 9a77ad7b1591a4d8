"""The account API a service (and its portal) calls; each call is one transaction.

```python
account = service.accounts.login(username, password, code)  # LoginFailed (401) otherwise
session_id, csrf = service.accounts.create_session(account)  # cookie value, form token
web = service.accounts.session_user(session_id)               # WebSession | None
Accounts.check_csrf(web, posted_token)                        # CsrfFailed (403) otherwise
service.accounts.end_session(session_id)                       # logout
```
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from fivesafes.governance.accounts import login as login_step
from fivesafes.governance.accounts import sessions
from fivesafes.governance.accounts.sessions import WebSession
from fivesafes.governance.accounts.store import AccountStore
from fivesafes.governance.errors import LoginFailed
from fivesafes.governance.people import Account

T = TypeVar("T")
Unit = Callable[[Callable[[Session], Any]], Any]

LOGIN_FAILED = (
    "The username, password or code is not right, or the account is locked for a while after "
    "too many failed attempts."
)


class Accounts:
    """``unit`` runs a write transaction, ``read`` a read-only one (default: ``unit``)."""

    def __init__(self, store: AccountStore, unit: Unit, read: Unit | None = None) -> None:
        self.store = store
        self._unit = unit
        self._read = read or unit

    def login(self, username: str, password: str, code: str | None = None) -> Account:
        """The account, if the password (and code) are right; otherwise :class:`LoginFailed`
        with one message for every reason. The attempt is recorded before it is answered;
        the slow password check runs outside any transaction."""
        snapshot = self._read(lambda s: login_step.read_account(self.store, s, username))
        checked = login_step.check_attempt(self.store, snapshot, password, code)
        outcome: login_step.LoginOutcome = self._unit(
            lambda s: login_step.record_attempt(self.store, s, username, snapshot, checked)
        )
        if outcome.account is None:
            raise LoginFailed(LOGIN_FAILED)
        return outcome.account

    def create_session(self, account: Account) -> tuple[str, str]:
        """``(session_id, csrf)``: put the id in a Secure, HttpOnly, SameSite=Strict cookie
        and the CSRF token in every form."""
        result: tuple[str, str] = self._unit(
            lambda s: sessions.create_session(self.store, s, account)
        )
        return result

    def session_user(self, session_id: str) -> WebSession | None:
        """The live session behind a cookie's value, or None. A read, unless the session's
        last-seen time is due to move on or it just expired (then a short write)."""
        found: sessions.Lookup = self._read(lambda s: sessions.look_up(self.store, s, session_id))
        if found.write:
            result: WebSession | None = self._unit(
                lambda s: sessions.session_user(self.store, s, session_id)
            )
            return result
        return found.session

    @staticmethod
    def check_csrf(web_session: WebSession, token: str | None) -> None:
        sessions.check_csrf(web_session, token)

    def end_session(self, session_id: str) -> None:
        self._unit(lambda s: sessions.end_session(self.store, s, session_id))


__all__ = ["Accounts", "WebSession"]
