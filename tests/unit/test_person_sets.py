"""One suite for every person-set store: in memory, SQL on SQLite, SQL on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pyroaring import BitMap
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import fivesafes.node.person_sets as person_sets_module
from fivesafes.node.db import Base
from fivesafes.node.person_sets import (
    InMemoryPersonSetStore,
    OutputAlreadyRecorded,
    PersonSetStore,
    SqlPersonSetStore,
    record_person_set,
)
from fivesafes.sdc.differencing import PersonIdOutOfRange, check_population, person_set
from fivesafes.storage.engine import make_engine, make_sessionmaker, transaction
from fivesafes.storage.migrate import upgrade

MIGRATIONS = "fivesafes.node:migrations"


@contextmanager
def migrated(kind: str, tmp_path: Path) -> Iterator[tuple[Engine, sessionmaker[Session]]]:
    """A fresh node state database brought to the newest migration."""
    with ExitStack() as stack:
        if kind == "sqlite":
            url = f"sqlite:///{tmp_path / 'state.db'}"
        else:
            from federation import postgres_database

            url = stack.enter_context(postgres_database())
        engine = make_engine(url)
        stack.callback(engine.dispose)
        upgrade(engine, MIGRATIONS)
        yield engine, make_sessionmaker(engine)


SQL = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture
def database(request, tmp_path):
    with migrated(request.param, tmp_path) as db:
        yield db


@pytest.fixture(params=["memory", *SQL])
def store(request, tmp_path) -> Iterator[PersonSetStore]:
    if request.param == "memory":
        yield InMemoryPersonSetStore()
        return
    with migrated(request.param, tmp_path) as (_, sessions):
        yield SqlPersonSetStore(sessions)


ANSWER = {"analysis": "count", "cells": [{"value": 120, "suppressed": False}], "n": 1.5}


def test_an_empty_store(store):
    assert store.released_sets("p1") == []
    assert store.answer_for("p1", "k") is None
    assert store.projects_for_person(1) == []


def test_records_come_back_in_release_order(store):
    store.record("p1", "k2", "run-a", person_set([5, 6, 7]), ANSWER)
    store.record("p1", "k1", "run-b", person_set([1]), {"x": 1})
    store.record("p2", "k1", "run-c", person_set([9]), {"y": 2})
    got = store.released_sets("p1")
    assert [(r.output_key, r.run_id, list(r.persons)) for r in got] == [
        ("k2", "run-a", [5, 6, 7]),
        ("k1", "run-b", [1]),
    ]
    assert [r.output_key for r in store.released_sets("p2")] == ["k1"]


def test_an_identical_query_gets_the_identical_answer(store):
    answer = {"cells": [{"value": 40}], "rule": "rounded to 10"}
    store.record("p1", "count:diabetes", "run-a", person_set(range(40)), answer)
    answer["cells"][0]["value"] = 999  # the caller's later edits do not reach the store
    first = store.answer_for("p1", "count:diabetes")
    assert first == {"cells": [{"value": 40}], "rule": "rounded to 10"}
    first["rule"] = "edited"  # nor do edits of what it returned
    assert store.answer_for("p1", "count:diabetes")["rule"] == "rounded to 10"
    assert store.answer_for("p2", "count:diabetes") is None


def test_the_first_release_of_a_key_wins(store):
    store.record("p1", "k", "run-a", person_set([1, 2]), {"v": 1})
    store.record("p1", "k", "run-a", person_set([1, 2]), {"v": 1})  # a retried step: no-op
    with pytest.raises(OutputAlreadyRecorded) as caught:
        store.record("p1", "k", "run-b", person_set([1, 2, 3]), {"v": 2})
    assert caught.value.code == "conflict"
    assert store.answer_for("p1", "k") == {"v": 1}
    assert len(store.released_sets("p1")) == 1


def test_projects_for_person(store):
    store.record("p2", "a", "r1", person_set([1, 2, 2**32 - 1]), {})
    store.record("p1", "b", "r2", person_set([2, 3]), {})
    store.record("p1", "c", "r3", person_set([2]), {})
    assert store.projects_for_person(2) == ["p1", "p2"]
    assert store.projects_for_person(3) == ["p1"]
    assert store.projects_for_person(2**32 - 1) == ["p2"]
    assert store.projects_for_person(4) == []


def test_releases_for_person_in_the_order_they_were_recorded(store):
    store.record("p2", "a", "r1", person_set([1, 2]), {})
    store.record("p1", "b", "r2", person_set([2, 3]), {})
    store.record("p1", "c", "r3/2", person_set([3]), {})
    found = store.releases_for_person(2)
    assert [(r.project_id, r.output_key, r.run_id) for r in found] == [
        ("p2", "a", "r1"),
        ("p1", "b", "r2"),
    ]
    assert found[0].recorded_at <= found[1].recorded_at and found[0].recorded_at.tzinfo
    assert [r.run_id for r in store.releases_for_person(3)] == ["r2", "r3/2"]
    assert store.releases_for_person(4) == []
    with pytest.raises(PersonIdOutOfRange):
        store.releases_for_person(-1)


@pytest.mark.parametrize("bad", [-1, 2**32, True])
def test_projects_for_person_refuses_ids_outside_32_bits(store, bad):
    with pytest.raises(PersonIdOutOfRange) as caught:
        store.projects_for_person(bad)
    assert str(bad) not in str(caught.value).replace("2**32-1", "")


def test_a_large_set_survives_the_round_trip(store):
    persons = BitMap(range(0, 300_000, 3)) | BitMap(range(4_000_000_000, 4_000_001_000))
    store.record("p1", "big", "r", persons, {})
    (stored,) = store.released_sets("p1")
    assert stored.persons == persons
    assert len(stored.persons) == 101_000


def test_released_sets_feed_the_differencing_check(store):
    store.record("p1", "all", "r1", person_set(range(100)), {})
    released = store.released_sets("p1")
    assert check_population(person_set(range(99)), released, threshold=10).outcome == "refuse"
    assert check_population(person_set(range(100)), released, threshold=10).passed
    assert check_population(person_set(range(99)), store.released_sets("p2"), 10).passed


# --- the SQL store only ------------------------------------------------------------------


@pytest.mark.parametrize("database", SQL, indirect=True)
def test_migrations_match_the_models(database):
    engine, _ = database
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


@pytest.mark.parametrize("database", SQL, indirect=True)
def test_recording_joins_the_callers_transaction(database):
    _, sessions = database

    def release_then_fail() -> None:
        with transaction(sessions) as session:
            record_person_set(session, "p1", "k", "r", person_set([1]), {})
            raise RuntimeError("the release step failed after recording")

    with pytest.raises(RuntimeError, match="failed after recording"):
        release_then_fail()
    assert SqlPersonSetStore(sessions).released_sets("p1") == []


@pytest.mark.parametrize("database", SQL, indirect=True)
def test_a_concurrent_writer_of_the_same_key(database, monkeypatch):
    """The unique key decides a race: the loser's retry is a no-op, another run a conflict."""
    _, sessions = database
    store = SqlPersonSetStore(sessions)
    store.record("p1", "k", "run-a", person_set([1]), {"v": 1})
    real_row = person_sets_module._row
    calls = {"n": 0}

    def miss_once(*args, **kwargs):  # the check ran before the other writer committed
        calls["n"] += 1
        return None if calls["n"] == 1 else real_row(*args, **kwargs)

    monkeypatch.setattr(person_sets_module, "_row", miss_once)
    store.record("p1", "k", "run-a", person_set([1]), {"v": 1})
    calls["n"] = 0
    with pytest.raises(OutputAlreadyRecorded):
        store.record("p1", "k", "run-b", person_set([1]), {"v": 2})
    assert store.answer_for("p1", "k") == {"v": 1}


