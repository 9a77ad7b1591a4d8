"""The extracts module's tables in a node's database, version by version
(``fivesafes.storage.shared_schema``); ``tables.define_extracts_tables`` is what they are now.

| version | what it did                                              | hub | node |
| ------- | -------------------------------------------------------- | --- | ---- |
| 1       | custodians' extraction approvals, one row per decision   | —   | 0008 |
| 2       | the extracts built, one row per extract (held, released, | —   | 0009 |
|         | withdrawn)                                               |     |      |

Each step is history: a change to the tables is a new step, never an edit of one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

from fivesafes.extracts.tables import define_extracts_tables
from fivesafes.storage.shared_schema import SchemaStep, SharedSchema
from fivesafes.storage.types import UTCDateTime


def _create_approvals(op: Operations) -> None:
    op.create_table(
        "extraction_approvals",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("profile", sa.String(length=32), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=False),
        sa.Column("decided_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("project_id", "seq", name="pk_extraction_approvals"),
    )


def _drop_approvals(op: Operations) -> None:
    op.drop_table("extraction_approvals")


def _create_extracts(op: Operations) -> None:
    op.create_table(
        "extracts",
        sa.Column("extract_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("requester", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("folder", sa.String(length=500), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("persons", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("extract_id", name="pk_extracts"),
    )
    op.create_index("ix_extracts_project_id", "extracts", ["project_id"])


def _drop_extracts(op: Operations) -> None:
    op.drop_index("ix_extracts_project_id", table_name="extracts")
    op.drop_table("extracts")


EXTRACTS_SCHEMA = SharedSchema(
    name="extracts",
    define=define_extracts_tables,
    steps=(
        SchemaStep(
            1,
            "custodians' extraction approvals: one row per decision, approved or revoked",
            _create_approvals,
            _drop_approvals,
        ),
        SchemaStep(
            2,
            "the extracts a node built: one row per extract, held, then released or withdrawn",
            _create_extracts,
            _drop_extracts,
        ),
    ),
)
