"""An append-only, hash-chained event log kept in the service's own database.

Each event stores the hash of the event before it; the hash covers every stored field. The head
of the chain lives in a one-row table that every append locks, so concurrent writers queue up
instead of forking the chain. Appends happen inside the caller's transaction: the state change
and its audit event commit together or not at all.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Update,
    bindparam,
    select,
    update,
)
from sqlalchemy.orm import Session

from fivesafes.audit.events import AuditEventType
from fivesafes.protocol.signing import canonical_json
from fivesafes.storage.types import UTCDateTime

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class AuditTables:
    events: Table
    head: Table
    # the three statements of an append, built once (appends are on every state change)
    read_head: Select[tuple[int, str]] = field(init=False, repr=False, compare=False)
    move_head: Update = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        head = self.head.c
        read = select(head.seq, head.hash).where(head.id == 1).with_for_update()
        move = (
            update(self.head)
            .where(head.id == 1)
            .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
        )
        object.__setattr__(self, "read_head", read)
        object.__setattr__(self, "move_head", move)


def define_audit_tables(metadata: MetaData) -> AuditTables:
    events = Table(
        "audit_events",
        metadata,
        Column("seq", Integer, primary_key=True, autoincrement=False),
        Column("at", UTCDateTime(), nullable=False),
        Column("event_type", String(64), nullable=False),
        Column("actor", String(128), nullable=False),
        Column("project_id", String(64), nullable=True),
        Column("node", String(64), nullable=True),
        Column("task_id", String(64), nullable=True),
        Column("run_id", String(64), nullable=True),
        Column("outcome", String(64), nullable=False),
        Column("details", JSON, nullable=False),
        Column("prev_hash", String(64), nullable=False),
        Column("hash", String(64), nullable=False),
    )
    head = Table(
        "audit_head",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("seq", Integer, nullable=False),
        Column("hash", String(64), nullable=False),
    )
    return AuditTables(events=events, head=head)


def event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical_json(fields)).hexdigest()


def _fields(row: dict[str, Any]) -> dict[str, Any]:
    at = row["at"]
    if at.tzinfo is None:  # SQLite returns naive datetimes; every stored time is UTC
        at = at.replace(tzinfo=UTC)
    return {
        "seq": row["seq"],
        "at": at.isoformat(),
        "event_type": row["event_type"],
        "actor": row["actor"],
        "project_id": row["project_id"],
        "node": row["node"],
        "task_id": row["task_id"],
        "run_id": row["run_id"],
        "outcome": row["outcome"],
        "details": row["details"],
    }


def append_event(
    session: Session,
    tables: AuditTables,
    event_type: AuditEventType,
    *,
    by: str,
    outcome: str = "ok",
    project_id: str | None = None,
    node: str | None = None,
    task_id: str | None = None,
    run_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Append one event in the caller's transaction and return its sequence number.

    The caller's pending changes are flushed first (as an ORM query would), so rows are locked
    in the same order as before the head; the append itself goes straight to the connection
    with statements built once."""
    session.flush()
    connection = session.connection()
    head = connection.execute(tables.read_head).one_or_none()
    if head is None:
        connection.execute(tables.head.insert().values(id=1, seq=0, hash=GENESIS_HASH))
        prev_seq, prev_hash = 0, GENESIS_HASH
    else:
        prev_seq, prev_hash = head.seq, head.hash
    row: dict[str, Any] = {
        "seq": prev_seq + 1,
        "at": datetime.now(UTC).replace(microsecond=0),
        "event_type": AuditEventType(event_type).value,
        "actor": by,
        "project_id": project_id,
        "node": node,
        "task_id": task_id,
        "run_id": run_id,
        "outcome": outcome,
        "details": details or {},
    }
    digest = event_hash(prev_hash, _fields(row))
    connection.execute(tables.events.insert(), {**row, "prev_hash": prev_hash, "hash": digest})
    connection.execute(tables.move_head, {"new_seq": row["seq"], "new_hash": digest})
    return int(row["seq"])


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    problem: str | None = None
    at_seq: int | None = None


def verify_chain(session: Session, tables: AuditTables) -> ChainReport:
    """Walk the chain from the start; report the first edited, missing or reordered event."""
    prev_hash, expected_seq, count = GENESIS_HASH, 1, 0
    rows = session.execute(select(tables.events).order_by(tables.events.c.seq)).mappings()
    for row in rows:
        data = dict(row)
        if data["seq"] != expected_seq:
            return ChainReport(False, count, "an event is missing or was inserted", expected_seq)
        if data["prev_hash"] != prev_hash:
            return ChainReport(
                False, count, "the link to the previous event is broken", data["seq"]
            )
        if event_hash(prev_hash, _fields(data)) != data["hash"]:
            return ChainReport(False, count, "the event was edited", data["seq"])
        prev_hash, expected_seq, count = data["hash"], expected_seq + 1, count + 1
    head = (
        session.execute(select(tables.head).where(tables.head.c.id == 1)).mappings().one_or_none()
    )
    if head is not None and (head["seq"] != count or head["hash"] != prev_hash):
        return ChainReport(False, count, "events after the last one were deleted", count + 1)
    return ChainReport(True, count)
