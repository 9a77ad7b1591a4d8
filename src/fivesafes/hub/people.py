"""Safe people at the hub: accounts (the shared account store), organisations, and API tokens
scoped to actions and a project, expiring, stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from fivesafes.audit.chain import append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.governance.accounts.settings import AccountSettings
from fivesafes.governance.accounts.store import ORGANISATION, AccountStore
from fivesafes.governance.people import Account, Actor, OrganisationKind, via_token
from fivesafes.governance.roles import HUB, grant
from fivesafes.governance.tokens import ALL_ACTIONS, Action, TokenScope, actions
from fivesafes.hub.db import ACCOUNTS, AUDIT, ApiToken, Organisation, Project, User
from fivesafes.protocol.errors import Conflict, InvalidRequest, Unauthenticated
from fivesafes.storage.types import utcnow

TOKEN_PREFIX = "fs_"  # noqa: S105 - a prefix, not a secret
HUB_ROLES = ("researcher", "hub_admin", "output_checker", "reviewer")


def hub_accounts(
    settings: AccountSettings | None = None, issuer: str = "fivesafes"
) -> AccountStore:
    """The hub's account store (settings matter only for passwords, TOTP and sessions)."""
    return AccountStore(ACCOUNTS, AUDIT, settings or AccountSettings(), issuer=issuer)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ---- organisations --------------------------------------------------------------------------


def create_organisation(
    session: Session, *, name: str, display_name: str, kind: str, by: str
) -> Organisation:
    if not ORGANISATION.match(name):
        raise InvalidRequest("An organisation is named in lower case, digits and hyphens.")
    try:
        parsed = OrganisationKind(kind)
    except ValueError:
        kinds = ", ".join(k.value for k in OrganisationKind)
        raise InvalidRequest(f"Unknown kind {kind!r}; kinds are {kinds}.") from None
    if session.get(Organisation, name) is not None:
        raise Conflict(f"An organisation called {name!r} already exists.")
    organisation = Organisation(
        name=name, display_name=display_name.strip() or name, kind=parsed.value, created_at=utcnow()
    )
    session.add(organisation)
    append_event(
        session,
        AUDIT,
        AuditEventType.ORGANISATION_CREATED,
        by=by,
        details={"organisation": name, "kind": parsed.value},
    )
    return organisation


def check_organisation(session: Session, name: str | None) -> None:
    if name is not None and session.get(Organisation, name) is None:
        raise InvalidRequest(
            f"There is no organisation called {name!r}; add it first (hub add-organisation)."
        )


# ---- accounts -------------------------------------------------------------------------------


def create_user(
    session: Session,
    *,
    username: str,
    display_name: str,
    role: str | None = None,
    roles: Iterable[str] = (),
    organisation: str | None = None,
    accredited_until: date | None = None,
    by: str,
) -> Account:
    """An account at the hub holding ``roles`` (and ``role``), all held at the hub."""
    wanted = list(dict.fromkeys([*([role] if role else []), *roles])) or ["researcher"]
    grants = [grant(name, HUB) for name in wanted]
    check_organisation(session, organisation)
    return hub_accounts().create(
        session,
        username=username,
        display_name=display_name,
        organisation=organisation,
        accredited_until=accredited_until,
        grants=grants,
        by=by,
    )


def disable_user(session: Session, username: str, *, by: str) -> Account:
    """No more logins, sessions or tokens: every token of the account is revoked too."""
    account = hub_accounts().disable(session, username, by=by)
    for token in session.scalars(
        select(ApiToken).where(ApiToken.user_id == account.id, ApiToken.revoked_at.is_(None))
    ):
        token.revoked_at = utcnow()
    return account


# ---- API tokens ------------------------------------------------------------------------------


def issue_token(
    session: Session,
    *,
    username: str,
    lifetime: timedelta,
    by: str,
    project_id: str | None = None,
    action_names: Iterable[str] | None = None,
) -> str:
    """Create an API token and return it; only its hash is stored, so it is shown once.

    Without ``action_names`` it carries every action; without ``project_id`` it covers every
    project its account may see. A token never grants more than its account holds."""
    account = hub_accounts().require(session, username)
    if account.disabled:
        raise InvalidRequest(f"{username} is disabled.")
    scope = sorted(a.value for a in (actions(action_names) if action_names else ALL_ACTIONS))
    if project_id is not None and session.get(Project, project_id) is None:
        raise InvalidRequest(f"There is no project {project_id!r}.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(
        token_hash=hash_token(token),
        user_id=account.id,
        created_at=now,
        expires_at=now + lifetime,
        revoked_at=None,
        project_id=project_id,
        actions=scope,
    )
    session.add(row)
    session.flush()
    append_event(
        session,
        AUDIT,
        AuditEventType.TOKEN_ISSUED,
        by=by,
        project_id=project_id,
        details={
            "user": username,
            "token_id": row.id,
            "actions": scope,
            "expires_at": (now + lifetime).isoformat(),
        },
    )
    return token


def tokens_of(session: Session, username: str) -> list[ApiToken]:
    account = hub_accounts().require(session, username)
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == account.id).order_by(ApiToken.id)
        )
    )


def revoke_token(session: Session, token_id: int, *, by: str) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise InvalidRequest(f"There is no token {token_id}.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        append_event(
            session,
            AUDIT,
            AuditEventType.TOKEN_REVOKED,
            by=by,
            details={"token_id": token_id},
        )
    return row


_TOKENS = ApiToken.__table__
_TOKEN_BY_HASH = select(
    _TOKENS.c.user_id,
    _TOKENS.c.expires_at,
    _TOKENS.c.revoked_at,
    _TOKENS.c.project_id,
    _TOKENS.c.actions,
).where(_TOKENS.c.token_hash == bindparam("token_hash"))
"""Every API request reads its token: the columns it needs, in a statement built once."""


def authenticate(session: Session, token: str, now: datetime | None = None) -> Actor:
    """Who is acting behind a bearer token, narrowed by its scope; Unauthenticated (one
    answer for every bad token: unknown, expired, revoked, or its account disabled)."""
    now = now or utcnow()
    row = session.execute(_TOKEN_BY_HASH, {"token_hash": hash_token(token)}).first()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise Unauthenticated("The token is invalid or has expired.")
    account = hub_accounts().get(session, row.user_id)
    if account is None or account.disabled:
        raise Unauthenticated("The token is invalid or has expired.")
    known = {a.value for a in Action}
    scope = TokenScope(frozenset(Action(a) for a in row.actions if a in known), row.project_id)
    return via_token(account, scope)


def username_of(session: Session, user_id: int) -> str:
    user = session.get(User, user_id)
    return user.username if user else "unknown"
