"""The extracts module's tables, in a node's database (``schema`` migrates them; the node's
revision 0008 applies step 1, revision 0009 step 2).

| table                    | one row per                                                   |
| ------------------------ | ------------------------------------------------------------- |
| ``extraction_approvals`` | decision of a node's custodian on extraction for a project,   |
|                          | in order (``seq``): approved (the profile and the options     |
|                          | allowed) or revoked (and why); the latest row is the current  |
|                          | state, the earlier ones the history                           |
| ``extracts``             | extract the node built for a task (its id is the task's): the |
|                          | options used, its folder under the node's extracts root, the  |
|                          | build's counts, the persons' person_ids, and its state: held, |
|                          | then released or withdrawn (by whom, when, why)               |

A decision is never updated: a new one is a new row, so the history is the table. An extract's
row is updated once, when an output checker (or its requester) decides it; the audit log keeps
each step.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import JSON, Column, Integer, MetaData, PrimaryKeyConstraint, String, Table

from fivesafes.storage.types import UTCDateTime


@dataclass(frozen=True)
class ExtractsTables:
    approvals: Table
    extracts: Table


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
    extracts = Table(
        "extracts",
        metadata,
        Column("extract_id", String(64), nullable=False),  # the task's id
        Column("project_id", String(64), nullable=False, index=True),
        Column("task_id", String(64), nullable=False),
        Column("requester", String(64), nullable=False),  # the researcher's username
        Column("state", String(16), nullable=False),  # held | released | withdrawn
        Column("options", JSON, nullable=False),  # option names used (OPTION_NAMES)
        Column("folder", String(500), nullable=False),  # relative to the extracts root
        Column("report", JSON, nullable=False),  # counts only
        Column("persons", JSON, nullable=False),  # person_ids (as text) whose files were written
        Column("created_at", UTCDateTime(), nullable=False),
        Column("decided_by", String(64), nullable=True),
        Column("decided_at", UTCDateTime(), nullable=True),
        Column("reason", String(1000), nullable=True),  # why it was withdrawn
        PrimaryKeyConstraint("extract_id", name="pk_extracts"),
    )
    return ExtractsTables(approvals, extracts)
