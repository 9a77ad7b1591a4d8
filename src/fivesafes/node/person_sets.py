"""The person-set store: the persons behind every output a node released, per project.

It answers three questions: which populations has this project released (the differencing
check, ``fivesafes.sdc.differencing``); what was the released answer to this exact query (an
identical query gets the identical answer, never a fresh one); and in which projects did one
person's record contribute to a released output (the patient data account).

One row per (project, canonical output key): the first release wins. Recording the same key
again from the same run is a no-op (a retried step); from another run it is a ``Conflict``.
Sets hold 32-bit pseudonymous ids (see ``person_set``); nothing here logs or raises with one.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from pyroaring import AbstractBitMap, BitMap, FrozenBitMap
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.node.person_set_db import PersonSetRow
from fivesafes.protocol.errors import Conflict
from fivesafes.sdc.differencing import MAX_PERSON_ID, PersonIdOutOfRange, ReleasedSet
from fivesafes.storage.engine import transaction
from fivesafes.storage.types import utcnow


@dataclass(frozen=True)
class PersonRelease:
    """One released output a person is behind (the patient data account's line)."""

    project_id: str
    output_key: str
    run_id: str
    recorded_at: datetime


class OutputAlreadyRecorded(Conflict):
    def __init__(self) -> None:
        super().__init__("this project already released an output with this key")


class PersonSetStore(Protocol):
    def record(
        self,
        project_id: str,
        output_key: str,
        run_id: str,
        persons: AbstractBitMap,
        released_answer: dict[str, Any],
    ) -> None: ...

    def released_sets(self, project_id: str) -> list[ReleasedSet]:
        """The project's released sets, in the order they were recorded."""
        ...

    def answer_for(self, project_id: str, output_key: str) -> dict[str, Any] | None: ...

    def projects_for_person(self, person_id: int) -> list[str]:
        """Sorted ids of the projects with a released output this person is behind."""
        ...

    def releases_for_person(self, person_id: int) -> list[PersonRelease]:
        """Every released output this person is behind, in the order they were recorded."""
        ...


def _check_person_id(person_id: int) -> None:
    if isinstance(person_id, bool) or not isinstance(person_id, int):
        raise PersonIdOutOfRange("a person id must be an integer")
    if not 0 <= person_id <= MAX_PERSON_ID:
        raise PersonIdOutOfRange("a person id must lie in 0..2**32-1")


class InMemoryPersonSetStore:
    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], tuple[str, FrozenBitMap, dict[str, Any]]] = {}
        self._recorded_at: dict[tuple[str, str], datetime] = {}

    def record(
        self,
        project_id: str,
        output_key: str,
        run_id: str,
        persons: AbstractBitMap,
        released_answer: dict[str, Any],
    ) -> None:
        existing = self._rows.get((project_id, output_key))
        if existing is not None:
            if existing[0] != run_id:
                raise OutputAlreadyRecorded()
            return
        row = (run_id, FrozenBitMap(persons), copy.deepcopy(released_answer))
        self._rows[(project_id, output_key)] = row
        self._recorded_at[(project_id, output_key)] = utcnow()

    def released_sets(self, project_id: str) -> list[ReleasedSet]:
        return [
            ReleasedSet(key, run_id, persons)
            for (project, key), (run_id, persons, _) in self._rows.items()
            if project == project_id
        ]

    def answer_for(self, project_id: str, output_key: str) -> dict[str, Any] | None:
        row = self._rows.get((project_id, output_key))
        return None if row is None else copy.deepcopy(row[2])

    def projects_for_person(self, person_id: int) -> list[str]:
        _check_person_id(person_id)
        return sorted({p for (p, _), (_, persons, _) in self._rows.items() if person_id in persons})

    def releases_for_person(self, person_id: int) -> list[PersonRelease]:
        _check_person_id(person_id)
        return [
            PersonRelease(project, key, run_id, self._recorded_at[(project, key)])
            for (project, key), (run_id, persons, _) in self._rows.items()
            if person_id in persons
        ]


# Every release reads the project's earlier answer and its new sets (in the worker) and
# records its own set (in the agent): these statements are built once.
_SETS = PersonSetRow.metadata.tables[PersonSetRow.__tablename__]
_KEY = (_SETS.c.project_id == bindparam("project_id"), _SETS.c.output_key == bindparam("key"))
_ANSWER = select(_SETS.c.released_answer).where(*_KEY)
_RECORDED_BY = select(_SETS.c.run_id).where(*_KEY)
_RECORDED_SINCE = (
    select(_SETS.c.seq, _SETS.c.output_key, _SETS.c.run_id, _SETS.c.persons)
    .where(_SETS.c.project_id == bindparam("project_id"), _SETS.c.seq > bindparam("after"))
    .order_by(_SETS.c.seq)
)
_RECORD = _SETS.insert()


