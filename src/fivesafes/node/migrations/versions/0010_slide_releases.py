"""a node's releases of slides for review at other hospitals: one row per slide released for a
project, approved, then pushed to the hub, or withdrawn (``fivesafes.pathology.schema``,
releases step 1)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 12:00:00.000000

A new table and its index on the project; nothing else changes.
"""

from __future__ import annotations

from fivesafes.pathology.schema import RELEASES_SCHEMA

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    RELEASES_SCHEMA.upgrade(1)


def downgrade() -> None:
    RELEASES_SCHEMA.downgrade(1)
