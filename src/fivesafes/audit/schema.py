"""The audit log's tables in the hub's and every node's database, version by version
(``fivesafes.storage.shared_schema``); ``chain.define_audit_tables`` is what they are now.

| version | what it did                              | hub  | node |
| ------- | ---------------------------------------- | ---- | ---- |
| 1       | ``audit_events`` and ``audit_head``      | 0001 | 0001 |

Each step is history: a change to the tables is a new step, never an edit of one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

import fivesafes.storage.types
from fivesafes.audit.chain import define_audit_tables
from fivesafes.storage.shared_schema import SchemaStep, SharedSchema


def _create_log(op: Operations) -> None:
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", fivesafes.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=True),
        sa.Column("node", sa.String(length=64), nullable=True),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def _drop_log(op: Operations) -> None:
    op.drop_table("audit_head")
    op.drop_table("audit_events")


AUDIT_SCHEMA = SharedSchema(
    name="audit log",
    define=define_audit_tables,
    steps=(SchemaStep(1, "the hash-chained event log and its head", _create_log, _drop_log),),
)
