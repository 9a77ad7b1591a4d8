"""SQLite state: writers queue on BEGIN IMMEDIATE; read-only units never wait for them."""

from __future__ import annotations

import sqlite3
import threading
import time

from sqlalchemy import text

from fivesafes.storage.engine import make_engine, make_sessionmaker, transaction


def test_reads_do_not_wait_for_a_writer_but_writes_do(tmp_path):
    path = tmp_path / "state.db"
    engine = make_engine(f"sqlite:///{path}")
    factory = make_sessionmaker(engine)
    with transaction(factory) as s:
        s.execute(text("CREATE TABLE t (x INTEGER)"))
        s.execute(text("INSERT INTO t VALUES (1)"))

    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    started = time.monotonic()
    with transaction(factory, read_only=True) as s:
        assert s.execute(text("SELECT x FROM t")).scalar() == 1
    assert time.monotonic() - started < 1.0

    finished = threading.Event()

    def write() -> None:
        with transaction(factory) as s:
            s.execute(text("INSERT INTO t VALUES (2)"))
        finished.set()

    thread = threading.Thread(target=write)
    thread.start()
    assert not finished.wait(0.5)  # the write queues behind the held lock …
    writer.execute("COMMIT")
    assert finished.wait(5)  # … and goes through once it is released
    thread.join()
    with transaction(factory, read_only=True) as s:
        assert s.execute(text("SELECT count(*) FROM t")).scalar() == 2
    engine.dispose()
