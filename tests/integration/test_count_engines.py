"""One cohort, every engine: DuckDB, PostgreSQL, Spark (PySpark, local mode) and the pandas
reference agree, person for person.

The CDM is the synthetic generator's (``fivesafes.data.synth``), copied into PostgreSQL with
``copy_omop_to_postgres`` (itself checked here for lossless types) and written as Parquet for
Spark with ``fivesafes.data.spark.write_parquet``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from cohort_reference import reference_persons
from fivesafes.analyses.count import cohort_person_set
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.engines import open_omop
from fivesafes.data.pg_load import copy_omop_to_postgres
from fivesafes.data.source import OmopDatabase, PostgresSource, SparkSource
from fivesafes.data.spark import write_parquet
from fivesafes.data.synth import generate
from fixtures_omop import PG_URL, OmopRows, drop_schema, new_schema_name, open_engine, write_duckdb

pytestmark = pytest.mark.postgres

COHORTS: list[dict[str, Any]] = [
    {
        "name": "smokers with a malignant neoplasm, 55-80, BMI 25-35",
        "age": {"min": 55, "max": 80},
        "criteria": [
            {"domain": "condition", "concepts": [443392]},
            {"domain": "observation", "concepts": [43054909], "value_concepts": [45881517]},
            {
                "domain": "measurement",
                "concepts": [3038553],
                "value": {"min": 25, "max": 35},
                "units": [9531],
            },
        ],
    },
    {
        "name": "diabetes 2015-2020 on metformin, HbA1c >= 6.5%",
        "criteria": [
            {
                "domain": "condition",
                "concepts": [201820],
                "window": {"start": "2015-01-01", "end": "2020-12-31"},
            },
            {"domain": "drug", "concepts": [1503297]},
            {"domain": "measurement", "concepts": [3004410], "value": {"min": 6.5}},
        ],
    },
    {
        "name": "women 40-60 on 1 Jan 2020 without hypertension",
        "index": {"type": "fixed", "date": "2020-01-01"},
        "age": {"min": 40, "max": 60},
        "sex": ["female"],
        "criteria": [{"domain": "condition", "concepts": [316866], "exclude": True}],
    },
    {
        "name": "the parent hypertension concept only",
        "criteria": [{"domain": "condition", "concepts": [316866], "descendants": False}],
    },
    {
        "name": "men under 30 when first observed",
        "age": {"max": 30},
        "sex": ["male"],
    },
    {
        "name": "CT chest after 2018, indexed on it, systolic >= 140",
        "index": {"type": "first_event", "criterion": 1},
        "age": {"min": 50},
        "criteria": [
            {"domain": "measurement", "concepts": [3004249], "value": {"min": 140}},
            {"domain": "procedure", "concepts": [4058335], "window": {"start": "2018-01-01"}},
        ],
    },
]


@pytest.fixture(scope="module")
def synthetic_cdm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("synth") / "omop.duckdb"
    generate(path, persons=3000, seed=20241123)
    return path


@pytest.fixture(scope="module")
def engines(
    synthetic_cdm: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, OmopDatabase]]:
    schema = new_schema_name()
    parquet = tmp_path_factory.mktemp("parquet")
    write_parquet(synthetic_cdm, parquet)
    databases = {
        "duckdb": open_engine("duckdb", synthetic_cdm),
        "postgres": open_engine("postgres", synthetic_cdm, schema),
        "spark": open_omop(SparkSource(engine="spark", path=parquet, master="local[2]")),
    }
    yield databases
    for db in databases.values():
        db.close()
    drop_schema(schema)


@pytest.fixture(scope="module")
def pandas_tables(synthetic_cdm: Path) -> dict[str, Any]:
    with duckdb.connect(str(synthetic_cdm), read_only=True) as con:
        names = ["person", "observation_period", "concept_ancestor"]
        names += [
            "condition_occurrence", "drug_exposure", "procedure_occurrence", "measurement",
            "observation",
        ]  # fmt: skip
        return {name: con.table(name).df() for name in names}


@pytest.mark.parametrize("raw", COHORTS, ids=[c["name"] for c in COHORTS])
def test_every_engine_and_pandas_find_the_same_persons(
    raw: dict[str, Any], engines: dict[str, OmopDatabase], pandas_tables: dict[str, Any]
) -> None:
    cohort = Cohort.model_validate(raw)
    found = {name: set(cohort_person_set(db, cohort)) for name, db in engines.items()}
    found["pandas"] = set(reference_persons(pandas_tables, cohort))
    sizes = {name: len(persons) for name, persons in found.items()}
    assert all(persons == found["pandas"] for persons in found.values()), sizes
    assert sizes["pandas"] > 0, "a cohort that matches nobody checks little"
    queries = 2 if cohort.concept_ids() else 1  # the concept check (if any) and the persons
    for name, db in engines.items():  # asked again: the SQL compiled the first time
        hits = db.compiled.hits
        assert set(cohort_person_set(db, cohort)) == found[name], name
        assert db.compiled.hits == hits + queries, name


def test_the_copy_keeps_every_row_and_type(tmp_path: Path, pg_schema: str) -> None:
    source = tmp_path / "types.duckdb"
    with duckdb.connect(str(source)) as con:
        con.execute(
            "CREATE TABLE odd (i INTEGER, b BIGINT, s SMALLINT, f DOUBLE, r REAL,"
            " d DATE, ts TIMESTAMP, ok BOOLEAN, v VARCHAR, n DECIMAL(10, 3))"
        )
        con.execute(
            "INSERT INTO odd VALUES"
            " (1, 9007199254740993, 7, 0.1, 0.5, DATE '1900-01-01',"
            "  TIMESTAMP '2020-02-29 12:34:56.789012', true, 'a,\"b\"\nc', 12.345),"
            " (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),"
            " (-2, -1, -1, 1e300, -0.0, DATE '2100-12-31', TIMESTAMP '1970-01-01', false, '', 0)"
        )
    copied = copy_omop_to_postgres(source, PG_URL, pg_schema, chunk_rows=2)
    assert copied == {"odd": 3}
    with psycopg.connect(PG_URL) as con:
        rows = con.execute(f"SELECT * FROM {pg_schema}.odd ORDER BY i NULLS LAST").fetchall()
    assert rows == [
        (-2, -1, -1, 1e300, -0.0, date(2100, 12, 31), datetime(1970, 1, 1), False, "", Decimal(0)),
        (
            1, 9007199254740993, 7, 0.1, 0.5, date(1900, 1, 1),
            datetime(2020, 2, 29, 12, 34, 56, 789012), True, 'a,"b"\nc', Decimal("12.345"),
        ),
        (None,) * 10,
    ]  # fmt: skip


def test_an_existing_table_is_replaced_only_when_asked(tmp_path: Path, pg_schema: str) -> None:
    first = write_duckdb(OmopRows(person=[(1, 8507, 1960)]).tables(), tmp_path / "a.duckdb")
    second = write_duckdb(OmopRows(person=[(1, 8507, 1960), (2, 8532, 1970)]).tables(),
                          tmp_path / "b.duckdb")  # fmt: skip
    copy_omop_to_postgres(first, PG_URL, pg_schema)
    with pytest.raises(psycopg.errors.DuplicateTable):
        copy_omop_to_postgres(second, PG_URL, pg_schema)
    assert copy_omop_to_postgres(second, PG_URL, pg_schema, replace=True)["person"] == 2


def test_postgres_sessions_are_read_only(tmp_path: Path, pg_schema: str) -> None:
    path = write_duckdb(OmopRows(person=[(1, 8507, 1960)]).tables(), tmp_path / "omop.duckdb")
    copy_omop_to_postgres(path, PG_URL, pg_schema)
    with open_omop(PostgresSource(engine="postgres", url=PG_URL, schema=pg_schema)) as db:
        assert db.table("person").count().execute() == 1
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            db.backend.raw_sql(f"DELETE FROM {pg_schema}.person")


@pytest.mark.parametrize(("nested_loops", "expected"), [(False, "off"), (True, "on")])
def test_postgres_sessions_plan_without_nested_loops_unless_configured(
    tmp_path: Path, pg_schema: str, nested_loops: bool, expected: str
) -> None:
    path = write_duckdb(OmopRows(person=[(1, 8507, 1960)]).tables(), tmp_path / "omop.duckdb")
    copy_omop_to_postgres(path, PG_URL, pg_schema)
    source = PostgresSource(
        engine="postgres", url=PG_URL, schema=pg_schema, nested_loops=nested_loops
    )
    with open_omop(source) as db:
        assert db.backend.raw_sql("SHOW enable_nestloop").fetchone()[0] == expected
