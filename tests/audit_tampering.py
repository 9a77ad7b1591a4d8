"""What an attacker with write access to a service's database can do to its audit log: read
the events, change them, and write them back with or without re-computing every hash."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from fivesafes.audit.chain import GENESIS_HASH, AuditTables, _fields, event_hash

Row = dict[str, Any]


def read_rows(session: Session, tables: AuditTables) -> list[Row]:
    query = select(tables.events).order_by(tables.events.c.seq)
    return [dict(r) for r in session.execute(query).mappings()]


def write_rows(
    session: Session, tables: AuditTables, rows: list[Row], *, move_head: bool = False
) -> None:
    """Replace every event with ``rows``; with ``move_head`` the head record follows them."""
    session.execute(delete(tables.events))
    if rows:
        session.execute(tables.events.insert(), rows)
    if move_head:
        last = rows[-1] if rows else {"seq": 0, "hash": GENESIS_HASH}
        session.execute(
            update(tables.head)
            .where(tables.head.c.id == 1)
            .values(seq=last["seq"], hash=last["hash"])
        )


def rehashed(rows: list[Row]) -> list[Row]:
    """``rows`` renumbered from 1 and chained again: a rewrite no hash alone can show."""
    out, prev = [], GENESIS_HASH
    for seq, row in enumerate(rows, start=1):
        fresh = {**row, "seq": seq, "prev_hash": prev}
        fresh["hash"] = event_hash(prev, _fields(fresh))
        out.append(fresh)
        prev = fresh["hash"]
    return out


def reset(session: Session, tables: AuditTables) -> None:
    session.execute(delete(tables.events))
    session.execute(delete(tables.head))
