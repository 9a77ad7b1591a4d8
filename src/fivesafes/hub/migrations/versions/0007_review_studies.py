"""review studies across hospitals: each study's design and version, its custodians'
approvals, its cases (pseudonyms of released slides) and its reads
(``fivesafes.pathology.study.schema``, studies step 1)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 05:00:00.000000

Four new tables and their indexes; nothing else changes.
"""

from __future__ import annotations

from fivesafes.pathology.study.schema import STUDIES_SCHEMA

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    STUDIES_SCHEMA.upgrade(1)


def downgrade() -> None:
    STUDIES_SCHEMA.downgrade(1)
