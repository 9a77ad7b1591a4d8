"""Linkage's tables, version by version (``fivesafes.storage.shared_schema``); ``tables``
defines what they are now.

| schema       | version | what it did                                    | hub  | node |
| ------------ | ------- | ---------------------------------------------- | ---- | ---- |
| linkage_hub  | 1       | the linkage unit's uploads and results         | 0009 |      |
| linkage_node | 1       | a node's references and its persons' link ids  |      | 0011 |
| linkage_node | 2       | each linked person's blinding key              |      | 0012 |

Each step is history: a change to the tables is a new step, never an edit of one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

from fivesafes.linkage.tables import define_hub_linkage_tables, define_node_linkage_tables
from fivesafes.storage.shared_schema import SchemaStep, SharedSchema
from fivesafes.storage.types import UTCDateTime


def _create_hub(op: Operations) -> None:
    when = UTCDateTime(timezone=True)
    op.create_table(
        "linkage_uploads",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("run", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.String(length=16), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("updated_at", when, nullable=False),
        sa.PrimaryKeyConstraint("project_id", "node", name="pk_linkage_uploads"),
    )
    op.create_table(
        "linkage_results",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=16), nullable=False),
        sa.Column("linked_at", when, nullable=False),
        sa.Column("records", sa.JSON(), nullable=False),
        sa.Column("pairs", sa.JSON(), nullable=False),
        sa.Column("links", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", name="pk_linkage_results"),
    )


def _drop_hub(op: Operations) -> None:
    op.drop_table("linkage_results")
    op.drop_table("linkage_uploads")


def _create_node(op: Operations) -> None:
    op.create_table(
        "linkage_refs",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("run", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=16), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "ref", name="pk_linkage_refs"),
    )
    op.create_table(
        "linkage_links",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "person_id", name="pk_linkage_links"),
    )


def _drop_node(op: Operations) -> None:
    op.drop_table("linkage_links")
    op.drop_table("linkage_refs")


def _add_blinding(op: Operations) -> None:
    op.add_column("linkage_links", sa.Column("blinding", sa.String(length=64), nullable=True))


def _drop_blinding(op: Operations) -> None:
    with op.batch_alter_table("linkage_links") as batch:
        batch.drop_column("blinding")


HUB_LINKAGE_SCHEMA = SharedSchema(
    name="linkage_hub",
    define=define_hub_linkage_tables,
    steps=(SchemaStep(1, "the linkage unit's uploads and results", _create_hub, _drop_hub),),
)
NODE_LINKAGE_SCHEMA = SharedSchema(
    name="linkage_node",
    define=define_node_linkage_tables,
    steps=(
        SchemaStep(1, "a node's references and link ids", _create_node, _drop_node),
        SchemaStep(2, "each linked person's blinding key", _add_blinding, _drop_blinding),
    ),
)
