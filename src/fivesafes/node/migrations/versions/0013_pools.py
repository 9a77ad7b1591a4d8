"""pools at a source node: its custodian's decision on each pool's terms, and the persons whose
rows it sent (``fivesafes.pool.schema``, pool_node step 1)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 11:30:00.000000

Two new tables; nothing else changes.
"""

from __future__ import annotations

from fivesafes.pool.schema import NODE_POOL_SCHEMA

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    NODE_POOL_SCHEMA.upgrade(1)


def downgrade() -> None:
    NODE_POOL_SCHEMA.downgrade(1)
