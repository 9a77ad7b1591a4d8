"""The airlock's tables in the hub's and every node's database, version by version
(``fivesafes.storage.shared_schema``); ``tables.define_airlock_tables`` is what they are now.

| version | what it did                                                | hub  | node |
| ------- | ---------------------------------------------------------- | ---- | ---- |
| 1       | requests, versions, files, pre-screens, votes and bundles  | 0004 | 0004 |

Each step is history: a change to the tables is a new step, never an edit of one.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.operations import Operations

from fivesafes.airlock.tables import define_airlock_tables
from fivesafes.storage.shared_schema import SchemaStep, SharedSchema
from fivesafes.storage.types import UTCDateTime

TABLES_1 = (
    "airlock_bundles",
    "airlock_votes",
    "airlock_screens",
    "airlock_files",
    "airlock_versions",
    "airlock_requests",
)


def _of_version() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["request_id", "version"], ["airlock_versions.request_id", "airlock_versions.version"]
    )


def _keys() -> list[sa.Column[Any]]:
    return [
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    ]


def _create_airlock(op: Operations) -> None:
    when = UTCDateTime(timezone=True)
    op.create_table(
        "airlock_requests",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=True),
        sa.Column("run_id", sa.String(length=80), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("updated_at", when, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_airlock_requests_author", "airlock_requests", ["author"])
    op.create_index("ix_airlock_requests_state", "airlock_requests", ["state"])
    op.create_table(
        "airlock_versions",
        *_keys(),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("submitted_at", when, nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("decided_at", when, nullable=True),
        sa.Column("consolidated", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["airlock_requests.id"]),
        sa.PrimaryKeyConstraint("request_id", "version"),
    )
    op.create_table(
        "airlock_files",
        *_keys(),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        _of_version(),
        sa.PrimaryKeyConstraint("request_id", "version", "name"),
    )
    op.create_table(
        "airlock_screens",
        *_keys(),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        _of_version(),
        sa.PrimaryKeyConstraint("request_id", "version", "name"),
    )
    op.create_table(
        "airlock_votes",
        *_keys(),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("checker", sa.String(length=64), nullable=False),
        sa.Column("file", sa.String(length=255), nullable=False),
        sa.Column("vote", sa.String(length=32), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("cast_at", when, nullable=False),
        _of_version(),
        sa.PrimaryKeyConstraint("request_id", "version", "seq"),
    )
    op.create_table(
        "airlock_bundles",
        *_keys(),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("archive", sa.LargeBinary(), nullable=False),
        sa.Column("released_at", when, nullable=False),
        sa.Column("released_by", sa.String(length=64), nullable=False),
        _of_version(),
        sa.PrimaryKeyConstraint("request_id"),
    )


def _drop_airlock(op: Operations) -> None:
    op.drop_index("ix_airlock_requests_state", table_name="airlock_requests")
    op.drop_index("ix_airlock_requests_author", table_name="airlock_requests")
    for table in TABLES_1:
        op.drop_table(table)


AIRLOCK_SCHEMA = SharedSchema(
    name="airlock",
    define=define_airlock_tables,
    steps=(
        SchemaStep(
            1,
            "release requests, their versions, files, pre-screens, votes and bundles",
            _create_airlock,
            _drop_airlock,
        ),
    ),
)
