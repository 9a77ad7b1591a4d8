"""Migration 0004 of the hub and of the node adds the airlock's tables (and, at a node, the
held output of a run) to a database that already holds data (SQLite and PostgreSQL): the
schema then matches the models, and going back to 0003 removes exactly what it added. The
airlock's step 2 (hub 0005, node 0007: per-file outcomes) keeps what was released, and going
back keeps each request's latest bundle."""

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


BEFORE_OUTCOMES = {"hub": "0004", "node": "0006"}  # the revision before the airlock's step 2


def _airlock_rows():
    import sqlalchemy as sa
    from sqlalchemy.sql import column, table

    json = sa.JSON
    requests = table("airlock_requests", *(column(c) for c in (
        "id", "scope", "author", "title", "project_id", "run_id", "state", "version",
        "created_at", "updated_at")))  # fmt: skip
    versions = table("airlock_versions", column("request_id"), column("version"),
                     column("files", json), column("outcome"))  # fmt: skip
    bundles = table("airlock_bundles", column("request_id"), column("version"),
                    column("manifest", json), column("signature"), column("archive"),
                    column("released_at"), column("released_by"))  # fmt: skip
    return requests, versions, bundles


@pytest.mark.parametrize("service", ["hub", "node"])
def test_per_file_outcomes_keep_what_was_released_and_go_back_to_one_bundle(state_db_url, service):
    """Step 2 of the airlock's tables (hub 0005, node 0007): a version released before it is
    given its released files from its bundle; going back keeps each request's latest bundle
    and reads a partly approved request as changes requested."""
    import sqlalchemy as sa

    import fivesafes.node.person_set_db  # noqa: F401 - its table is on the node's metadata

    requests, versions, bundles = _airlock_rows()
    where = f"fivesafes.{service}:migrations"
    engine = make_engine(state_db_url)
    migrate(engine, where, BEFORE_OUTCOMES[service])
    manifest = {"files": [{"name": "table.csv"}, {"name": "fig.png"}]}
    with engine.begin() as c:
        c.execute(sa.insert(requests).values(
            id="ar_1", scope="hub", author="alice", title="t", project_id=None, run_id=None,
            state="released", version=1, created_at=NOW, updated_at=NOW))  # fmt: skip
        c.execute(sa.insert(versions).values(request_id="ar_1", version=1,
                                             files={"table.csv": "a", "fig.png": "b"},
                                             outcome="approved"))  # fmt: skip
        c.execute(sa.insert(bundles).values(request_id="ar_1", version=1, manifest=manifest,
                                            signature="s1", archive=b"zip", released_at=NOW,
                                            released_by="hub"))  # fmt: skip
    migrate(engine, where, "head")
    released = sa.table("airlock_versions", sa.column("released", sa.JSON))
    with engine.begin() as c:
        assert c.execute(sa.select(released.c.released)).scalar_one() == ["table.csv", "fig.png"]
        # a second version, partly approved and released: two bundles of one request
        c.execute(
            sa.insert(versions).values(
                request_id="ar_1", version=2, files={"b.csv": "c"}, outcome="partly_approved"
            )
        )
        c.execute(sa.insert(bundles).values(request_id="ar_1", version=2, manifest=manifest,
                                            signature="s2", archive=b"zip", released_at=NOW,
                                            released_by="hub"))  # fmt: skip
        c.execute(sa.update(requests).values(state="partly_approved", version=2))
    migrate(engine, where, BEFORE_OUTCOMES[service], down=True)
    with engine.begin() as c:
        assert c.execute(sa.select(bundles.c.signature)).scalars().all() == ["s2"]
        assert c.execute(sa.select(requests.c.state)).scalar_one() == "changes_requested"
        assert "changes_requested" in c.execute(sa.select(versions.c.outcome)).scalars().all()
    columns = {c["name"] for c in inspect(engine).get_columns("airlock_versions")}
    assert not {"returned_by", "message", "released"} & columns
    engine.dispose()
