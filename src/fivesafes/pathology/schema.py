"""The pathology module's tables, version by version (``fivesafes.storage.shared_schema``):
the node's releases (``RELEASES_SCHEMA``) and the hub's review store (``REVIEWS_SCHEMA``);
``tables`` defines what they are now.

| schema   | version | what it did                                        | hub  | node |
| -------- | ------- | -------------------------------------------------- | ---- | ---- |
| releases | 1       | a node's releases of slides for review elsewhere   | —    | 0010 |
| reviews  | 1       | the hub's review store of slides released to it    | 0006 | —    |

Each step is history: a change to the tables is a new step, never an edit of one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

from fivesafes.pathology.tables import define_release_tables, define_review_tables
from fivesafes.storage.shared_schema import SchemaStep, SharedSchema
from fivesafes.storage.types import UTCDateTime


def _create_releases(op: Operations) -> None:
    op.create_table(
        "slide_releases",
        sa.Column("release_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("slide_id", sa.String(length=32), nullable=False),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=False),
        sa.Column("decided_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("pushed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("bytes", sa.Integer(), nullable=True),
        sa.Column("tiles", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=128), nullable=True),
        sa.Column("withdrawn_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("hub_told", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("release_id", name="pk_slide_releases"),
    )
    op.create_index("ix_slide_releases_project_id", "slide_releases", ["project_id"])


def _drop_releases(op: Operations) -> None:
    op.drop_index("ix_slide_releases_project_id", table_name="slide_releases")
    op.drop_table("slide_releases")


def _create_reviews(op: Operations) -> None:
    op.create_table(
        "slide_reviews",
        sa.Column("review_id", sa.String(length=32), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("offered_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("ready_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("review_id", name="pk_slide_reviews"),
    )
    op.create_index("ix_slide_reviews_project_id", "slide_reviews", ["project_id"])


def _drop_reviews(op: Operations) -> None:
    op.drop_index("ix_slide_reviews_project_id", table_name="slide_reviews")
    op.drop_table("slide_reviews")


RELEASES_SCHEMA = SharedSchema(
    name="slide_releases",
    define=define_release_tables,
    steps=(
        SchemaStep(
            1,
            "a node's releases of slides for review at other hospitals",
            _create_releases,
            _drop_releases,
        ),
    ),
)
REVIEWS_SCHEMA = SharedSchema(
    name="slide_reviews",
    define=define_review_tables,
    steps=(
        SchemaStep(
            1, "the hub's review store of slides released to it", _create_reviews, _drop_reviews
        ),
    ),
)
