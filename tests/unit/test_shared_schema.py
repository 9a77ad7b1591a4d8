"""Each module's shared tables, migrated by its own steps alone (no hub or node chain), on
SQLite and PostgreSQL: every step up gives exactly the tables the module defines today, and
every step back down leaves nothing. The hub's older ``users`` table adopts the accounts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, MetaData, inspect

from fivesafes.airlock.schema import AIRLOCK_SCHEMA
from fivesafes.audit.schema import AUDIT_SCHEMA
from fivesafes.governance.accounts.schema import ACCOUNTS_SCHEMA
from fivesafes.storage.engine import make_engine
from fivesafes.storage.shared_schema import SchemaStep, SharedSchema

SCHEMAS = [AUDIT_SCHEMA, ACCOUNTS_SCHEMA, AIRLOCK_SCHEMA]


@pytest.fixture
def connection(state_db_url) -> Iterator[Connection]:
    engine = make_engine(state_db_url)
    with engine.begin() as c:
        yield c
    engine.dispose()


def operations(connection: Connection) -> Operations:
    return Operations(MigrationContext.configure(connection))


def differences(connection: Connection, schema: SharedSchema) -> list[object]:
    metadata = MetaData()
    schema.define(metadata)
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: s.name)
def test_the_steps_make_the_tables_the_module_defines(connection, schema):
    op = operations(connection)
    for step in schema.steps:
        step.upgrade(op)
    assert differences(connection, schema) == []
    for step in reversed(schema.steps):
        step.downgrade(op)
    assert inspect(connection).get_table_names() == []


def test_a_service_s_own_users_table_adopts_the_accounts(connection):
    op = operations(connection)
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    own = [c["name"] for c in inspect(connection).get_columns("users")]
    adopt = ACCOUNTS_SCHEMA.step(1).adopt
    disown = ACCOUNTS_SCHEMA.step(1).disown
    assert adopt is not None and disown is not None
    adopt(op)
    assert differences(connection, ACCOUNTS_SCHEMA) == []
    disown(op)
    assert inspect(connection).get_table_names() == ["users"]
    assert [c["name"] for c in inspect(connection).get_columns("users")] == own


def test_a_schema_s_steps_are_its_versions_in_order():
    def nothing(op: Operations) -> None:
        pass

    with pytest.raises(ValueError, match="versions 1, 2"):
        SharedSchema("x", lambda metadata: None, (SchemaStep(2, "two", nothing, nothing),))
    schema = SharedSchema("x", lambda metadata: None, (SchemaStep(1, "one", nothing, nothing),))
    with pytest.raises(LookupError, match="no schema version 2"):
        schema.step(2)
    with pytest.raises(LookupError, match="cannot adopt"):
        schema.adopt(1)  # version 1 has no adopt, whatever migration is running
