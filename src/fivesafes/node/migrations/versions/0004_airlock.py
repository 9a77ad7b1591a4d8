"""the airlock at a node: release requests, their versions, files, pre-screens, votes and
release bundles (``fivesafes.airlock``), and the output of a run held for review, kept at the
node so it can become a release request (``fivesafes.node.airlock``)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 09:00:00.000000

New tables and one new nullable column; nothing existing changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from fivesafes.airlock.schema import AIRLOCK_SCHEMA

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    AIRLOCK_SCHEMA.upgrade(1)
    op.add_column("runs", sa.Column("held_output", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("held_output")
    AIRLOCK_SCHEMA.downgrade(1)
