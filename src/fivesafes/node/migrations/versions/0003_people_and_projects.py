"""safe people and safe projects at a node: the node's own accounts (custodians, TRE admins,
output checkers; the account tables every service shares), rejected approvals with a reason,
the airlock option, analyses as name@version, the requester's accreditation on each run

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 04:00:00.000000

Existing approvals keep their decisions; the analyses they allow become ``name@1``.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

import fivesafes.storage.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC_TYPE = fivesafes.storage.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTC_TYPE, nullable=False),
        sa.Column("organisation", sa.String(length=64), nullable=True),
        sa.Column("accredited_until", sa.Date(), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("totp_secret", sa.String(length=255), nullable=True),
        sa.Column("totp_pending", sa.String(length=255), nullable=True),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", UTC_TYPE, nullable=True),
        sa.Column("disabled_at", UTC_TYPE, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
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
    op.add_column(
        "approvals",
        sa.Column("outputs_to_airlock", sa.Boolean(), server_default="0", nullable=False),
    )
    op.add_column("approvals", sa.Column("reason", sa.String(length=1000), nullable=True))
    op.add_column("approvals", sa.Column("risk_tier", sa.Integer(), nullable=True))
    op.add_column("runs", sa.Column("requester_accredited_until", sa.Date(), nullable=True))
    _rename_analyses(lambda name: name if "@" in name else f"{name}@1")


def _rename_analyses(rename: object) -> None:
    assert callable(rename)
    approvals = sa.table(
        "approvals", sa.column("project_id", sa.String()), sa.column("analyses", sa.JSON())
    )
    bind = op.get_bind()
    for project_id, analyses in bind.execute(sa.select(approvals)).all():
        listed = json.loads(analyses) if isinstance(analyses, str) else list(analyses or [])
        bind.execute(
            sa.update(approvals)
            .where(approvals.c.project_id == project_id)
            .values(analyses=[rename(str(a)) for a in listed])
        )


def downgrade() -> None:
    _rename_analyses(lambda name: name.split("@", 1)[0])
    op.drop_column("runs", "requester_accredited_until")
    op.drop_column("approvals", "risk_tier")
    op.drop_column("approvals", "reason")
    op.drop_column("approvals", "outputs_to_airlock")
    op.drop_index("ix_web_sessions_user_id", table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_table("role_grants")
    op.drop_table("users")
