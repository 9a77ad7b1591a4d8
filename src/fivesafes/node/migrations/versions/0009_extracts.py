"""the extracts a node built: one row per extract (a task's), held until an output checker
releases it or it is withdrawn, with its build's counts and the persons' pseudonyms
(``fivesafes.extracts.schema``, step 2)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 12:00:00.000000

A new table and its index on the project; nothing else changes.
"""

from __future__ import annotations

from fivesafes.extracts.schema import EXTRACTS_SCHEMA

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    EXTRACTS_SCHEMA.upgrade(2)


def downgrade() -> None:
    EXTRACTS_SCHEMA.downgrade(2)
