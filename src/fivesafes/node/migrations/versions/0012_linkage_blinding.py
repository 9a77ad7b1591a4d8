"""a node's linkage: each linked person's blinding key, with which linked counts blind their
sets (``fivesafes.linkage.schema``, linkage_node step 2)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 11:00:00.000000

A column of linkage_links, empty for link ids kept before it (pull again to fill it).
"""

from __future__ import annotations

from fivesafes.linkage.schema import NODE_LINKAGE_SCHEMA

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    NODE_LINKAGE_SCHEMA.upgrade(2)


def downgrade() -> None:
    NODE_LINKAGE_SCHEMA.downgrade(2)
