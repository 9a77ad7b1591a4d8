"""the linkage unit's state: each node's current upload of linkage tokens for a project, and
each project's last linkage as counts (``fivesafes.linkage.schema``, linkage_hub step 1)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 09:00:00.000000

Two new tables; nothing else changes.
"""

from __future__ import annotations

from fivesafes.linkage.schema import HUB_LINKAGE_SCHEMA

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    HUB_LINKAGE_SCHEMA.upgrade(1)


def downgrade() -> None:
    HUB_LINKAGE_SCHEMA.downgrade(1)
