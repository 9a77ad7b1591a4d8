"""the airlock at the hub: release requests, their versions, files, pre-screens, votes and
release bundles (``fivesafes.airlock``)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 09:00:00.000000

New tables only; nothing existing changes.
"""

from __future__ import annotations

from fivesafes.airlock.schema import AIRLOCK_SCHEMA

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    AIRLOCK_SCHEMA.upgrade(1)


def downgrade() -> None:
    AIRLOCK_SCHEMA.downgrade(1)
