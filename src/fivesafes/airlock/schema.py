"""The airlock's tables in the hub's and every node's database, version by version
(``fivesafes.storage.shared_schema``); ``tables.define_airlock_tables`` is what they are now.

| version | what it did                                                | hub  | node |
| ------- | ---------------------------------------------------------- | ---- | ---- |
| 1       | requests, versions, files, pre-screens, votes and bundles  | 0004 | 0004 |
| 2       | per-file outcomes: a version's returning checker, message  | 0005 | 0007 |
|         | and released files; a pre-screen's headline and summary;   |      |      |
|         | one bundle per released version (key: request, version)    |      |      |

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


def _bundles(op: Operations, name: str, key: list[str], pk: str | None) -> None:
    """(Re)create ``airlock_bundles`` as step 1 made it, its primary key ``key`` named ``pk``."""
    when = UTCDateTime(timezone=True)
    op.create_table(
        name,
        *_keys(),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("archive", sa.LargeBinary(), nullable=False),
        sa.Column("released_at", when, nullable=False),
        sa.Column("released_by", sa.String(length=64), nullable=False),
        _of_version(),
        sa.PrimaryKeyConstraint(*key, name=pk),
    )


BUNDLE_COLUMNS = "request_id, version, manifest, signature, archive, released_at, released_by"
STEP_1_PK = "airlock_bundles_pkey"  # PostgreSQL's name for step 1's unnamed key
STEP_2_PK = "pk_airlock_bundles"


def _rekey_bundles(op: Operations, key: list[str], pk: str | None, keep: str) -> None:
    """Give ``airlock_bundles`` the primary key ``key``: on PostgreSQL in place; on SQLite,
    which cannot alter a key, a new table of the same shape (its DDL as ``op.create_table``
    writes it, not a renamed copy's), keeping the rows ``keep`` selects."""
    if op.get_bind().dialect.name == "sqlite":
        op.rename_table("airlock_bundles", "_airlock_bundles_before")
        _bundles(op, "airlock_bundles", key, pk)
        op.execute(  # constant SQL: nothing from outside the module
            f"INSERT INTO airlock_bundles ({BUNDLE_COLUMNS}) SELECT {BUNDLE_COLUMNS} "  # noqa: S608
            f"FROM _airlock_bundles_before {keep}"
        )
        op.drop_table("_airlock_bundles_before")
        return
    old = STEP_2_PK if pk != STEP_2_PK else STEP_1_PK
    if keep:
        kept = keep.removeprefix("WHERE ")
        op.execute(f"DELETE FROM airlock_bundles WHERE NOT ({kept})")  # noqa: S608 - constant
    op.drop_constraint(old, "airlock_bundles", type_="primary")
    op.create_primary_key(pk or STEP_1_PK, "airlock_bundles", key)


LATEST_ONLY = (
    "WHERE version = (SELECT MAX(b.version) FROM airlock_bundles b "
    "WHERE b.request_id = airlock_bundles.request_id)"
)


def _per_file_outcomes(op: Operations) -> None:
    op.add_column("airlock_versions", sa.Column("returned_by", sa.String(length=64)))
    op.add_column("airlock_versions", sa.Column("message", sa.Text()))
    op.add_column("airlock_versions", sa.Column("released", sa.JSON()))
    op.add_column("airlock_screens", sa.Column("headline", sa.Text()))
    op.add_column("airlock_screens", sa.Column("summary", sa.JSON()))
    _rekey_bundles(op, ["request_id", "version"], STEP_2_PK, "")
    # a version released before this step: its files, from its bundle's manifest
    bundles = sa.table(
        "airlock_bundles",
        sa.column("request_id"),
        sa.column("version"),
        sa.column("manifest", sa.JSON),
    )
    versions = sa.table(
        "airlock_versions",
        sa.column("request_id"),
        sa.column("version"),
        sa.column("released", sa.JSON),
    )
    bind = op.get_bind()
    for row in bind.execute(sa.select(bundles)).all():
        names = [f["name"] for f in (row.manifest or {}).get("files", [])]
        bind.execute(
            sa.update(versions)
            .where(versions.c.request_id == row.request_id, versions.c.version == row.version)
            .values(released=names)
        )


def _whole_request_outcomes(op: Operations) -> None:
    """Back to one bundle per request (its latest) and no per-file outcomes: a partly
    approved or returned version's outcome reads as changes requested."""
    op.execute(
        "UPDATE airlock_versions SET outcome = 'changes_requested' "
        "WHERE outcome = 'partly_approved'"
    )
    op.execute(
        "UPDATE airlock_requests SET state = 'changes_requested' WHERE state = 'partly_approved'"
    )
    keep = LATEST_ONLY
    if op.get_bind().dialect.name == "sqlite":  # the rows are read from the renamed table
        keep = keep.replace("airlock_bundles", "_airlock_bundles_before")
    _rekey_bundles(op, ["request_id"], None, keep)
    # SQLite (3.35 on) drops a column in place, leaving its DDL as it was before the step
    for name, dropped in (
        ("airlock_screens", ("summary", "headline")),
        ("airlock_versions", ("released", "message", "returned_by")),
    ):
        for each in dropped:
            op.drop_column(name, each)


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
        SchemaStep(
            2,
            "per-file outcomes: who returned a version and why, the files released from it; a "
            "pre-screen's headline and summary; one bundle per released version",
            _per_file_outcomes,
            _whole_request_outcomes,
        ),
    ),
)
