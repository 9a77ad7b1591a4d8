"""Migrations are history: the schema every revision of the hub and of the node leaves behind,
going up from an empty database and back down again, on SQLite and PostgreSQL, is pinned in
``tests/data/migrated_schema.json`` (tables, columns with types, nullability and defaults,
keys, indexes, constraints, and the database's own DDL), and so are the revision ids. A
refactoring of the migrations must leave it unchanged; a new migration adds to it:

    .venv/bin/python tests/unit/test_migrated_schema.py   # rewrite the snapshot

The models (``hub/db.py``, ``node/db.py``) and the migrated schema agree, too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from fivesafes.storage.engine import make_engine

SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "migrated_schema.json"
SERVICES = ("hub", "node")
AS_UP = "as going up"  # a downgrade that leaves what the upgrade to that revision did


def config(service: str) -> Config:
    result = Config()
    result.set_main_option("script_location", f"fivesafes.{service}:migrations")
    return result


def revisions(service: str) -> list[list[str | None]]:
    """Each revision and the one it revises, oldest first."""
    script = ScriptDirectory.from_config(config(service))
    walked = reversed(list(script.walk_revisions()))
    return [[r.revision, r.down_revision] for r in walked]


def migrate(engine: Engine, service: str, revision: str, *, down: bool = False) -> None:
    cfg = config(service)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(cfg, revision)


def _column(column: dict[str, Any], dialect: Any) -> str:
    words = [column["name"], column["type"].compile(dialect=dialect)]
    words.append("NULL" if column["nullable"] else "NOT NULL")
    if column.get("default") is not None:
        words.append(f"DEFAULT {column['default']}")
    for key in ("autoincrement", "identity", "computed", "comment"):
        if column.get(key) not in (None, False):
            words.append(f"{key.upper()} {column[key]}")
    return " ".join(str(w) for w in words)


def _foreign_key(fk: dict[str, Any]) -> str:
    cols = ", ".join(fk["constrained_columns"])
    refs = ", ".join(fk["referred_columns"])
    options = json.dumps(fk.get("options") or {}, sort_keys=True)
    return f"{fk['name']}: ({cols}) -> {fk['referred_table']} ({refs}) {options}"


def _named(item: dict[str, Any]) -> str:
    unique = " UNIQUE" if item.get("unique") else ""
    return f"{item['name']}: ({', '.join(c or '?' for c in item['column_names'])}){unique}"


def _table(engine: Engine, name: str) -> dict[str, Any]:
    """What SQLAlchemy's inspector sees of one table."""
    seen = inspect(engine)
    pk = seen.get_pk_constraint(name)
    return {
        "columns": [_column(c, engine.dialect) for c in seen.get_columns(name)],
        "primary_key": f"{pk['name']}: ({', '.join(pk['constrained_columns'])})",
        "foreign_keys": sorted(_foreign_key(fk) for fk in seen.get_foreign_keys(name)),
        "indexes": sorted(_named(i) for i in seen.get_indexes(name)),
        "unique": sorted(_named(u) for u in seen.get_unique_constraints(name)),
        "checks": sorted(f"{c['name']}: {c['sqltext']}" for c in seen.get_check_constraints(name)),
    }


CONSTRAINT = re.compile(r"(PRIMARY KEY|FOREIGN KEY|UNIQUE|CHECK|CONSTRAINT)\b", re.I)


def _ddl(sql: str | None) -> str:
    """SQLite's DDL of a table with its constraints in a stable order: a table rebuilt by a
    batch migration lists them in an order that varies from run to run (it reflects them
    into sets), which means nothing; the order of the columns is kept."""
    if sql is None or not sql.startswith("CREATE TABLE"):
        return str(sql)
    head, body = sql.split("(", 1)
    items, depth, item = [], 0, ""
    for char in body.rsplit(")", 1)[0]:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            items.append(item.strip())
            item = ""
        else:
            item += char
    items.append(item.strip())
    columns = [i for i in items if not CONSTRAINT.match(i)]
    constraints = sorted(i for i in items if CONSTRAINT.match(i))
    return f"{head.strip()} ({', '.join(columns)}; {', '.join(constraints)})"


