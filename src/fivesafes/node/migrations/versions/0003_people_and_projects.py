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

from fivesafes.governance.accounts.schema import ACCOUNTS_SCHEMA

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ACCOUNTS_SCHEMA.upgrade(1)  # the node's own people: users, role_grants, web_sessions
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
    ACCOUNTS_SCHEMA.downgrade(1)
