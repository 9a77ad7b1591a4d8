"""the airlock's per-file outcomes at a node: who returned a version to its author and why,
the files released from it, a pre-screen's headline and summary, and one release bundle per
released version (``fivesafes.airlock.schema``, step 2)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 12:00:00.000000

New nullable columns, and the bundles' key widened to (request, version); a version released
before is given its released files from its bundle's manifest.
"""

from __future__ import annotations

from fivesafes.airlock.schema import AIRLOCK_SCHEMA

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    AIRLOCK_SCHEMA.upgrade(2)


def downgrade() -> None:
    AIRLOCK_SCHEMA.downgrade(2)