def _catalog(engine: Engine) -> list[str]:
    """The database's own account of its schema: DDL on SQLite; constraint and index
    definitions, column positions and sequences on PostgreSQL."""
    with engine.connect() as c:
        if engine.dialect.name == "sqlite":
            rows = c.execute(
                text("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
            )
            return [f"{kind} {name} on {table}: {_ddl(sql)}" for kind, name, table, sql in rows]
        queries = (
            "SELECT 'constraint', conrelid::regclass::text, conname, contype::text,"
            " pg_get_constraintdef(c.oid) FROM pg_constraint c JOIN pg_namespace n"
            " ON n.oid = c.connamespace WHERE n.nspname = 'public'",
            "SELECT 'index', tablename, indexname, indexdef, '' FROM pg_indexes"
            " WHERE schemaname = 'public'",
            "SELECT 'column', table_name, column_name, ordinal_position::text,"
            " concat_ws(' ', udt_name, character_maximum_length, is_nullable, column_default)"
            " FROM information_schema.columns WHERE table_schema = 'public'",
            "SELECT 'sequence', sequencename, data_type::text, start_value::text,"
            " increment_by::text FROM pg_sequences WHERE schemaname = 'public'",
        )
        lines = [" | ".join(row) for q in queries for row in c.execute(text(q))]
        return sorted(lines)


def describe(engine: Engine) -> dict[str, Any]:
    names = sorted(inspect(engine).get_table_names())
    return {
        "tables": {name: _table(engine, name) for name in names},
        "catalog": _catalog(engine),
    }


def history(engine: Engine, service: str) -> dict[str, Any]:
    """The schema after each revision going up from nothing, then after each step back down."""
    chain = [r for r, _ in revisions(service)]
    up = {}
    for revision in chain:
        migrate(engine, service, revision)
        up[revision] = describe(engine)
    down: dict[str, Any] = {}
    for revision in [*reversed(chain[:-1]), "base"]:
        migrate(engine, service, revision, down=True)
        schema = describe(engine)
        down[revision] = AS_UP if schema == up.get(revision) else schema
    return {"revisions": revisions(service), "up": up, "down": down}


@pytest.mark.parametrize("service", SERVICES)
def test_every_revision_leaves_the_schema_it_always_did(state_db_url, service):
    engine = make_engine(state_db_url)
    dialect = engine.dialect.name
    try:
        seen = json.loads(json.dumps(history(engine, service)))
    finally:
        engine.dispose()
    pinned = json.loads(SNAPSHOT.read_text())[service][dialect]
    assert seen["revisions"] == pinned["revisions"]
    for way in ("up", "down"):
        assert list(seen[way]) == list(pinned[way])
        for revision, schema in pinned[way].items():
            assert seen[way][revision] == schema, f"{service} {dialect} {way} to {revision}"


@pytest.mark.parametrize("service", SERVICES)
def test_the_models_match_the_migrated_schema(state_db_url, service):
    import fivesafes.node.person_set_db  # noqa: F401 - its table is on the node's metadata

    metadata = __import__(f"fivesafes.{service}.db", fromlist=["Base"]).Base.metadata
    engine = make_engine(state_db_url)
    try:
        migrate(engine, service, "head")
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def write_snapshot() -> None:
    """Record today's history of both services on both engines (run by hand, see above)."""
    import os
    import tempfile
    import uuid

    import psycopg

    admin = os.environ.get(
        "FIVESAFES_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    snapshot: dict[str, dict[str, Any]] = {}
    for service in SERVICES:
        with tempfile.TemporaryDirectory() as folder:
            engine = make_engine(f"sqlite:///{folder}/state.db")
            snapshot.setdefault(service, {})["sqlite"] = history(engine, service)
            engine.dispose()
        name = f"fivesafes_snapshot_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            engine = make_engine(admin.rsplit("/", 1)[0] + "/" + name)
            snapshot[service]["postgresql"] = history(engine, service)
            engine.dispose()
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    SNAPSHOT.write_text(json.dumps(snapshot, indent=1) + "\n")


if __name__ == "__main__":
    write_snapshot()
