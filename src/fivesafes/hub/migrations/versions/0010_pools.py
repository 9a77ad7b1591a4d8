"""pools: each pool's terms as the hub signed them, its state, what the nodes and the pool
reported, and its certificate of destruction (``fivesafes.pool.schema``, pool_hub step 1)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 11:30:00.000000

One new table; nothing else changes.
"""

from __future__ import annotations

from fivesafes.pool.schema import HUB_POOL_SCHEMA

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    HUB_POOL_SCHEMA.upgrade(1)


def downgrade() -> None:
    HUB_POOL_SCHEMA.downgrade(1)
