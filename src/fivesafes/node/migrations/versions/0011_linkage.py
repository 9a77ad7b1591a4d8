"""a node's linkage: the random reference of each record it sent for a project, and each
linked person's link id (``fivesafes.linkage.schema``, linkage_node step 1)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 09:00:00.000000

Two new tables; nothing else changes.
"""

from __future__ import annotations

from fivesafes.linkage.schema import NODE_LINKAGE_SCHEMA

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    NODE_LINKAGE_SCHEMA.upgrade(1)


def downgrade() -> None:
    NODE_LINKAGE_SCHEMA.downgrade(1)
