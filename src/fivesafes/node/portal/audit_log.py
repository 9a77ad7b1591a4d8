"""The audit explorer's reading of the node's log: a page of events by filter, newest first,
and the verification of the whole chain and its signed checkpoints (``audit.verify``), so that
each event the verifier found broken is marked where it is shown.

Nothing here writes: the explorer reads in a read-only transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fivesafes.audit.chain import AuditTables
from fivesafes.audit.events import AuditEventType
from fivesafes.audit.verify import Problem
from fivesafes.protocol.errors import InvalidRequest

PAGE_SIZE = 50
DETAILS_SHOWN = 300  # characters of an event's details shown in the table


@dataclass(frozen=True)
class AuditFilter:
    """What the explorer's form asks for; every field optional."""

    event_type: str | None = None
    actor: str | None = None
    project_id: str | None = None
    since: date | None = None
    until: date | None = None
    to_event: int | None = None  # events up to this number (a link to a broken event)
    page: int = 1

    def __post_init__(self) -> None:
        if self.event_type is not None and self.event_type not in EVENT_TYPES:
            raise InvalidRequest("Choose an event type from the list.")
        if self.since and self.until and self.since > self.until:
            raise InvalidRequest("The 'from' date is after the 'to' date.")

    def query_string(self, **changes: Any) -> str:
        """The filter as URL parameters (for the pager's links), with ``changes``."""
        values = {
            "event_type": self.event_type,
            "actor": self.actor,
            "project_id": self.project_id,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "to_event": self.to_event,
            "page": self.page,
            **changes,
        }
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})


EVENT_TYPES = tuple(sorted(t.value for t in AuditEventType))


@dataclass(frozen=True)
class Shown:
    """One event as the explorer shows it; ``broken`` lists what the verifier found there."""

    seq: int
    at: datetime
    event_type: str
    actor: str
    project_id: str | None
    task_id: str | None
    run_id: str | None
    outcome: str
    details: str
    broken: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EventsPage:
    events: list[Shown]
    total: int  # events matching the filter
    page: int
    pages: int


def _start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def events_page(
    session: Session, tables: AuditTables, wanted: AuditFilter, problems: Iterable[Problem] = ()
) -> EventsPage:
    e = tables.events.c
    conditions = []
    if wanted.event_type:
        conditions.append(e.event_type == wanted.event_type)
    if wanted.actor:
        conditions.append(e.actor == wanted.actor)
    if wanted.project_id:
        conditions.append(e.project_id == wanted.project_id)
    if wanted.since:
        conditions.append(e.at >= _start(wanted.since))
    if wanted.until:
        conditions.append(e.at < _start(wanted.until + timedelta(days=1)))
    if wanted.to_event is not None:
        conditions.append(e.seq <= wanted.to_event)
    total = int(session.execute(select(func.count()).where(*conditions)
                                .select_from(tables.events)).scalar_one())  # fmt: skip
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(wanted.page, pages)
    rows = session.execute(
        select(tables.events)
        .where(*conditions)
        .order_by(e.seq.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).mappings()
    where: dict[int, list[str]] = {}
    for problem in problems:
        where.setdefault(problem.seq, []).append(problem.what)
    shown = [
        Shown(
            seq=row["seq"],
            at=row["at"],
            event_type=row["event_type"],
            actor=row["actor"],
            project_id=row["project_id"],
            task_id=row["task_id"],
            run_id=row["run_id"],
            outcome=row["outcome"],
            details=_details(row["details"]),
            broken=where.get(row["seq"], []),
        )
        for row in rows
    ]
    return EventsPage(shown, total, page, pages)


def _details(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    if text in ("{}", "null"):
        return ""
    return text if len(text) <= DETAILS_SHOWN else text[: DETAILS_SHOWN - 1] + "…"
