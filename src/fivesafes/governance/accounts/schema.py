"""The account tables in the hub's and every node's database, version by version
(``fivesafes.storage.shared_schema``); ``tables.define_account_tables`` is what they are now.

| version | what it did                                                 | hub          | node |
| ------- | ----------------------------------------------------------- | ------------ | ---- |
| 1       | ``users`` (passwords, TOTP, lockout), ``role_grants``,      | 0003 (adopt) | 0003 |
|         | ``web_sessions``                                            |              |      |

The hub kept a ``users`` table of its own from its first revision (id, username, display name,
one role, created at); it reaches version 1 by ``adopt``, which adds the shared columns to it,
and carries each user's role over to a grant itself. A node creates the tables afresh.
Each step is history: a change to the tables is a new step, never an edit of one.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.operations import Operations

import fivesafes.storage.types
from fivesafes.governance.accounts.tables import define_account_tables
from fivesafes.storage.shared_schema import SchemaStep, SharedSchema

UTC_TYPE = fivesafes.storage.types.UTCDateTime(timezone=True)


def _account_columns() -> list[sa.Column[Any]]:
    """What version 1 has in ``users`` beyond id, username, display name and created at."""
    return [
        sa.Column("organisation", sa.String(length=64), nullable=True),
        sa.Column("accredited_until", sa.Date(), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("totp_secret", sa.String(length=255), nullable=True),
        sa.Column("totp_pending", sa.String(length=255), nullable=True),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", UTC_TYPE, nullable=True),
        sa.Column("disabled_at", UTC_TYPE, nullable=True),
    ]


def _create_grants(op: Operations) -> None:
    op.create_table(
        "role_grants",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.Column("granted_at", UTC_TYPE, nullable=False),
        sa.Column("granted_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("user_id", "role", "scope"),
    )


def _create_sessions(op: Operations) -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_TYPE, nullable=False),
        sa.Column("last_seen_at", UTC_TYPE, nullable=False),
        sa.Column("expires_at", UTC_TYPE, nullable=False),
        sa.Column("ended_at", UTC_TYPE, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"], unique=False)


def _drop_sessions(op: Operations) -> None:
    op.drop_index("ix_web_sessions_user_id", table_name="web_sessions")
    op.drop_table("web_sessions")


def _create_accounts(op: Operations) -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTC_TYPE, nullable=False),
        *_account_columns(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    _create_grants(op)
    _create_sessions(op)


def _drop_accounts(op: Operations) -> None:
    _drop_sessions(op)
    op.drop_table("role_grants")
    op.drop_table("users")


def _adopt_users(op: Operations) -> None:
    for column in _account_columns():
        op.add_column("users", column)
    _create_grants(op)
    _create_sessions(op)


def _disown_users(op: Operations) -> None:
    _drop_sessions(op)
    op.drop_table("role_grants")
    for column in reversed(_account_columns()):
        op.drop_column("users", column.name)


ACCOUNTS_SCHEMA = SharedSchema(
    name="accounts",
    define=define_account_tables,
    steps=(
        SchemaStep(
            1,
            "people with roles as grants, passwords, TOTP, lockout and web sessions",
            _create_accounts,
            _drop_accounts,
            adopt=_adopt_users,
            disown=_disown_users,
        ),
    ),
)
