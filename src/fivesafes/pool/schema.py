"""Pools' tables, version by version (``fivesafes.storage.shared_schema``); ``tables``
defines what they are now.

| schema    | version | what it did                                          | hub  | node |
| --------- | ------- | ---------------------------------------------------- | ---- | ---- |
| pool_hub  | 1       | pools: terms, state, reports, certificate            | 0010 |      |
| pool_node | 1       | a custodian's decisions on pools, the persons sent   |      | 0013 |

Each step is history: a change to the tables is a new step, never an edit of one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

from fivesafes.pool.tables import define_hub_pool_tables, define_node_pool_tables
from fivesafes.storage.shared_schema import SchemaStep, SharedSchema
from fivesafes.storage.types import UTCDateTime


def _create_hub(op: Operations) -> None:
    when = UTCDateTime(timezone=True)
    op.create_table(
        "pools",
        sa.Column("pool_id", sa.String(length=16), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("pool_project_id", sa.String(length=64), nullable=False),
        sa.Column("pool_node", sa.String(length=64), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("signature", sa.String(length=200), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reports", sa.JSON(), nullable=False),
        sa.Column("certificate", sa.JSON(), nullable=True),
        sa.Column("created_at", when, nullable=False),
        sa.Column("expires_at", when, nullable=False),
        sa.PrimaryKeyConstraint("pool_id", name="pk_pools"),
    )


def _drop_hub(op: Operations) -> None:
    op.drop_table("pools")


def _create_node(op: Operations) -> None:
    when = UTCDateTime(timezone=True)
    op.create_table(
        "pool_decisions",
        sa.Column("pool_id", sa.String(length=16), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_at", when, nullable=False),
        sa.Column("expires_at", when, nullable=False),
        sa.Column("sent_at", when, nullable=True),
        sa.Column("persons", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("pool_id", name="pk_pool_decisions"),
    )
    op.create_table(
        "pool_persons",
        sa.Column("pool_id", sa.String(length=16), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("pool_id", "person_id", name="pk_pool_persons"),
    )


def _drop_node(op: Operations) -> None:
    op.drop_table("pool_persons")
    op.drop_table("pool_decisions")


HUB_POOL_SCHEMA = SharedSchema(
    name="pool_hub",
    define=define_hub_pool_tables,
    steps=(SchemaStep(1, "pools: terms, state, reports, certificate", _create_hub, _drop_hub),),
)
NODE_POOL_SCHEMA = SharedSchema(
    name="pool_node",
    define=define_node_pool_tables,
    steps=(SchemaStep(1, "decisions on pools and persons sent", _create_node, _drop_node),),
)