@pytest.mark.parametrize("database", SQL, indirect=True)
def test_a_store_that_keeps_sets_sees_what_another_recorded_since(database):
    """The worker's store keeps each project's sets between runs and reads only new rows: a
    release recorded by the agent's store (another process in a node) is in the next check,
    in release order, and never in another project's."""
    _, sessions = database
    worker, agent = SqlPersonSetStore(sessions), SqlPersonSetStore(sessions)
    agent.record("p1", "a", "r1", person_set([1, 2, 3]), {})
    assert [r.output_key for r in worker.released_sets("p1")] == ["a"]
    agent.record("p2", "x", "r2", person_set([9]), {})
    agent.record("p1", "b", "r3", person_set([4, 5]), {})
    agent.record("p1", "c", "r4", person_set([6]), {})
    seen = worker.released_sets("p1")
    assert [(r.output_key, r.run_id, sorted(r.persons)) for r in seen] == [
        ("a", "r1", [1, 2, 3]),
        ("b", "r3", [4, 5]),
        ("c", "r4", [6]),
    ]
    assert seen == SqlPersonSetStore(sessions).released_sets("p1")  # as read afresh
    seen.clear()  # the caller's list is its own
    assert len(worker.released_sets("p1")) == 3
    assert [r.output_key for r in worker.released_sets("p2")] == ["x"]
