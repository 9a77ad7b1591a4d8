"""One store suite per domain module, run against every implementation of its store port:
in memory, SQLite and PostgreSQL (``fivesafes.kit.store``).

A module's store tests define how each backend is made and get a parametrised fixture:

    def memory() -> Backend: ...                  # on the module's MemoryStore
    def sql(db: SqlDatabase) -> Backend: ...      # on its SqlStore over db.unit

    backend = store_suite(memory, sql, schema="fivesafes.node:migrations")

and every test taking ``backend`` runs three times. ``schema`` is the migrations a real service
runs (the module's tables as deployed) or, for a kit-level test, a ``MetaData`` created whole.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, MetaData
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.storage.engine import make_engine, make_sessionmaker, transaction
from fivesafes.storage.migrate import upgrade

B = TypeVar("B")
T = TypeVar("T")

BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@dataclass(frozen=True)
class SqlDatabase:
    """A migrated database of one test: its engine, and a unit of work on it (what
    ``ServiceCore.unit`` is in a service)."""

    engine: Engine
    sessions: sessionmaker[Session]

    def unit(self, work: Callable[[Session], T]) -> T:
        with transaction(self.sessions) as session:
            return work(session)


@contextlib.contextmanager
def database_url(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    from federation import postgres_database

    with postgres_database() as url:
        yield url


@contextlib.contextmanager
def sql_database(url: str, schema: str | MetaData) -> Iterator[SqlDatabase]:
    engine = make_engine(url)
    if isinstance(schema, MetaData):
        schema.create_all(engine)
    else:
        upgrade(engine, schema)
    try:
        yield SqlDatabase(engine, make_sessionmaker(engine))
    finally:
        engine.dispose()


def store_suite(
    memory: Callable[[], B], sql: Callable[[SqlDatabase], B], *, schema: str | MetaData
) -> Any:
    """A pytest fixture (name it ``backend``) giving each test a fresh backend of each kind."""

    @pytest.fixture(params=BACKENDS)
    def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[B]:
        if request.param == "memory":
            yield memory()
            return
        with database_url(request.param, tmp_path) as url, sql_database(url, schema) as db:
            yield sql(db)

    return backend
