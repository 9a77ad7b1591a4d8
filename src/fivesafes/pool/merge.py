"""The pool's side: one OMOP CDM in DuckDB, merged from the nodes' extracts.

:func:`merge` checks every extract as if it had just been read from another site
(``fivesafes.pool.checks``), then writes one DuckDB file that ``fivesafes.data.source`` opens as
a node's data source (``{"engine": "duckdb", "path": ...}``), so the cohorts, the analysis
catalogue and the disclosure gate run on it unchanged.

- **What each node sends**: each extract releases the variables the pool's terms name for its
  node, and the nodes may release different ones (node A a person's smoking, age and sex, node
  B their lung cancer), so that an exposure recorded at one site can be related to an outcome
  recorded at another. The pool holds the union of the released tables and columns; a
  variable's rows are those of the nodes that released it, and only theirs.
- **Who is pooled**: by default the persons linked at every node pooled (``pooled="every_node"``),
  the pool's cohort; ``pooled="any_node"`` takes a person linked at any of them, and then every
  extract must release the same variables (a person held only at nodes that did not release a
  variable would read it as none).
- **Person ids**: the pooled link ids in sorted order are numbered 1 to N, and that number is
  the pool's ``person_id``. Link ids are random, so the number says nothing of any node's ids or
  order. The link ids themselves are **not kept** in the pool: nothing in it needs them, and
  with a node's table of person to link id they would lead back to the node's persons.
- **Person attributes** (birth, gender) come from the first node in ``order`` (by default the
  nodes' names sorted) that released them and holds the person; a person whose nodes disagree
  on gender, or on the year, month or day of birth (where both hold it), among the nodes that
  released it, is counted, never named.
- **Rows**: the rows of each released table of every node that released it, under the pool's
  person ids, each table's own id numbered 1, 2, ... afresh (by person, node and row), so no
  two nodes' ids collide. Observation periods are every node's (each extract releases them).
  The vocabulary is the nodes' rows of it, each concept once (the first node's row), so it holds
  the concepts of the released variables and no others.
- **Tables**: the released tables with the released columns, typed as in the CDM, without its
  NOT NULL constraints; person always has ``gender_concept_id`` and ``year_of_birth``, which
  every cohort and the analysis frame read, empty where not released. A table not released is
  absent, so a query reading it fails rather than finding no rows.

The file is built beside ``out`` and moved into place when complete. :class:`MergeReport` holds
counts, and which node released which variable.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
import pyarrow as pa

from fivesafes.data.omop import OMOP_TABLES
from fivesafes.pool.checks import Bounds
from fivesafes.pool.extract import Extract
from fivesafes.pool.minimise import EVENT_ID, VOCABULARY, released_columns, released_tables

Pooled = Literal["every_node", "any_node"]
ALWAYS_IN_PERSON = ("gender_concept_id", "year_of_birth")
"""Columns of person that every cohort and the analysis frame read: always in the pool."""
BIRTH_FIELDS = ("year_of_birth", "month_of_birth", "day_of_birth")


@dataclass(frozen=True)
class MergeReport:
    """What a merge did, in counts, and which node released which variable."""

    variables: tuple[str, ...]  # every variable released, in node order
    persons_per_node: dict[str, int]  # persons in each node's extract
    persons_pooled: int
    gender_disagreements: int  # pooled persons whose nodes hold different genders
    birth_disagreements: int  # ... different years, months or days of birth
    rows: dict[str, int]  # rows of each table of the pool
    sources: dict[str, tuple[str, ...]]  # variable -> the nodes that released it, in order

    def variables_of(self, node: str) -> tuple[str, ...]:
        """The variables ``node`` released, in the order of :attr:`variables`."""
        return tuple(v for v in self.variables if node in self.sources[v])


def merge(
    extracts: Mapping[str, Extract],
    out: Path,
    *,
    pooled: Pooled = "every_node",
    order: Sequence[str] | None = None,
    bounds: Bounds | None = None,
) -> MergeReport:
    """Write the pool's OMOP CDM, merged from ``extracts`` (node name -> extract), to ``out``."""
    nodes = sorted(extracts) if order is None else list(order)
    if not nodes or sorted(nodes) != sorted(extracts):
        raise ValueError("a merge needs at least one extract, and an order naming each node once")
    released = [extracts[node].variables for node in nodes]
    if pooled == "any_node" and len({frozenset(v) for v in released}) > 1:
        raise ValueError("pooling the persons of any node needs every node to send every variable")
    for node in nodes:
        extracts[node].check(bounds)
    variables = tuple(dict.fromkeys(v for sent in released for v in sent))
    held = [extracts[node].link_ids for node in nodes]
    chosen = set.intersection(*map(set, held)) if pooled == "every_node" else set().union(*held)
    links = sorted(chosen)
    ids = pa.table({"link_id": links, "pool_id": pa.array(range(1, len(links) + 1), pa.int32())})

    out = Path(out)
    partial = out.with_name(f".{out.name}.partial")
    partial.unlink(missing_ok=True)
    con = duckdb.connect(str(partial))
    try:
        con.register("pool_ids", ids)
        for n, node in enumerate(nodes):
            for name, table in extracts[node].tables.items():
                con.register(f"node{n}_{name}", table)
        writer = _Writer(con, released)
        for name in released_tables(variables):
            writer.table(name)
        gender = writer.disagreements(("gender_concept_id",))
        birth = writer.disagreements(BIRTH_FIELDS)
        rows = {name: writer.count(name) for name in released_tables(variables)}
        con.execute("CHECKPOINT")
        con.close()
        os.replace(partial, out)
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.close()
        partial.unlink(missing_ok=True)
        raise
    return MergeReport(
        variables=variables,
        persons_per_node={node: len(links) for node, links in zip(nodes, held, strict=True)},
        persons_pooled=len(links),
        gender_disagreements=gender,
        birth_disagreements=birth,
        rows=rows,
        sources={
            v: tuple(node for node, sent in zip(nodes, released, strict=True) if v in sent)
            for v in variables
        },
    )


