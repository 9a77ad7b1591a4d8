"""rounds of iterative analyses: a run's round and signed instruction, a task's progress

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 03:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("round", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("instruction", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("instruction_signature", sa.String(length=128), nullable=True)
        )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("progress", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("progress")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("instruction_signature")
        batch_op.drop_column("instruction")
        batch_op.drop_column("round")
