"""Safe people as the rest of the code sees them: an account, and who is acting through what.

An :class:`Account` is what the account store (``accounts/``) knows of a person; an
:class:`Actor` is that account acting now, through an API token (narrowed by its scope), a web
session or the service's own command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from fivesafes.governance.roles import HUB, Grant, Role, Scope
from fivesafes.governance.tokens import TokenScope


class OrganisationKind(StrEnum):
    """What kind of body an organisation is: the "user type" of a project's risk tier."""

    NHS = "nhs"
    ACADEMIC = "academic"
    GOVERNMENT = "government"
    CHARITY = "charity"
    COMMERCIAL = "commercial"


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    display_name: str
    organisation: str | None = None
    accredited_until: date | None = None
    grants: frozenset[Grant] = field(default_factory=frozenset)
    disabled: bool = False

    def holds(self, role: Role, scope: Scope = HUB) -> bool:
        return Grant(role, scope) in self.grants

    def roles_at(self, scope: Scope = HUB) -> list[Role]:
        return sorted(g.role for g in self.grants if g.scope == scope)


class Channel(StrEnum):
    TOKEN = "token"  # noqa: S105 - a channel's name
    SESSION = "session"
    CLI = "cli"


@dataclass(frozen=True)
class Actor:
    """An account acting now. ``scope`` is set for an API token and narrows what it may do."""

    account: Account
    channel: Channel = Channel.CLI
    scope: TokenScope | None = None

    @property
    def id(self) -> int:
        return self.account.id

    @property
    def username(self) -> str:
        return self.account.username


def via_token(account: Account, scope: TokenScope) -> Actor:
    return Actor(account, Channel.TOKEN, scope)


def via_session(account: Account) -> Actor:
    return Actor(account, Channel.SESSION, None)
