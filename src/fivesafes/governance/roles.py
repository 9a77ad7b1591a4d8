"""Roles and where each is held: a closed set, like the audit events.

| role             | held at          | may                                                       |
| ---------------- | ---------------- | --------------------------------------------------------- |
| ``researcher``   | the hub          | create projects (accredited), be a member, submit tasks   |
| ``hub_admin``    | the hub          | manage people, organisations and every project            |
| ``custodian``    | one node         | approve, reject or revoke projects for that node          |
| ``tre_admin``    | one node         | run the node, manage its accounts, revoke in an emergency |
| ``output_checker`` | a node or the hub | review outputs held for review (never their own)        |
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from fivesafes.protocol.errors import InvalidRequest


class Role(StrEnum):
    RESEARCHER = "researcher"
    HUB_ADMIN = "hub_admin"
    CUSTODIAN = "custodian"
    TRE_ADMIN = "tre_admin"
    OUTPUT_CHECKER = "output_checker"
    REVIEWER = "reviewer"  # reads cases in review studies (pathologists, radiologists)


class ScopeKind(StrEnum):
    HUB = "hub"
    NODE = "node"


@dataclass(frozen=True, order=True)
class Scope:
    """Where a role is held: the hub, or one node (by its name)."""

    kind: ScopeKind
    node: str | None = None

    def __post_init__(self) -> None:
        if (self.kind is ScopeKind.NODE) != bool(self.node):
            raise InvalidRequest("A node scope names its node; the hub scope names none.")

    def __str__(self) -> str:
        return "hub" if self.kind is ScopeKind.HUB else f"node:{self.node}"

    @classmethod
    def parse(cls, text: str) -> Scope:
        if text == "hub":
            return HUB
        kind, _, node = text.partition(":")
        if kind != "node" or not node:
            raise InvalidRequest(f"A scope is 'hub' or 'node:<name>', not {text!r}.")
        return cls(ScopeKind.NODE, node)


HUB = Scope(ScopeKind.HUB)


def node_scope(name: str) -> Scope:
    return Scope(ScopeKind.NODE, name)


HELD_AT: dict[Role, frozenset[ScopeKind]] = {
    Role.RESEARCHER: frozenset({ScopeKind.HUB}),
    Role.HUB_ADMIN: frozenset({ScopeKind.HUB}),
    Role.CUSTODIAN: frozenset({ScopeKind.NODE}),
    Role.TRE_ADMIN: frozenset({ScopeKind.NODE}),
    Role.OUTPUT_CHECKER: frozenset({ScopeKind.HUB, ScopeKind.NODE}),
    Role.REVIEWER: frozenset({ScopeKind.HUB}),
}


@dataclass(frozen=True, order=True)
class Grant:
    """One role held in one scope."""

    role: Role
    scope: Scope

    def __str__(self) -> str:
        return f"{self.role.value}@{self.scope}"


def grant(role: str, scope: Scope) -> Grant:
    """A valid grant, or InvalidRequest naming the roles that can be held there."""
    try:
        parsed = Role(role)
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise InvalidRequest(f"Unknown role {role!r}; roles are {names}.") from None
    if scope.kind not in HELD_AT[parsed]:
        here = sorted(r.value for r, kinds in HELD_AT.items() if scope.kind in kinds)
        where = "the hub" if scope.kind is ScopeKind.HUB else "a node"
        raise InvalidRequest(f"{parsed.value} is not a role at {where}; there: {', '.join(here)}.")
    return Grant(parsed, scope)
