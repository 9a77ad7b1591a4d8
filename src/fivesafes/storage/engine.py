"""Creating engines and sessions for a service's state database.

SQLite (the default, nothing to set up) runs in WAL mode and starts every writing transaction
with ``BEGIN IMMEDIATE`` so that two writers queue on the lock instead of failing
mid-transaction; read-only units start a plain ``BEGIN`` and never wait for writers.
Writers in one process also queue on an in-process lock before they begin: SQLite's own busy
handler makes a waiting writer sleep and back off (1, 2, 5, 10 ms, ...), which a hub serving
many nodes at once would pay on every collision; a lock hands over at once. Writers in other
processes (a CLI next to a running service) still queue on SQLite's lock.
PostgreSQL is used as is.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs written without a driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if make_url(url).get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
    _WRITE_LOCKS[engine] = threading.RLock()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let BEGIN below be the only transaction start
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


READ_ONLY = "fivesafes_read_only"
_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()


def _writer_queue(factory: sessionmaker[Session]) -> AbstractContextManager[Any]:
    """The in-process lock writers of this SQLite database queue on (none for PostgreSQL)."""
    bind = factory.kw.get("bind")
    lock = _WRITE_LOCKS.get(bind) if isinstance(bind, Engine) else None
    return lock if lock is not None else nullcontext()


@contextmanager
def transaction(factory: sessionmaker[Session], *, read_only: bool = False) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error. A ``read_only`` unit on
    SQLite starts a plain (deferred) transaction, so readers never queue behind writers."""
    if read_only:
        with factory() as session, session.begin():
            session.connection(execution_options={READ_ONLY: True})
            yield session
        return
    with _writer_queue(factory), factory() as session, session.begin():
        yield session
