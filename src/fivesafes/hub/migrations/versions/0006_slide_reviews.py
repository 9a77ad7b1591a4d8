"""the hub's review store of slides nodes released to it for a project: one row per slide,
receiving, then ready, then deleted when the release is withdrawn or the project ends
(``fivesafes.pathology.schema``, reviews step 1)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 12:00:00.000000

A new table and its index on the project; nothing else changes.
"""

from __future__ import annotations

from fivesafes.pathology.schema import REVIEWS_SCHEMA

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    REVIEWS_SCHEMA.upgrade(1)


def downgrade() -> None:
    REVIEWS_SCHEMA.downgrade(1)
