"""The pathology module's tables (``schema`` migrates them): a node's releases of slides for
review at other hospitals, and the hub's review store of the slides released to it.

| table            | where | one row per                                                    |
| ---------------- | ----- | -------------------------------------------------------------- |
| ``slide_releases`` | node | slide a custodian released for a project: its release id (the |
|                  |       | slide's name outside the node), the models whose predictions  |
|                  |       | go with it, its state (approved, then pushed; withdrawn), who |
|                  |       | decided, and what was pushed (bytes, tiles, a checksum)       |
| ``slide_reviews`` | hub  | slide a node pushed for a project: the node, its allow-listed |
|                  |       | facts, the pack's size and checksum, how much has arrived,    |
|                  |       | and its state (receiving, ready; deleted, and why)            |

A release's row is updated as it moves on (approved, pushed, withdrawn); the audit log keeps
each step. The slide's own id at the node never reaches the hub: the release id is a keyed
pseudonym of the project and the slide (``releases.release_id``).
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Integer, MetaData, PrimaryKeyConstraint, String, Table

from fivesafes.storage.types import UTCDateTime


def define_release_tables(metadata: MetaData) -> Table:
    return Table(
        "slide_releases",
        metadata,
        Column("release_id", String(32), nullable=False),
        Column("project_id", String(64), nullable=False, index=True),
        Column("slide_id", String(32), nullable=False),  # the node's own id of the slide
        Column("models", JSON, nullable=False),  # models whose predictions go with it
        Column("state", String(16), nullable=False),  # approved | pushed | withdrawn
        Column("decided_by", String(128), nullable=False),
        Column("decided_at", UTCDateTime(), nullable=False),
        Column("pushed_at", UTCDateTime(), nullable=True),
        Column("bytes", Integer, nullable=True),
        Column("tiles", Integer, nullable=True),
        Column("sha256", String(64), nullable=True),
        Column("withdrawn_by", String(128), nullable=True),
        Column("withdrawn_at", UTCDateTime(), nullable=True),
        Column("reason", String(1000), nullable=True),
        Column("hub_told", Boolean, nullable=False, default=False),  # of the withdrawal
        PrimaryKeyConstraint("release_id", name="pk_slide_releases"),
    )


def define_review_tables(metadata: MetaData) -> Table:
    return Table(
        "slide_reviews",
        metadata,
        Column("review_id", String(32), nullable=False),  # the node's release id
        Column("node", String(64), nullable=False),
        Column("project_id", String(64), nullable=False, index=True),
        Column("state", String(16), nullable=False),  # receiving | ready | deleted
        Column("facts", JSON, nullable=False),  # the pack's allow-listed facts
        Column("bytes", Integer, nullable=False),
        Column("sha256", String(64), nullable=False),
        Column("received", Integer, nullable=False),  # bytes arrived so far
        Column("offered_at", UTCDateTime(), nullable=False),
        Column("ready_at", UTCDateTime(), nullable=True),
        Column("deleted_at", UTCDateTime(), nullable=True),
        Column("reason", String(1000), nullable=True),  # why it was deleted
        PrimaryKeyConstraint("review_id", name="pk_slide_reviews"),
    )
