"""person sets behind released outputs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 01:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fivesafes.storage.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person_sets",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("output_key", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("person_count", sa.Integer(), nullable=False),
        sa.Column("persons", sa.LargeBinary(), nullable=False),
        sa.Column("released_answer", sa.JSON(), nullable=False),
        sa.Column(
            "recorded_at", fivesafes.storage.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("project_id", "output_key", name="uq_person_sets_project_output"),
    )


def downgrade() -> None:
    op.drop_table("person_sets")
