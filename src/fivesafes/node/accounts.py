"""The node's own people: custodians, TRE admins and output checkers, in the node's own
database (the account code every service shares), so the node's custodian portal never
depends on the hub's accounts."""

from __future__ import annotations

from sqlalchemy.orm import Session

from fivesafes.governance.accounts.settings import AccountSettings
from fivesafes.governance.accounts.store import AccountStore
from fivesafes.governance.people import Account, Actor
from fivesafes.governance.roles import ScopeKind, grant, node_scope
from fivesafes.node.db import ACCOUNTS, AUDIT
from fivesafes.protocol.errors import InvalidRequest

NODE_ROLES = ("custodian", "tre_admin", "output_checker")


def node_accounts(
    settings: AccountSettings | None = None, issuer: str = "fivesafes"
) -> AccountStore:
    return AccountStore(ACCOUNTS, AUDIT, settings or AccountSettings(), issuer=issuer)


def create_node_user(
    session: Session,
    *,
    node: str,
    username: str,
    display_name: str,
    roles: list[str],
    organisation: str | None = None,
    by: str,
) -> Account:
    """An account at this node holding ``roles``, each held at this node."""
    if not roles:
        raise InvalidRequest(f"Give at least one role: {', '.join(NODE_ROLES)}.")
    grants = [grant(role, node_scope(node)) for role in dict.fromkeys(roles)]
    return node_accounts().create(
        session,
        username=username,
        display_name=display_name,
        organisation=organisation,
        grants=grants,
        by=by,
    )


def acting(session: Session, username: str, node: str) -> Actor:
    """The node account called ``username`` acting at the node's own command line; refused
    if it does not exist, is disabled or holds no role at this node."""
    account = node_accounts().find(session, username)
    if account is None or account.disabled:
        raise InvalidRequest(
            f"There is no active account {username!r} at this node; "
            "add one with 'fivesafes node add-user'."
        )
    if not any(g.scope == node_scope(node) for g in account.grants):
        raise InvalidRequest(f"{username} holds no role at {node}.")
    assert all(g.scope.kind is ScopeKind.NODE for g in account.grants)
    return Actor(account)
