"""A run within its limits (``fivesafes.node.worker``), on real engines: a DuckDB query and a
PostgreSQL statement stopped at the deadline by the engine's own interrupt, the connection
still usable after; work that ignores the interrupt abandoned after the grace period; the
heartbeat sent while a run is working."""

from __future__ import annotations

import threading
import time

import ibis
import psycopg
import pytest

from fivesafes.data.source import OmopDatabase, libpq_url
from fivesafes.node.worker import DeadlinePassed, run_within

ENDLESS = "SELECT sum(a.range * b.range) FROM range(200000) a, range(200000) b"  # 4e10 rows


def test_a_value_or_an_error_comes_back_as_it_was():
    assert run_within(lambda: 42, seconds=5, interrupt=lambda: None) == 42

    def broken() -> int:
        raise KeyError("x")

    with pytest.raises(KeyError):
        run_within(broken, seconds=5, interrupt=lambda: None)


def test_a_duckdb_query_past_the_deadline_is_interrupted_and_the_connection_kept():
    db = OmopDatabase(ibis.duckdb.connect())
    started = time.monotonic()
    with pytest.raises(DeadlinePassed) as passed:
        run_within(lambda: db.backend.con.execute(ENDLESS).fetchall(), seconds=0.5,
                   interrupt=db.interrupt, grace=10)  # fmt: skip
    assert not passed.value.abandoned  # the engine stopped when asked
    assert time.monotonic() - started < 8
    assert db.backend.con.execute("SELECT 41 + 1").fetchone() == (42,)
    db.close()


@pytest.mark.postgres
def test_a_postgres_statement_past_the_deadline_is_cancelled_and_statement_timeout_set():
    from federation import PG_ADMIN_URL

    connection = psycopg.connect(libpq_url(PG_ADMIN_URL), autocommit=True)
    db = OmopDatabase(ibis.postgres.from_connection(connection))
    with pytest.raises(DeadlinePassed) as passed:
        run_within(lambda: connection.execute("SELECT pg_sleep(30)"), seconds=0.5,
                   interrupt=db.interrupt, grace=10)  # fmt: skip
    assert not passed.value.abandoned
    assert connection.execute("SELECT 42").fetchone() == (42,)
    db.limit_statements(0.3)  # the server itself ends a statement past it
    with pytest.raises(psycopg.errors.QueryCanceled):
        connection.execute("SELECT pg_sleep(5)")
    connection.close()


def test_work_that_ignores_the_interrupt_is_abandoned_after_the_grace_period():
    release = threading.Event()
    asked = threading.Event()
    started = time.monotonic()
    with pytest.raises(DeadlinePassed) as passed:
        run_within(lambda: release.wait(30), seconds=0.2, interrupt=asked.set, grace=0.2)
    assert passed.value.abandoned and asked.is_set()
    assert time.monotonic() - started < 5  # the agent went on; the worker is left behind
    release.set()


def test_a_long_run_sends_heartbeats_and_a_failing_heartbeat_does_not_end_it():
    beats: list[float] = []

    def heartbeat() -> None:
        beats.append(time.monotonic())
        if len(beats) == 2:
            raise ConnectionError("hub away")

    value = run_within(lambda: time.sleep(0.65) or "done", seconds=10, interrupt=lambda: None,
                       heartbeat=heartbeat, heartbeat_every=0.1)  # fmt: skip
    assert value == "done" and len(beats) >= 4
