"""The airlock's tables, defined once for the hub's and every node's database (like
``audit.chain.define_audit_tables``); migration 0004 of each service creates them, and the
steps after it (``airlock.schema``) change them.

| table                 | one row per                                                      |
| --------------------- | ---------------------------------------------------------------- |
| ``airlock_requests``  | release request: author, scope, project, state, current version  |
| ``airlock_versions``  | version of a request: its files' hashes, submission, decision,   |
|                       | the files that went to consolidation; the checker who returned   |
|                       | it and their message; the files released from it                 |
| ``airlock_files``     | file of a version: type, context, sha256, size and the bytes     |
| ``airlock_screens``   | pre-screen report of a file of a version: verdict, headline,     |
|                       | summary (grouped) and detail                                     |
| ``airlock_votes``     | vote of a checker on a file of a version, in order (``seq``)     |
| ``airlock_bundles``   | release of a version: the signed manifest and the zip handed to  |
|                       | the author (a partly approved version's approved files, then a   |
|                       | later version's: several per request)                            |

Files are stored in the database, so a file and its audit event commit together and nothing
outside the database can change a file unnoticed: a release recomputes every file's sha256
from the stored bytes and refuses if it is not the approved one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    JSON,
    Column,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from fivesafes.storage.types import UTCDateTime


@dataclass(frozen=True)
class AirlockTables:
    requests: Table
    versions: Table
    files: Table
    screens: Table
    votes: Table
    bundles: Table


def _of_version() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["request_id", "version"], ["airlock_versions.request_id", "airlock_versions.version"]
    )


def define_airlock_tables(metadata: MetaData) -> AirlockTables:
    requests = Table(
        "airlock_requests",
        metadata,
        Column("id", String(64), primary_key=True),
        Column("scope", String(80), nullable=False),  # "hub" or "node:<name>"
        Column("author", String(64), nullable=False, index=True),
        Column("title", String(300), nullable=False),
        Column("project_id", String(64), nullable=True),
        Column("run_id", String(80), nullable=True),  # a node's held run it came from
        Column("state", String(32), nullable=False, index=True),
        Column("version", Integer, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("updated_at", UTCDateTime(), nullable=False),
    )
    versions = Table(
        "airlock_versions",
        metadata,
        Column("request_id", String(64), nullable=False),
        Column("version", Integer, nullable=False),
        Column("files", JSON, nullable=False),  # name -> sha256, as submitted
        Column("submitted_at", UTCDateTime(), nullable=True),
        Column("outcome", String(32), nullable=True),  # approved | changes_requested | rejected
        Column("decided_at", UTCDateTime(), nullable=True),
        Column("consolidated", JSON, nullable=True),  # files the checkers first disagreed on
        Column("returned_by", String(64), nullable=True),  # a checker who returned it whole
        Column("message", Text, nullable=True),  # their message to the author
        Column("released", JSON, nullable=True),  # names of the files released from it
        PrimaryKeyConstraint("request_id", "version"),
        ForeignKeyConstraint(["request_id"], ["airlock_requests.id"]),
    )
    files = Table(
        "airlock_files",
        metadata,
        Column("request_id", String(64), nullable=False),
        Column("version", Integer, nullable=False),
        Column("position", Integer, nullable=False),
        Column("name", String(255), nullable=False),
        Column("type", String(16), nullable=False),  # output | supporting | code
        Column("description", Text, nullable=False),
        Column("sha256", String(64), nullable=False),
        Column("size", Integer, nullable=False),
        Column("content", LargeBinary, nullable=False),
        PrimaryKeyConstraint("request_id", "version", "name"),
        _of_version(),
    )
    screens = Table(
        "airlock_screens",
        metadata,
        Column("request_id", String(64), nullable=False),
        Column("version", Integer, nullable=False),
        Column("name", String(255), nullable=False),
        Column("verdict", String(16), nullable=False),  # pass | review | fail | not checked
        Column("findings", JSON, nullable=False),  # the detail, each finding (capped)
        Column("headline", Text, nullable=True),  # the verdict in words
        Column("summary", JSON, nullable=True),  # the findings grouped by kind, and notes
        PrimaryKeyConstraint("request_id", "version", "name"),
        _of_version(),
    )
    votes = Table(
        "airlock_votes",
        metadata,
        Column("request_id", String(64), nullable=False),
        Column("version", Integer, nullable=False),
        Column("seq", Integer, nullable=False),  # the order votes were cast in this version
        Column("checker", String(64), nullable=False),
        Column("file", String(255), nullable=False),
        Column("vote", String(32), nullable=False),  # approve | request_changes | reject
        Column("comment", Text, nullable=False),
        Column("cast_at", UTCDateTime(), nullable=False),
        PrimaryKeyConstraint("request_id", "version", "seq"),
        _of_version(),
    )
    bundles = Table(
        "airlock_bundles",
        metadata,
        Column("request_id", String(64), nullable=False),
        Column("version", Integer, nullable=False),
        Column("manifest", JSON, nullable=False),
        Column("signature", String(128), nullable=False),
        Column("archive", LargeBinary, nullable=False),
        Column("released_at", UTCDateTime(), nullable=False),
        Column("released_by", String(64), nullable=False),
        PrimaryKeyConstraint("request_id", "version", name="pk_airlock_bundles"),
        _of_version(),
    )
    return AirlockTables(requests, versions, files, screens, votes, bundles)