class _Writer:
    """Writes the pool's tables from the nodes' tables registered as ``node<n>_<table>``, node
    ``n`` having released ``released[n]``."""

    def __init__(self, con: duckdb.DuckDBPyConnection, released: list[tuple[str, ...]]):
        self.con, self.released = con, released
        self.variables = tuple(dict.fromkeys(v for sent in released for v in sent))

    def _columns(self, name: str) -> list[str]:
        released = set(released_columns(name, self.variables))
        if name == "person":
            released |= set(ALWAYS_IN_PERSON)
        if name in EVENT_ID:
            released.add(EVENT_ID[name])
        return [c.name for c in OMOP_TABLES[name] if c.name in released]

    def _senders(self, name: str, column: str | None = None) -> list[int]:
        """The ranks of the nodes that released table ``name`` (with ``column``)."""
        return [
            n
            for n, sent in enumerate(self.released)
            if (
                name in released_tables(sent)
                if column is None
                else column in released_columns(name, sent)
            )
        ]

    def _union(self, name: str, ranks: list[int], columns: Sequence[str] = ("*",)) -> str:
        """The rows of ``name`` of the nodes ``ranks``, with the node's rank, as one relation."""
        select = ", ".join(columns)
        return " UNION ALL BY NAME ".join(
            f"SELECT {n} AS node_rank, {select} FROM node{n}_{name}"  # noqa: S608 (names are ours)
            for n in ranks
        )

    def table(self, name: str) -> None:
        types = {c.name: c.type for c in OMOP_TABLES[name]}
        columns = self._columns(name)
        body = ", ".join(f"{c} {types[c]}" for c in columns)
        self.con.execute(f"CREATE TABLE {name} ({body})")
        released = list(released_columns(name, self.variables))
        union = self._union(name, self._senders(name))
        if name in VOCABULARY:
            key = (
                "concept_id" if name == "concept" else "ancestor_concept_id, descendant_concept_id"
            )
            select = ", ".join(released)
            sql = (
                f"SELECT {select} FROM ({union}) "  # noqa: S608 (names from the CDM's lists)
                f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY node_rank) = 1"
            )
        elif name == "person":
            sql = self._person([c for c in released if c != "person_id"])
        else:
            kept = [c for c in released if c != "person_id"]
            order = ", ".join(["ids.pool_id", "r.node_rank", *(f"r.{c}" for c in kept)])
            sql = (
                f"SELECT CAST(row_number() OVER (ORDER BY {order}) AS INTEGER) "  # noqa: S608
                f"AS {EVENT_ID[name]}, ids.pool_id AS person_id, "
                f"{', '.join(f'r.{c}' for c in kept)} "
                f"FROM ({union}) r JOIN pool_ids ids ON r.person_id = ids.link_id"
            )
        self.con.execute(f"INSERT INTO {name} BY NAME {sql}")

    def _person(self, columns: list[str]) -> str:
        """Each pooled person once, each column from the first node that released it and holds
        the person (columns released by the same nodes are taken together)."""
        groups: dict[tuple[int, ...], list[str]] = {}
        for column in columns:
            groups.setdefault(tuple(self._senders("person", column)), []).append(column)
        picked, joins = [], []
        for g, (ranks, together) in enumerate(groups.items()):
            union = self._union("person", list(ranks), ["person_id", *together])
            joins.append(
                f"LEFT JOIN (SELECT i.pool_id, {', '.join(f'r.{c}' for c in together)} "  # noqa: S608
                f"FROM ({union}) r JOIN pool_ids i ON r.person_id = i.link_id "
                "QUALIFY row_number() OVER (PARTITION BY i.pool_id ORDER BY r.node_rank) = 1"
                f") g{g} ON g{g}.pool_id = ids.pool_id"
            )
            picked += [f"g{g}.{c}" for c in together]
        return (
            f"SELECT {', '.join(['ids.pool_id AS person_id', *picked])} "  # noqa: S608
            f"FROM pool_ids ids {' '.join(joins)} ORDER BY ids.pool_id"
        )

    def disagreements(self, fields: Sequence[str]) -> int:
        """Pooled persons whose values of ``fields`` of person differ between the nodes that
        released them (empty values aside)."""
        ranks = self._senders("person", fields[0])
        if not ranks:
            return 0
        union = self._union("person", ranks, ["person_id", *fields])
        differ = " OR ".join(f"count(DISTINCT r.{c}) > 1" for c in fields)
        found = self.con.execute(
            f"SELECT count(*) FROM (SELECT ids.pool_id FROM ({union}) r "  # noqa: S608
            f"JOIN pool_ids ids ON r.person_id = ids.link_id GROUP BY ids.pool_id HAVING {differ})"
        ).fetchone()
        assert found is not None
        return int(found[0])

    def count(self, name: str) -> int:
        found = self.con.execute(f"SELECT count(*) FROM {name}").fetchone()  # noqa: S608
        assert found is not None
        return int(found[0])
