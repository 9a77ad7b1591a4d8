"""The extracts module's tables, in a node's database (``schema`` migrates them; the node's
revision 0008 applies step 1).

| table                    | one row per                                                   |
| ------------------------ | ------------------------------------------------------------- |
| ``extraction_approvals`` | decision of a node's custodian on extraction for a project,   |
|                          | in order (``seq``): approved (the profile and the options     |
|                          | allowed) or revoked (and why); the latest row is the current  |
|                          | state, the earlier ones the history                           |

A decision is never updated: a new one is a new row, so the history is the table.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import JSON, Column, Integer, MetaData, PrimaryKeyConstraint, String, Table

from fivesafes.storage.types import UTCDateTime


@dataclass(frozen=True)
class ExtractsTables:
    approvals: Table


def define_extracts_tables(metadata: MetaData) -> ExtractsTables:
    approvals = Table(
        "extraction_approvals",
        metadata,
        Column("project_id", String(64), nullable=False),
        Column("seq", Integer, nullable=False),  # 1, 2, ... the project's decisions in order
        Column("state", String(16), nullable=False),  # approved | revoked
        Column("profile", String(32), nullable=False),  # "basic": PS3.15 Annex E's Basic
        Column("options", JSON, nullable=False),  # option names allowed (OPTION_NAMES)
        Column("decided_by", String(128), nullable=False),
        Column("decided_at", UTCDateTime(), nullable=False),
        Column("reason", String(1000), nullable=True),  # why it was revoked
        PrimaryKeyConstraint("project_id", "seq", name="pk_extraction_approvals"),
    )
    return ExtractsTables(approvals)