class SqlPersonSetStore:
    """The store in the node's state database (table ``person_sets``, migration 0002).

    ``released_sets`` keeps each project's sets in memory and reads only the rows recorded
    since (``seq`` only grows): the worker process that checks every release for differencing
    would otherwise read and decode the project's whole history at every release. Rows are
    never deleted, and if one were, the kept sets would be a superset of the table's: the
    check could only refuse more, never less."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._kept: dict[str, tuple[int, list[ReleasedSet]]] = {}
        self._lock = threading.Lock()

    def record(
        self,
        project_id: str,
        output_key: str,
        run_id: str,
        persons: AbstractBitMap,
        released_answer: dict[str, Any],
    ) -> None:
        try:
            with transaction(self._sessions) as session:
                record_person_set(session, project_id, output_key, run_id, persons, released_answer)
        except IntegrityError:  # a concurrent writer recorded the same key first
            with transaction(self._sessions, read_only=True) as session:
                if _row(session, project_id, output_key, run_id) is None:
                    raise OutputAlreadyRecorded() from None

    def released_sets(self, project_id: str) -> list[ReleasedSet]:
        with self._lock:
            last, kept = self._kept.get(project_id, (0, []))
            with transaction(self._sessions, read_only=True) as session:
                rows = (
                    session.connection()
                    .execute(_RECORDED_SINCE, {"project_id": project_id, "after": last})
                    .all()
                )
            if rows:
                kept = kept + [
                    ReleasedSet(key, run, FrozenBitMap.deserialize(blob))
                    for _, key, run, blob in rows
                ]
                self._kept[project_id] = (rows[-1][0], kept)
            return list(kept)

    def answer_for(self, project_id: str, output_key: str) -> dict[str, Any] | None:
        with transaction(self._sessions, read_only=True) as session:
            # only the answer, decoded afresh (the caller may change it): not the persons
            answer: dict[str, Any] | None = (
                session.connection()
                .execute(_ANSWER, {"project_id": project_id, "key": output_key})
                .scalar()
            )
            return answer

    def projects_for_person(self, person_id: int) -> list[str]:
        """Reads every stored set: bitmaps cannot be searched in SQL (O(total size))."""
        _check_person_id(person_id)
        query = select(PersonSetRow.project_id, PersonSetRow.persons)
        found: set[str] = set()
        with transaction(self._sessions, read_only=True) as session:
            for project_id, blob in session.execute(query.execution_options(yield_per=500)):
                if project_id not in found and person_id in BitMap.deserialize(blob):
                    found.add(project_id)
        return sorted(found)

    def releases_for_person(self, person_id: int) -> list[PersonRelease]:
        """Reads every stored set, as ``projects_for_person`` does."""
        _check_person_id(person_id)
        row = PersonSetRow
        query = select(
            row.project_id, row.output_key, row.run_id, row.recorded_at, row.persons
        ).order_by(row.seq)
        found = []
        with transaction(self._sessions, read_only=True) as session:
            for project_id, key, run_id, at, blob in session.execute(
                query.execution_options(yield_per=500)
            ):
                if person_id in BitMap.deserialize(blob):
                    found.append(PersonRelease(project_id, key, run_id, at))
        return found


def record_person_set(
    session: Session,
    project_id: str,
    output_key: str,
    run_id: str,
    persons: AbstractBitMap,
    released_answer: dict[str, Any],
) -> None:
    """Record inside a caller's transaction (so the release and its audit event commit together)."""
    recorded_by = session.execute(_RECORDED_BY, {"project_id": project_id, "key": output_key})
    existing = recorded_by.scalar()
    if existing is not None:
        if existing != run_id:
            raise OutputAlreadyRecorded()
        return
    session.execute(
        _RECORD,
        {
            "project_id": project_id,
            "output_key": output_key,
            "run_id": run_id,
            "person_count": len(persons),
            "persons": bytes(persons.serialize()),
            "released_answer": copy.deepcopy(released_answer),
            "recorded_at": utcnow(),
        },
    )


def _row(
    session: Session, project_id: str, output_key: str, run_id: str | None = None
) -> PersonSetRow | None:
    query = select(PersonSetRow).where(
        PersonSetRow.project_id == project_id, PersonSetRow.output_key == output_key
    )
    if run_id is not None:
        query = query.where(PersonSetRow.run_id == run_id)
    return session.execute(query).scalar_one_or_none()


if TYPE_CHECKING:  # both implementations satisfy the interface (checked by mypy)

    def _conforms(memory: InMemoryPersonSetStore, sql: SqlPersonSetStore) -> list[PersonSetStore]:
        return [memory, sql]
