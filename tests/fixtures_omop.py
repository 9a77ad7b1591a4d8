"""Tiny hand-written OMOP CDMs, opened on DuckDB or PostgreSQL.

A spec test writes the few rows that explain a rule as an :class:`OmopRows` and asks the
``make_db`` fixture for an :class:`OmopDatabase`. ``make_db`` is parametrised over both
engines: DuckDB (a file, opened read-only as a node would) and PostgreSQL (the same file
copied by ``copy_omop_to_postgres`` into a schema of its own, dropped afterwards). The
PostgreSQL half is marked ``postgres`` and fails, never skips, when the server is down.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import psycopg
import pyarrow as pa
import pytest
from psycopg import sql

from fivesafes.data.engines import open_omop
from fivesafes.data.pg_load import copy_omop_to_postgres
from fivesafes.data.source import DuckDBSource, OmopDatabase, PostgresSource

MALE, FEMALE = 8507, 8532
PG_URL = os.environ.get("FIVESAFES_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")

_ID = pa.int64()
_CONCEPT = pa.int32()
_DATE = pa.date32()
SCHEMAS: dict[str, pa.Schema] = {
    "person": pa.schema(
        [("person_id", _ID), ("gender_concept_id", _CONCEPT), ("year_of_birth", pa.int32())]
    ),
    "observation_period": pa.schema(
        [
            ("observation_period_id", _ID),
            ("person_id", _ID),
            ("observation_period_start_date", _DATE),
            ("observation_period_end_date", _DATE),
        ]
    ),
    "condition_occurrence": pa.schema(
        [
            ("condition_occurrence_id", _ID),
            ("person_id", _ID),
            ("condition_concept_id", _CONCEPT),
            ("condition_start_date", _DATE),
        ]
    ),
    "drug_exposure": pa.schema(
        [
            ("drug_exposure_id", _ID),
            ("person_id", _ID),
            ("drug_concept_id", _CONCEPT),
            ("drug_exposure_start_date", _DATE),
        ]
    ),
    "procedure_occurrence": pa.schema(
        [
            ("procedure_occurrence_id", _ID),
            ("person_id", _ID),
            ("procedure_concept_id", _CONCEPT),
            ("procedure_date", _DATE),
        ]
    ),
    "measurement": pa.schema(
        [
            ("measurement_id", _ID),
            ("person_id", _ID),
            ("measurement_concept_id", _CONCEPT),
            ("measurement_date", _DATE),
            ("value_as_number", pa.float64()),
            ("unit_concept_id", _CONCEPT),
        ]
    ),
    "observation": pa.schema(
        [
            ("observation_id", _ID),
            ("person_id", _ID),
            ("observation_concept_id", _CONCEPT),
            ("observation_date", _DATE),
            ("value_as_concept_id", _CONCEPT),
        ]
    ),
    "concept": pa.schema([("concept_id", _CONCEPT), ("concept_name", pa.string())]),
    "concept_ancestor": pa.schema(
        [("ancestor_concept_id", _CONCEPT), ("descendant_concept_id", _CONCEPT)]
    ),
}

Day = str  # "YYYY-MM-DD", to keep spec tables readable


@dataclass
class OmopRows:
    """Rows of a tiny CDM, written as short tuples; event ids are filled in.

    The ``concept`` table holds every concept id mentioned anywhere here (gender, events,
    values, units, ``concept_ancestor``) plus ``concepts``: a cohort naming any other id
    names an unknown concept.
    """

    person: list[tuple[int, int, int]] = field(default_factory=list)  # id, gender, birth year
    observation_period: list[tuple[int, Day, Day]] = field(default_factory=list)
    condition: list[tuple[int, int, Day]] = field(default_factory=list)  # person, concept, date
    drug: list[tuple[int, int, Day]] = field(default_factory=list)
    procedure: list[tuple[int, int, Day]] = field(default_factory=list)
    # person, concept, date, value_as_number, unit_concept_id
    measurement: list[tuple[int, int, Day, float | None, int | None]] = field(default_factory=list)
    # person, concept, date, value_as_concept_id
    observation: list[tuple[int, int, Day, int | None]] = field(default_factory=list)
    concept_ancestor: list[tuple[int, int]] = field(default_factory=list)  # ancestor, desc.
    concepts: list[int] = field(default_factory=list)

    def tables(self) -> dict[str, pa.Table]:
        """The rows as Arrow tables with CDM column names and types."""
        rows: dict[str, list[tuple[object, ...]]] = {
            "person": list(self.person),
            "observation_period": _numbered(self.observation_period),
            "condition_occurrence": _numbered(self.condition),
            "drug_exposure": _numbered(self.drug),
            "procedure_occurrence": _numbered(self.procedure),
            "measurement": _numbered(self.measurement),
            "observation": _numbered(self.observation),
            "concept_ancestor": list(self.concept_ancestor),
        }
        rows["concept"] = [(c, f"concept {c}") for c in sorted(self._concept_ids())]
        return {name: _arrow(SCHEMAS[name], table_rows) for name, table_rows in rows.items()}

    def _concept_ids(self) -> set[int]:
        ids = set(self.concepts) | {p[1] for p in self.person}
        for events in (self.condition, self.drug, self.procedure):
            ids |= {e[1] for e in events}
        ids |= {m[1] for m in self.measurement} | {m[4] for m in self.measurement if m[4]}
        ids |= {o[1] for o in self.observation} | {o[3] for o in self.observation if o[3]}
        ids |= {a for pair in self.concept_ancestor for a in pair}
        return ids


def _numbered(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    return [(n, *row) for n, row in enumerate(rows, start=1)]


def _arrow(schema: pa.Schema, rows: list[tuple[object, ...]]) -> pa.Table:
    columns: list[list[object]] = [[] for _ in schema]
    for row in rows:
        for n, value in enumerate(row):
            is_date = pa.types.is_date(schema.field(n).type)
            columns[n].append(date.fromisoformat(value) if is_date and value else value)
    return pa.Table.from_arrays(
        [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)], schema=schema
    )


def write_duckdb(tables: dict[str, pa.Table], path: Path) -> Path:
    """Write ``tables`` into a new DuckDB file at ``path``."""
    with duckdb.connect(str(path)) as con:
        for name, table in tables.items():
            con.register("arrow_input", table)
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM arrow_input')
            con.unregister("arrow_input")
    return path


def new_schema_name() -> str:
    """A schema name no other test uses."""
    return f"t_{uuid.uuid4().hex[:16]}"


def drop_schema(name: str) -> None:
    """Drop the PostgreSQL schema ``name`` and everything in it."""
    with psycopg.connect(PG_URL, autocommit=True) as con:
        con.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh, uniquely named schema in the test database, dropped afterwards."""
    name = new_schema_name()
    yield name
    drop_schema(name)


