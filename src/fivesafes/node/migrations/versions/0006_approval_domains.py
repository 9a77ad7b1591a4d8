"""a node's approval keeps the data domains of the project record it approved, so the node
refuses an analysis that reads a domain the project was not approved for

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 05:00:00.000000

One new nullable column; an approval made before has none and is read as OMOP only (what
every project asked for until then).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("data_domains", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.drop_column("data_domains")
