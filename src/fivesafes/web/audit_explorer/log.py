"""The audit explorer's reading of a service's log: the events a filter asks for, newest first,
a page at a time, each marked with what the verifier (``fivesafes.audit.verify``) found broken
there.

A page is reached by the event it starts below (``before``: the links to newer and older pages,
steady while new events are appended) or by its number from the newest (``page``). Nothing here
writes: the explorer reads in a read-only transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from fivesafes.audit.chain import AuditTables
from fivesafes.audit.events import AuditEventType
from fivesafes.audit.verify import Problem
from fivesafes.protocol.errors import InvalidRequest

PAGE_SIZE = 50  # events on a page unless the link asks for 10 to 500
DETAILS_SHOWN = 300  # characters of an event's details shown in the table
HIDDEN_DETAILS = ("signature",)  # a checkpoint's signature: the verification says if it holds
EVENT_TYPES = tuple(sorted(t.value for t in AuditEventType))
FILTERS = ("event_type", "actor", "project_id", "node", "task_id", "since", "until", "to_event")


@dataclass(frozen=True)
class AuditQuery:
    """What the explorer's form and links ask for; every filter optional."""

    event_type: str | None = None
    actor: str | None = None
    project_id: str | None = None
    node: str | None = None
    task_id: str | None = None
    since: date | None = None
    until: date | None = None
    to_event: int | None = None  # events up to this number (a link to a broken event)
    before: int | None = None  # the page of events older than this number
    page: int = 1  # or the page with this number, counted from the newest
    size: int = PAGE_SIZE

    def __post_init__(self) -> None:
        if self.event_type is not None and self.event_type not in EVENT_TYPES:
            raise InvalidRequest("Choose an event type from the list.")
        if self.since and self.until and self.since > self.until:
            raise InvalidRequest("The 'from' date is after the 'to' date.")

    def query_string(self, **paging: int | None) -> str:
        """The filters as URL parameters (for the pager's links), then ``paging`` (``before``)
        and the page size unless it is the usual one."""
        values = {**{name: getattr(self, name) for name in FILTERS}, **paging}
        if self.size != PAGE_SIZE:
            values["size"] = self.size
        return urlencode({k: v.isoformat() if isinstance(v, date) else v
                          for k, v in values.items() if v not in (None, "")})  # fmt: skip

    def conditions(self, tables: AuditTables) -> list[ColumnElement[bool]]:
        e = tables.events.c
        wanted = [e[name] == getattr(self, name) for name in FILTERS[:5] if getattr(self, name)]
        if self.since:
            wanted.append(e.at >= _start(self.since))
        if self.until:
            wanted.append(e.at < _start(self.until + timedelta(days=1)))
        if self.to_event is not None:
            wanted.append(e.seq <= self.to_event)
        return wanted


@dataclass(frozen=True)
class Shown:
    """One event as the explorer shows it; ``broken`` lists what the verifier found there."""

    seq: int
    at: datetime
    event_type: str
    actor: str
    project_id: str | None
    node: str | None
    task_id: str | None
    run_id: str | None
    outcome: str
    details: str
    broken: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EventsPage:
    events: list[Shown]
    total: int  # events matching the filters
    page: int  # this page's number, counted from the newest
    pages: int
    older: int | None  # the ``before`` of the next older page, if there is one
    newer: int | None  # the ``before`` of the next newer page, unless that is the newest


def events_page(
    session: Session, tables: AuditTables, wanted: AuditQuery, problems: Iterable[Problem] = ()
) -> EventsPage:
    e = tables.events.c
    where = wanted.conditions(tables)
    size = wanted.size
    total = _count(session, tables, where)
    pages = max(1, -(-total // size))
    query = select(tables.events).where(*where).order_by(e.seq.desc()).limit(size)
    if wanted.before is not None:
        newer = _count(session, tables, [*where, e.seq >= wanted.before])
        query = query.where(e.seq < wanted.before)
    else:
        newer = (min(wanted.page, pages) - 1) * size
        query = query.offset(newer)
    rows = list(session.execute(query).mappings())
    marks: dict[int, list[str]] = {}
    for problem in problems:
        marks.setdefault(problem.seq, []).append(problem.what)
    top = wanted.before if wanted.before is not None else rows[0]["seq"] + 1 if rows else 1
    return EventsPage(
        events=[_shown(row, marks.get(row["seq"], [])) for row in rows],
        total=total,
        page=min(pages, -(-newer // size) + 1),
        pages=pages,
        older=rows[-1]["seq"] if rows and newer + len(rows) < total else None,
        newer=_newer(session, tables, where, top, size) if newer > size else None,
    )


def _newer(
    session: Session, tables: AuditTables, where: list[ColumnElement[bool]], top: int, size: int
) -> int | None:
    """The ``before`` of the page just newer than the events below ``top``: the event after
    that page's ``size`` events."""
    seq = tables.events.c.seq
    found = select(seq).where(*where, seq >= top).order_by(seq).offset(size).limit(1)
    return session.execute(found).scalar()


def _count(session: Session, tables: AuditTables, where: list[ColumnElement[bool]]) -> int:
    return int(session.execute(select(func.count()).where(*where)
                               .select_from(tables.events)).scalar_one())  # fmt: skip


def _start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _shown(row: Any, broken: list[str]) -> Shown:
    names = ("seq", "at", "event_type", "actor", "project_id", "node", "task_id", "run_id")
    return Shown(**{name: row[name] for name in names}, outcome=row["outcome"],
                 details=_details(row["details"]), broken=broken)  # fmt: skip


def _details(value: Any) -> str:
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k not in HIDDEN_DETAILS}
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    if text in ("{}", "null"):
        return ""
    return text if len(text) <= DETAILS_SHOWN else text[: DETAILS_SHOWN - 1] + "…"
