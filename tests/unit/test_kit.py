"""The domain-module kit (``fivesafes.kit``) on a module of its own size: a store of notes
with a memory and a SQL implementation, run through the shared store suite (memory, SQLite,
PostgreSQL). Whatever the backend: a change and its audit event commit together or neither
does; a refusal rolls the change back and is audited in a transaction of its own; the audit
chain the SQL store writes verifies."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import Column, MetaData, String, Table, insert, select

from fivesafes.audit.chain import define_audit_tables, verify_chain
from fivesafes.audit.events import AuditEventType
from fivesafes.kit.actions import act
from fivesafes.kit.site import Mount, mount
from fivesafes.kit.store import Audited, AuditRecord, MemoryStore, SqlStore, SqlUnit, Unit
from fivesafes.protocol.errors import InvalidRequest
from store_suite import SqlDatabase, store_suite

METADATA = MetaData()
NOTES = Table("kit_notes", METADATA, Column("name", String(64), primary_key=True),
              Column("text", String(200), nullable=False))  # fmt: skip
AUDIT = define_audit_tables(METADATA)
CREATED, REFUSED = AuditEventType.AIRLOCK_REQUEST_CREATED, AuditEventType.AIRLOCK_RELEASE_REFUSED


class NoteStore(Audited, Protocol):
    def get(self, name: str) -> str | None: ...
    def put(self, name: str, text: str) -> None: ...


@dataclass
class _Notes:
    notes: dict[str, str] = field(default_factory=dict)


class MemoryNotes(MemoryStore[_Notes]):
    def __init__(self) -> None:
        super().__init__(_Notes())

    def get(self, name: str) -> str | None:
        return self._records.notes.get(name)

    def put(self, name: str, text: str) -> None:
        self._records.notes[name] = text


class SqlNotes(SqlStore):
    def get(self, name: str) -> str | None:
        return self._s.execute(select(NOTES.c.text).where(NOTES.c.name == name)).scalar()

    def put(self, name: str, text: str) -> None:
        self._s.execute(insert(NOTES).values(name=name, text=text))


class Blank(InvalidRequest):
    code = "blank_note"


def write(store: NoteStore, name: str, text: str) -> None:
    """The module's one action: keep a note and audit it; a blank note is refused after the
    write, so a refusal has something to roll back."""
    store.put(name, text)
    store.audit(AuditRecord(CREATED, by="alice", details={"note": name}))
    if not text.strip():
        raise Blank("A note has words in it.")


def refused(store: NoteStore, error: Blank) -> None:
    store.audit(AuditRecord(REFUSED, by="alice", details={"why": error.code}, outcome="refused"))


@dataclass
class Backend:
    unit: Unit[NoteStore]
    events: Callable[[], list[tuple[str, str]]]  # (type, outcome), oldest first
    chain_ok: Callable[[], bool]


def _memory() -> Backend:
    store = MemoryNotes()
    return Backend(
        store.transaction, lambda: [(e.type.value, e.outcome) for e in store.events], lambda: True
    )


def _sql(db: SqlDatabase) -> Backend:
    def events() -> list[tuple[str, str]]:
        e = AUDIT.events.c
        rows = db.unit(lambda s: s.execute(select(e.event_type, e.outcome).order_by(e.seq)).all())
        return [(r.event_type, r.outcome) for r in rows]

    unit: SqlUnit[NoteStore] = SqlUnit(db.unit, lambda session: SqlNotes(session, AUDIT))
    return Backend(unit, events, lambda: db.unit(lambda s: verify_chain(s, AUDIT).ok))


backend = store_suite(_memory, _sql, schema=METADATA)


def test_a_change_and_its_audit_event_commit_together(backend):
    backend.unit(lambda s: write(s, "first", "hello"))
    assert backend.unit(lambda s: s.get("first")) == "hello"
    assert backend.events() == [(CREATED.value, "ok")]
    assert backend.chain_ok()


def test_an_action_that_fails_keeps_neither_its_change_nor_its_event(backend):
    backend.unit(lambda s: write(s, "first", "hello"))

    def half_done(store: NoteStore) -> None:
        write(store, "second", "world")
        raise RuntimeError("the disk went away")

    with pytest.raises(RuntimeError):
        backend.unit(half_done)
    assert backend.unit(lambda s: s.get("second")) is None
    assert backend.events() == [(CREATED.value, "ok")]
    assert backend.chain_ok()


def test_a_refusal_is_rolled_back_then_audited_in_its_own_transaction(backend):
    with pytest.raises(Blank):
        act(backend.unit, lambda s: write(s, "blank", "  "), refused=refused, refusal=Blank)
    assert backend.unit(lambda s: s.get("blank")) is None
    assert backend.events() == [(REFUSED.value, "refused")]  # not the rolled-back 'created'
    assert backend.chain_ok()


def test_only_the_named_refusal_is_audited_as_one(backend):
    def broken(store: NoteStore) -> None:
        raise KeyError("not a refusal")

    with pytest.raises(KeyError):
        act(backend.unit, broken, refused=refused, refusal=Blank)
    assert backend.events() == []
    assert act(backend.unit, lambda s: write(s, "ok", "fine")) is None
    assert backend.events() == [(CREATED.value, "ok")]


def test_a_service_mounts_each_modules_router_it_lists():
    def pages(service: str) -> APIRouter:
        router = APIRouter(prefix="/notes")

        @router.get("")
        def index() -> dict[str, str]:
            return {"service": service}

        return router

    app = FastAPI()
    mount(app, "hub", (Mount("notes", pages),))

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
            return await c.get("/notes")

    with ThreadPoolExecutor(1) as thread:  # a loop of its own: another test may hold this one's
        answer = thread.submit(asyncio.run, get()).result()
    assert answer.json() == {"service": "hub"}


def test_the_hub_and_every_node_mount_the_same_modules():
    from fivesafes.hub.app import MOUNTS as HUB
    from fivesafes.node.portal.app import MOUNTS as NODE

    assert [m.name for m in NODE][:3] == ["audit", "airlock", "extracts"]
    # the node's own modules beside them: its imaging extracts, its slides
    assert {m.name for m in NODE} <= {"audit", "airlock", "extracts", "slides"}
    # and at the hub, where tasks are, a result goes into the airlock from its task's page;
    # the slides nodes released for review are served from the hub's review store
    assert [m.name for m in HUB] == ["audit", "airlock", "airlock-tasks", "review-slides"]
