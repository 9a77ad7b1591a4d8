"""Signed checkpoints of the audit chain: a rewrite that re-computes every hash is still found,
because a checkpoint signed earlier no longer matches (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, update

from audit_tampering import read_rows, rehashed, write_rows
from fivesafes.audit.chain import append_event
from fivesafes.audit.checkpoints import (
    Checkpointer,
    CheckpointPolicy,
    HeadState,
    append_witness,
    checkpoint_due,
    read_witness,
    signed_checkpoint,
    write_checkpoint,
)
from fivesafes.audit.events import AuditEventType
from fivesafes.audit.verify import verify_audit
from fivesafes.hub.db import AUDIT
from fivesafes.protocol.signing import generate_key, public_key_text
from fivesafes.storage.engine import make_engine, make_sessionmaker, transaction
from fivesafes.storage.migrate import upgrade

KEY = generate_key()
PUBLIC = public_key_text(KEY)
T0 = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def sessions(state_db_url):
    engine = make_engine(state_db_url)
    upgrade(engine, "fivesafes.hub:migrations")
    yield make_sessionmaker(engine)
    engine.dispose()


def events(sessions, n, start=0):
    with transaction(sessions) as s:
        for i in range(start, start + n):
            append_event(s, AUDIT, AuditEventType.TASK_CREATED, by=f"u{i}", details={"i": i})


def checkpoint(sessions):
    with transaction(sessions) as s:
        return write_checkpoint(s, AUDIT, KEY, service="hub:test", by="hub:test")


def verify(sessions, witness=()):
    with transaction(sessions, read_only=True) as s:
        return verify_audit(s, AUDIT, PUBLIC, witness)


def witness_lines(path):
    return list(read_witness(path))


def test_a_checkpoint_signs_the_head_and_verifies(sessions):
    events(sessions, 5)
    written = checkpoint(sessions)
    assert (written.seq, written.service) == (5, "hub:test")
    written.verify(PUBLIC)
    events(sessions, 2)
    report = verify(sessions)
    assert report.ok and report.events == 8
    assert (report.checkpoints, report.last_checkpoint) == (1, 5)


def test_an_empty_chain_gets_no_checkpoint(sessions):
    assert checkpoint(sessions) is None


def test_a_rewritten_and_rehashed_chain_is_caught_by_an_earlier_checkpoint(sessions):
    events(sessions, 5)
    checkpoint(sessions)  # event 6 signs event 5
    events(sessions, 3)
    with transaction(sessions) as s:
        rows = read_rows(s, AUDIT)
        rows[1]["actor"] = "mallory"  # event 2 edited, then every hash recomputed
        write_rows(s, AUDIT, rehashed(rows), move_head=True)
    report = verify(sessions)
    assert not report.ok
    assert report.at_seq == 5 and "rewritten up to here" in report.problem
    assert [p.seq for p in report.problems] == [5]


def test_deleting_the_checkpoints_too_is_caught_by_the_witness_file(sessions, tmp_path):
    witness = tmp_path / "witness.jsonl"
    events(sessions, 5)
    append_witness(witness, checkpoint(sessions))
    events(sessions, 3)
    with transaction(sessions) as s:
        rows = [r for r in read_rows(s, AUDIT) if r["event_type"] != "audit_checkpoint"]
        del rows[2]  # event 3 deleted, and every trace of the checkpoint with it
        write_rows(s, AUDIT, rehashed(rows), move_head=True)
    assert verify(sessions).ok  # inside the database, nothing shows any more
    report = verify(sessions, witness_lines(witness))
    assert not report.ok and report.at_seq == 5
    assert "witness file" in report.problem and "rewritten" in report.problem


def test_cutting_the_chain_short_below_a_checkpoint_is_caught(sessions, tmp_path):
    witness = tmp_path / "witness.jsonl"
    events(sessions, 5)
    append_witness(witness, checkpoint(sessions))
    with transaction(sessions) as s:
        rows = read_rows(s, AUDIT)[:3]
        write_rows(s, AUDIT, rows, move_head=True)
    report = verify(sessions, witness_lines(witness))
    assert not report.ok
    assert report.at_seq == 5 and "no longer in the chain" in report.problem


def test_a_checkpoint_signed_with_another_key_is_reported(sessions):
    events(sessions, 3)
    with transaction(sessions) as s:
        write_checkpoint(s, AUDIT, generate_key(), service="hub:test", by="mallory")
    report = verify(sessions)
    assert not report.ok and report.at_seq == 4 and "not signed by this service" in report.problem


def test_a_checkpoint_altered_in_place_is_reported_twice(sessions):
    events(sessions, 3)
    checkpoint(sessions)
    with transaction(sessions) as s:
        details = read_rows(s, AUDIT)[3]["details"]
        details["hash"] = "0" * 64
        s.execute(update(AUDIT.events).where(AUDIT.events.c.seq == 4).values(details=details))
    problems = [(p.seq, p.what) for p in verify(sessions).problems]
    assert [seq for seq, _ in problems] == [4, 4]
    assert any("edited" in what for _, what in problems)
    assert any("not signed" in what for _, what in problems)


def test_a_missing_head_record_is_reported(sessions):
    events(sessions, 2)
    with transaction(sessions) as s:
        s.execute(delete(AUDIT.head))
    report = verify(sessions)
    assert not report.ok and "head record is missing" in report.problem


def test_a_line_of_the_witness_file_that_is_no_checkpoint_is_reported(sessions, tmp_path):
    witness = tmp_path / "witness.jsonl"
    events(sessions, 2)
    append_witness(witness, checkpoint(sessions))
    forged = signed_checkpoint("hub:test", 1, "f" * 64, generate_key(), T0)
    with witness.open("a") as handle:
        handle.write("not json\n" + json.dumps(forged.to_json()) + "\n")
    report = verify(sessions, witness_lines(witness))
    assert report.witnessed == 1
    assert sorted(p.what.split(" of ")[0] for p in report.problems) == ["line 2", "line 3"]


@pytest.mark.parametrize(
    ("head", "last", "age", "due"),
    [
        (0, None, None, False),  # nothing to sign
        (1, None, None, True),  # the first event: sign it
        (10, 10, 99_999, False),  # the checkpoint is the head: nothing new
        (11, 10, 1, False),  # one event, a second old: not yet
        (11, 10, 3600, True),  # one event, an hour old: due by time
        (1010, 10, 1, True),  # a thousand events: due by count
    ],
)
def test_when_a_checkpoint_is_due(head, last, age, due):
    at = None if age is None else T0 - timedelta(seconds=age)
    assert checkpoint_due(HeadState(head, last, at), T0, 1000, 3600) is due


def test_the_checkpointer_writes_when_due_and_once_more_at_stop(sessions, tmp_path):
    witness = tmp_path / "w.jsonl"
    now = [datetime.now(UTC)]

    def unit(work):
        with transaction(sessions) as s:
            return work(s)

    checkpointer = Checkpointer(
        unit=unit,
        tables=AUDIT,
        key=KEY,
        service="hub:test",
        policy=CheckpointPolicy(every_events=3, every_seconds=60, witness=witness),
        clock=lambda: now[0],
    )
    events(sessions, 2)
    assert checkpointer.tick().seq == 2  # the first one at once
    events(sessions, 1, start=2)
    assert checkpointer.tick() is None  # 1 event, no time passed
    now[0] += timedelta(seconds=61)
    assert checkpointer.tick().seq == 4  # due by time
    events(sessions, 3, start=3)
    assert checkpointer.tick().seq == 8  # due by count
    assert checkpointer.tick() is None
    events(sessions, 1, start=6)
    checkpointer.start()
    checkpointer.stop()  # a last one for the event since
    lines = witness_lines(witness)
    assert [line.checkpoint.seq for line in lines] == [2, 4, 8, 10]
    report = verify(sessions, lines)
    assert report.ok and (report.checkpoints, report.witnessed, report.last_checkpoint) == (
        4,
        4,
        10,
    )
