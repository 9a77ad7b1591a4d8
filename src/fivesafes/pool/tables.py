"""Pools' tables (``schema`` migrates them: the hub's revision 0010, the node's 0013).

At the hub, a pool's terms as it signed them and where the pool stands; never a row of data:

| table   | one row per                                                                     |
| ------- | ------------------------------------------------------------------------------- |
| ``pools`` | pool: its terms and signature, their digest, its state, what the nodes and the  |
|         | pool reported (kinds, counts, when), the pool's certificate of destruction      |

At a source node, its custodian's decision on a pool's terms, and whose rows it sent (the
patient data account lists them):

| table             | one row per                                                          |
| ----------------- | -------------------------------------------------------------------- |
| ``pool_decisions`` | pool: the digest approved, by whom, when; sent or revoked, and when  |
| ``pool_persons``   | person of the node whose rows were sent to a pool                    |
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import JSON, Column, Integer, MetaData, PrimaryKeyConstraint, String, Table

from fivesafes.storage.types import UTCDateTime


@dataclass(frozen=True)
class HubPoolTables:
    pools: Table


@dataclass(frozen=True)
class NodePoolTables:
    decisions: Table
    persons: Table


def define_hub_pool_tables(metadata: MetaData) -> HubPoolTables:
    when = UTCDateTime(timezone=True)
    pools = Table(
        "pools",
        metadata,
        Column("pool_id", String(16), nullable=False),
        Column("project_id", String(64), nullable=False),
        Column("pool_project_id", String(64), nullable=False),
        Column("pool_node", String(64), nullable=False),
        Column("terms", JSON, nullable=False),
        Column("signature", String(200), nullable=False),
        Column("digest", String(64), nullable=False),
        Column("state", String(16), nullable=False),
        Column("reports", JSON, nullable=False),  # [{node, kind, persons, at}, ...]
        Column("certificate", JSON, nullable=True),
        Column("created_at", when, nullable=False),
        Column("expires_at", when, nullable=False),
        PrimaryKeyConstraint("pool_id", name="pk_pools"),
    )
    return HubPoolTables(pools)


def define_node_pool_tables(metadata: MetaData) -> NodePoolTables:
    when = UTCDateTime(timezone=True)
    decisions = Table(
        "pool_decisions",
        metadata,
        Column("pool_id", String(16), nullable=False),
        Column("project_id", String(64), nullable=False),
        Column("digest", String(64), nullable=False),
        Column("state", String(16), nullable=False),  # approved | sent | revoked
        Column("decided_by", String(64), nullable=False),
        Column("decided_at", when, nullable=False),
        Column("expires_at", when, nullable=False),
        Column("sent_at", when, nullable=True),
        Column("persons", Integer, nullable=True),
        PrimaryKeyConstraint("pool_id", name="pk_pool_decisions"),
    )
    persons = Table(
        "pool_persons",
        metadata,
        Column("pool_id", String(16), nullable=False),
        Column("person_id", Integer, nullable=False),
        PrimaryKeyConstraint("pool_id", "person_id", name="pk_pool_persons"),
    )
    return NodePoolTables(decisions, persons)
