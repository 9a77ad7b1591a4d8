"""The account tables, defined once for the hub's and every node's database (like
``audit.chain.define_audit_tables``): people, the roles they hold, their web sessions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Column,
    Date,
    ForeignKey,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Select,
    String,
    Table,
    bindparam,
    select,
)

from fivesafes.storage.types import UTCDateTime


@dataclass(frozen=True)
class AccountTables:
    users: Table
    grants: Table
    sessions: Table
    # reading an account happens on every request (a token's or a web session's): its
    # statements are built once (``user_id``, ``username`` bound when they run)
    user_by_id: Select[Any] = field(init=False, repr=False, compare=False)
    user_by_name: Select[Any] = field(init=False, repr=False, compare=False)
    grants_of: Select[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        users, g = self.users, self.grants.c
        by_id = select(users).where(users.c.id == bindparam("user_id"))
        by_name = select(users).where(users.c.username == bindparam("username"))
        grants_of = select(g.role, g.scope).where(g.user_id == bindparam("user_id"))
        object.__setattr__(self, "user_by_id", by_id)
        object.__setattr__(self, "user_by_name", by_name)
        object.__setattr__(self, "grants_of", grants_of)


def define_account_tables(metadata: MetaData) -> AccountTables:
    users = Table(
        "users",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("username", String(64), nullable=False, unique=True),
        Column("display_name", String(200), nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("organisation", String(64), nullable=True),
        Column("accredited_until", Date, nullable=True),
        Column("password_hash", String(255), nullable=True),
        # TOTP secrets, AES-GCM encrypted with the service's accounts key (ADR 0016)
        Column("totp_secret", String(255), nullable=True),
        Column("totp_pending", String(255), nullable=True),  # enrolled, awaiting a first code
        Column("totp_last_step", Integer, nullable=True),  # a code is accepted once
        Column("failed_logins", Integer, nullable=False, server_default="0"),
        Column("locked_until", UTCDateTime(), nullable=True),
        Column("disabled_at", UTCDateTime(), nullable=True),
    )
    grants = Table(
        "role_grants",
        metadata,
        Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
        Column("role", String(32), nullable=False),
        Column("scope", String(80), nullable=False),  # "hub" or "node:<name>"
        Column("granted_at", UTCDateTime(), nullable=False),
        Column("granted_by", String(128), nullable=False),
        PrimaryKeyConstraint("user_id", "role", "scope"),
    )
    sessions = Table(
        "web_sessions",
        metadata,
        Column("id_hash", String(64), primary_key=True),  # SHA-256 of the cookie's value
        Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
        Column("csrf", String(64), nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("last_seen_at", UTCDateTime(), nullable=False),
        Column("expires_at", UTCDateTime(), nullable=False),
        Column("ended_at", UTCDateTime(), nullable=True),
    )
    return AccountTables(users=users, grants=grants, sessions=sessions)
