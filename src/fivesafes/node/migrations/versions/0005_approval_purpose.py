"""a node's approval keeps the purpose and lay summary of the project record it approved, so
the patient data account can say what each project was for

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 06:00:00.000000

Two new nullable columns; approvals made before stay without them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("purpose", sa.Text(), nullable=True))
        batch.add_column(sa.Column("lay_summary", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.drop_column("lay_summary")
        batch.drop_column("purpose")