def open_engine(engine: str, duckdb_path: Path, schema: str | None = None) -> OmopDatabase:
    """Open the CDM in ``duckdb_path`` on ``engine``; for PostgreSQL copy it into ``schema``
    first."""
    if engine == "duckdb":
        return open_omop(DuckDBSource(engine="duckdb", path=duckdb_path))
    assert schema is not None
    copy_omop_to_postgres(duckdb_path, PG_URL, schema)
    return open_omop(PostgresSource(engine="postgres", url=PG_URL, schema=schema))


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def omop_engine(request: pytest.FixtureRequest) -> str:
    """Each query engine a node may run on."""
    return str(request.param)


@pytest.fixture
def make_db(omop_engine: str, tmp_path: Path) -> Iterator[Callable[[OmopRows], OmopDatabase]]:
    """Build an :class:`OmopDatabase` from :class:`OmopRows` on the current engine."""
    opened: list[tuple[OmopDatabase, str | None]] = []

    def make(rows: OmopRows) -> OmopDatabase:
        path = write_duckdb(rows.tables(), tmp_path / f"omop{len(opened)}.duckdb")
        schema = new_schema_name() if omop_engine == "postgres" else None
        try:
            db = open_engine(omop_engine, path, schema)
        except BaseException:
            if schema is not None:
                drop_schema(schema)
            raise
        opened.append((db, schema))
        return db

    yield make
    for db, schema in opened:
        db.close()
        if schema is not None:
            drop_schema(schema)
