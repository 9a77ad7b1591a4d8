"""the clinical facts a review study's cases may show, as each node computed and gated them
(``fivesafes.pathology.study.schema``, studies step 2)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 06:00:00.000000

A new table; nothing else changes.
"""

from __future__ import annotations

from fivesafes.pathology.study.schema import STUDIES_SCHEMA

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    STUDIES_SCHEMA.upgrade(2)


def downgrade() -> None:
    STUDIES_SCHEMA.downgrade(2)
