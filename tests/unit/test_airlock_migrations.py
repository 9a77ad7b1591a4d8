"""Migration 0004 of the hub and of the node adds the airlock's tables (and, at a node, the
held output of a run) to a database that already holds data (SQLite and PostgreSQL): the
schema then matches the models, and going back to 0003 removes exactly what it added."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from fivesafes.storage.engine import make_engine

NOW = datetime(2026, 12, 2, tzinfo=UTC)


def migrate(engine, where: str, revision: str, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", where)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


@pytest.mark.parametrize("service", ["hub", "node"])
def test_0004_adds_the_airlock_and_keeps_what_was_there(state_db_url, service):
    import fivesafes.node.person_set_db  # noqa: F401 - its table is on the node's metadata

    base = __import__(f"fivesafes.{service}.db", fromlist=["Base"]).Base
    where = f"fivesafes.{service}:migrations"
    engine = make_engine(state_db_url)
    migrate(engine, where, "0003")
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO users (id, username, display_name, created_at) "
                "VALUES (1, 'carol', 'Carol', :t)"
            ),
            {"t": NOW},
        )
    migrate(engine, where, "head")
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, base.metadata) == []
    with engine.begin() as c:
        assert c.execute(text("SELECT username FROM users")).scalar() == "carol"
    migrate(engine, where, "0003", down=True)
    tables = set(inspect(engine).get_table_names())
    assert not {t for t in tables if t.startswith("airlock_")}
    if service == "node":
        assert "held_output" not in {c["name"] for c in inspect(engine).get_columns("runs")}
    engine.dispose()
