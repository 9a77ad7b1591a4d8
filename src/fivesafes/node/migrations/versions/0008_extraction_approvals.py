"""custodians' extraction approvals at a node: one row per decision on a project, approved
(the profile and the de-identification options allowed) or revoked (``fivesafes.extracts.
schema``, step 1)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 12:00:00.000000

A new table; nothing else changes.
"""

from __future__ import annotations

from fivesafes.extracts.schema import EXTRACTS_SCHEMA

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    EXTRACTS_SCHEMA.upgrade(1)


def downgrade() -> None:
    EXTRACTS_SCHEMA.downgrade(1)
