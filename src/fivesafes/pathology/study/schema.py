"""The review studies' tables, version by version (``fivesafes.storage.shared_schema``);
``tables`` defines what they are now.

| schema  | version | what it did                                   | hub  |
| ------- | ------- | --------------------------------------------- | ---- |
| studies | 1       | review studies, approvals, cases and reads    | 0007 |
| studies | 2       | the clinical facts each node sent of its cases | 0008 |

Each step is history: a change to the tables is a new step, never an edit of one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

from fivesafes.pathology.study.tables import define_study_tables
from fivesafes.storage.shared_schema import SchemaStep, SharedSchema
from fivesafes.storage.types import UTCDateTime


def _create(op: Operations) -> None:
    when = UTCDateTime(timezone=True)
    op.create_table(
        "review_studies",
        sa.Column("study_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("design", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("locked_at", when, nullable=True),
        sa.PrimaryKeyConstraint("study_id", name="pk_review_studies"),
    )
    op.create_index("ix_review_studies_project_id", "review_studies", ["project_id"])
    op.create_table(
        "review_study_approvals",
        sa.Column("study_id", sa.String(length=32), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("approved_by", sa.String(length=128), nullable=False),
        sa.Column("approved_at", when, nullable=False),
        sa.PrimaryKeyConstraint("study_id", "node", name="pk_review_study_approvals"),
    )
    op.create_table(
        "review_study_cases",
        sa.Column("study_id", sa.String(length=32), nullable=False),
        sa.Column("case", sa.String(length=32), nullable=False),
        sa.Column("review_id", sa.String(length=32), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("study_id", "case", name="pk_review_study_cases"),
    )
    op.create_table(
        "review_study_reads",
        sa.Column("read_id", sa.String(length=32), nullable=False),
        sa.Column("study_id", sa.String(length=32), nullable=False),
        sa.Column("reader", sa.String(length=128), nullable=False),
        sa.Column("case", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("condition", sa.String(length=16), nullable=False),
        sa.Column("reread", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("unaided", sa.JSON(), nullable=True),
        sa.Column("aided", sa.JSON(), nullable=True),
        sa.Column("feedback", sa.JSON(), nullable=False),
        sa.Column("opened_at", when, nullable=True),
        sa.Column("locked_at", when, nullable=True),
        sa.Column("revealed_at", when, nullable=True),
        sa.Column("submitted_at", when, nullable=True),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("read_id", name="pk_review_study_reads"),
    )
    op.create_index(
        "ix_review_study_reads_study_reader", "review_study_reads", ["study_id", "reader"]
    )


def _drop(op: Operations) -> None:
    op.drop_index("ix_review_study_reads_study_reader", table_name="review_study_reads")
    op.drop_table("review_study_reads")
    op.drop_table("review_study_cases")
    op.drop_table("review_study_approvals")
    op.drop_index("ix_review_studies_project_id", table_name="review_studies")
    op.drop_table("review_studies")


def _create_facts(op: Operations) -> None:
    op.create_table(
        "review_study_facts",
        sa.Column("study_id", sa.String(length=32), nullable=False),
        sa.Column("review_id", sa.String(length=32), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("study_id", "review_id", name="pk_review_study_facts"),
    )


def _drop_facts(op: Operations) -> None:
    op.drop_table("review_study_facts")


STUDIES_SCHEMA = SharedSchema(
    name="review_studies",
    define=define_study_tables,
    steps=(
        SchemaStep(1, "review studies, their approvals, cases and reads", _create, _drop),
        SchemaStep(2, "the clinical facts each node sent of its cases", _create_facts, _drop_facts),
    ),
)
