"""A domain module's store port and the base of its two implementations.

A module's store is one transaction's view of its records: its actions load, change and save
them and write their audit events through the same store, so the change and its events
commit together or not at all. A module writes its port as a ``Protocol`` that extends
:class:`Audited`, and two implementations:

    class MemoryThings(MemoryStore[_Records]): ...        # tests, and a quick look at the rules
    class SqlThings(SqlStore): ...                          # the service's database

A :class:`Unit` runs ``work`` on a fresh store in one transaction: ``MemoryStore.transaction``
for the memory store, :class:`SqlUnit` over a service's ``unit`` for the SQL one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy.orm import Session

from fivesafes.audit.chain import AuditTables, append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.storage.types import utcnow
from fivesafes.storage.units import SessionUnit, Unit

T = TypeVar("T")
S = TypeVar("S")
R = TypeVar("R")

__all__ = [
    "AuditRecord", "Audited", "MemoryStore", "SessionUnit", "SqlStore", "SqlUnit", "Unit",
]  # fmt: skip


@dataclass(frozen=True)
class AuditRecord:
    """An audit event as a module's action hands it to its store."""

    type: AuditEventType
    by: str
    details: dict[str, Any]
    outcome: str = "ok"
    project_id: str | None = None
    node: str | None = None  # the node whose records these are (None at the hub)


class Audited(Protocol):
    """What every module's store port has: an audit event written in its transaction."""

    def audit(self, record: AuditRecord) -> None: ...


class MemoryStore(Generic[R]):
    """The base of a module's in-memory store: its records (one object, copied whole) and the
    audit events written with them; :meth:`transaction` is the all-or-nothing unit the SQL
    store gets from its database."""

    def __init__(self, records: R, clock: Callable[[], datetime] = utcnow) -> None:
        self._records = records
        self._events: list[AuditRecord] = []
        self._clock = clock

    @property
    def events(self) -> list[AuditRecord]:
        """The audit events committed so far, oldest first."""
        return list(self._events)

    def transaction(self, work: Callable[[Any], T]) -> T:
        before = copy.deepcopy((self._records, self._events))
        try:
            return work(self)
        except BaseException:
            self._records, self._events = before
            raise

    def audit(self, record: AuditRecord) -> None:
        self._events.append(record)


class SqlStore:
    """The base of a module's SQL store: the transaction's session and the service's audit
    tables; it does nothing until asked."""

    def __init__(
        self,
        session: Session,
        audit_tables: AuditTables,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._s = session
        self._audit = audit_tables
        self._clock = clock

    def audit(self, record: AuditRecord) -> None:
        append_event(
            self._s,
            self._audit,
            record.type,
            by=record.by,
            outcome=record.outcome,
            project_id=record.project_id,
            node=record.node,
            details=record.details,
        )


class SqlUnit(Generic[S]):
    """A service's transactions (``ServiceCore.unit``) as a module's: each runs on a fresh
    store (``store(session)``) over the transaction's session."""

    def __init__(self, unit: SessionUnit, store: Callable[[Session], S]) -> None:
        self._unit = unit
        self._store = store

    def __call__(self, work: Callable[[S], T]) -> T:
        return self._unit(lambda session: work(self._store(session)))
