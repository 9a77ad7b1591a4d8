"""A hub's review studies, in its database (``schema`` migrates them: the hub's revision 0007).

| table                    | one row per                                                    |
| ------------------------ | -------------------------------------------------------------- |
| ``review_studies``       | study: its project, current design (JSON) and version, state,  |
|                          | lead, pseudonym key and allocation seed (never shown or sent)  |
| ``review_study_approvals`` | node's custodian approval of a study: the version's digest,  |
|                          | who and when (a later approval replaces it)                    |
| ``review_study_cases``   | case: its pseudonym in the study, the review store's slide, and |
|                          | its hospital (for allocation and per-site results only)        |
| ``review_study_reads``   | read of a case by a reader: place in the worklist, condition,  |
|                          | state, answers (unaided, aided, feedback), times, time on case |
| ``review_study_facts``   | released slide of a study's node: the clinical facts its case  |
|                          | may show, as the node computed and gated them (step 2)         |

A read's row is updated as it moves on; the audit log keeps each step, without the answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
)

from fivesafes.storage.types import UTCDateTime


@dataclass(frozen=True)
class StudyTables:
    studies: Table
    approvals: Table
    cases: Table
    reads: Table
    facts: Table


def define_study_tables(metadata: MetaData) -> StudyTables:
    studies = Table(
        "review_studies",
        metadata,
        Column("study_id", String(32), nullable=False),
        Column("project_id", String(64), nullable=False, index=True),
        Column("design", JSON, nullable=False),
        Column("version", Integer, nullable=False),
        Column("state", String(16), nullable=False),
        Column("key", LargeBinary, nullable=False),
        Column("seed", Integer, nullable=False),
        Column("created_by", String(128), nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("locked_at", UTCDateTime(), nullable=True),
        PrimaryKeyConstraint("study_id", name="pk_review_studies"),
    )
    approvals = Table(
        "review_study_approvals",
        metadata,
        Column("study_id", String(32), nullable=False),
        Column("node", String(64), nullable=False),
        Column("digest", String(64), nullable=False),
        Column("approved_by", String(128), nullable=False),
        Column("approved_at", UTCDateTime(), nullable=False),
        PrimaryKeyConstraint("study_id", "node", name="pk_review_study_approvals"),
    )
    cases = Table(
        "review_study_cases",
        metadata,
        Column("study_id", String(32), nullable=False),
        Column("case", String(32), nullable=False),
        Column("review_id", String(32), nullable=False),
        Column("site", String(64), nullable=False),
        PrimaryKeyConstraint("study_id", "case", name="pk_review_study_cases"),
    )
    reads = Table(
        "review_study_reads",
        metadata,
        Column("read_id", String(32), nullable=False),
        Column("study_id", String(32), nullable=False),
        Column("reader", String(128), nullable=False),
        Column("case", String(32), nullable=False),
        Column("position", Integer, nullable=False),
        Column("condition", String(16), nullable=False),
        Column("reread", Boolean, nullable=False),
        Column("state", String(16), nullable=False),
        Column("unaided", JSON, nullable=True),
        Column("aided", JSON, nullable=True),
        Column("feedback", JSON, nullable=False),
        Column("opened_at", UTCDateTime(), nullable=True),
        Column("locked_at", UTCDateTime(), nullable=True),
        Column("revealed_at", UTCDateTime(), nullable=True),
        Column("submitted_at", UTCDateTime(), nullable=True),
        Column("seconds", Integer, nullable=False),
        PrimaryKeyConstraint("read_id", name="pk_review_study_reads"),
        Index("ix_review_study_reads_study_reader", "study_id", "reader"),
    )
    facts = Table(
        "review_study_facts",
        metadata,
        Column("study_id", String(32), nullable=False),
        Column("review_id", String(32), nullable=False),
        Column("facts", JSON, nullable=False),
        PrimaryKeyConstraint("study_id", "review_id", name="pk_review_study_facts"),
    )
    return StudyTables(studies, approvals, cases, reads, facts)
