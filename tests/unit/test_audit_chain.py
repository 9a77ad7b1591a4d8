"""The audit log is hash-chained: any edited, deleted, inserted or reordered event is found."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from fivesafes.audit.chain import append_event, verify_chain
from fivesafes.audit.events import AuditEventType
from fivesafes.hub.db import AUDIT
from fivesafes.storage.engine import make_engine, make_sessionmaker, transaction
from fivesafes.storage.migrate import upgrade


@pytest.fixture
def sessions(state_db_url):
    engine = make_engine(state_db_url)
    upgrade(engine, "fivesafes.hub:migrations")
    factory = make_sessionmaker(engine)
    with transaction(factory) as s:
        for i in range(5):
            append_event(
                s,
                AUDIT,
                AuditEventType.TASK_CREATED,
                by=f"user{i}",
                task_id=f"t{i}",
                details={"i": i},
            )
    yield factory
    engine.dispose()


def check(factory):
    with transaction(factory) as s:
        return verify_chain(s, AUDIT)


def test_intact_chain_verifies(sessions):
    report = check(sessions)
    assert report.ok and report.events == 5


def test_edited_event_is_found(sessions):
    with transaction(sessions) as s:
        s.execute(update(AUDIT.events).where(AUDIT.events.c.seq == 3).values(actor="mallory"))
    report = check(sessions)
    assert not report.ok and report.at_seq == 3 and "edited" in report.problem


def test_deleted_event_is_found(sessions):
    with transaction(sessions) as s:
        s.execute(delete(AUDIT.events).where(AUDIT.events.c.seq == 2))
    report = check(sessions)
    assert not report.ok and report.at_seq == 2


def test_deleted_last_event_is_found(sessions):
    with transaction(sessions) as s:
        s.execute(delete(AUDIT.events).where(AUDIT.events.c.seq == 5))
    assert not check(sessions).ok


def test_reordered_events_are_found(sessions):
    with transaction(sessions) as s:
        rows = {r.seq: dict(r._mapping) for r in s.execute(select(AUDIT.events))}
        s.execute(delete(AUDIT.events).where(AUDIT.events.c.seq.in_([2, 3])))
        swapped_2 = {**rows[3], "seq": 2}
        swapped_3 = {**rows[2], "seq": 3}
        s.execute(AUDIT.events.insert().values([swapped_2, swapped_3]))
    report = check(sessions)
    assert not report.ok and report.at_seq == 2


def test_inserted_event_is_found(sessions):
    with transaction(sessions) as s:
        row = dict(s.execute(select(AUDIT.events).where(AUDIT.events.c.seq == 5)).one()._mapping)
        s.execute(AUDIT.events.insert().values({**row, "seq": 6}))
    assert not check(sessions).ok


def test_append_after_verification_continues_the_chain(sessions):
    with transaction(sessions) as s:
        seq = append_event(s, AUDIT, AuditEventType.TASK_COMPLETED, by="hub")
    assert seq == 6
    assert check(sessions).ok
