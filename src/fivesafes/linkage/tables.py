"""Linkage's tables (``schema`` migrates them: the hub's revision 0009, the node's 0011).

At the hub, the linkage unit's state; never a token, an identifier or a node's person id
(tokens wait in files of the linkage store until the run, then are deleted):

| table               | one row per                                                        |
| ------------------- | ------------------------------------------------------------------ |
| ``linkage_uploads`` | project and node: its current upload (a run id the node chose, the |
|                     | key's fingerprint, records received, state, when)                  |
| ``linkage_results`` | project: its last linkage (the fingerprint, when, records per node, |
|                     | persons linked per pair of nodes, link ids made)                   |

At a node, what maps its persons to the project's link ids (the hub never sees ``person_id``:
it sees a random reference per record, per run):

| table               | one row per                                                      |
| ------------------- | ---------------------------------------------------------------- |
| ``linkage_refs``    | record sent in a run: its random reference and the person        |
| ``linkage_links``   | person of the node linked in a project: their link id and their  |
|                     | blinding key (``tokens.blinding``, for linked counts)            |
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import JSON, Column, Integer, MetaData, PrimaryKeyConstraint, String, Table

from fivesafes.storage.types import UTCDateTime


@dataclass(frozen=True)
class HubLinkageTables:
    uploads: Table
    results: Table


@dataclass(frozen=True)
class NodeLinkageTables:
    refs: Table
    links: Table


def define_hub_linkage_tables(metadata: MetaData) -> HubLinkageTables:
    uploads = Table(
        "linkage_uploads",
        metadata,
        Column("project_id", String(64), nullable=False),
        Column("node", String(64), nullable=False),
        Column("run", String(16), nullable=False),
        Column("fingerprint", String(16), nullable=False),
        Column("records", Integer, nullable=False),
        Column("state", String(16), nullable=False),  # receiving | complete | linked | delivered
        Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("project_id", "node", name="pk_linkage_uploads"),
    )
    results = Table(
        "linkage_results",
        metadata,
        Column("project_id", String(64), nullable=False),
        Column("fingerprint", String(16), nullable=False),
        Column("linked_at", UTCDateTime(timezone=True), nullable=False),
        Column("records", JSON, nullable=False),  # node -> records sent
        Column("pairs", JSON, nullable=False),  # [[node, node, persons linked], ...]
        Column("links", Integer, nullable=False),  # link ids made
        PrimaryKeyConstraint("project_id", name="pk_linkage_results"),
    )
    return HubLinkageTables(uploads, results)


def define_node_linkage_tables(metadata: MetaData) -> NodeLinkageTables:
    refs = Table(
        "linkage_refs",
        metadata,
        Column("project_id", String(64), nullable=False),
        Column("run", String(16), nullable=False),
        Column("ref", String(16), nullable=False),
        Column("person_id", Integer, nullable=False),
        PrimaryKeyConstraint("project_id", "ref", name="pk_linkage_refs"),
    )
    links = Table(
        "linkage_links",
        metadata,
        Column("project_id", String(64), nullable=False),
        Column("person_id", Integer, nullable=False),
        Column("link_id", String(32), nullable=False),
        Column("blinding", String(64), nullable=True),  # None: kept before linked counts
        PrimaryKeyConstraint("project_id", "person_id", name="pk_linkage_links"),
    )
    return NodeLinkageTables(refs, links)
