"""Imaging cohorts on every engine: DuckDB, PostgreSQL and Spark (local mode) find the same
persons, equal to the planted ground truth (``tests/cohort_reference.py`` reading the
synthetic archive's ``series.csv``), for every cohort of ``test_imaging_cohort.COHORTS``.

The archive is indexed for real into a copy of its CDM; the CDM and index tables are then
copied into PostgreSQL (``copy_omop_to_postgres``) and written as Parquet for Spark
(``write_parquet``, which writes the imaging index's study and series tables with the CDM's).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from cohort_reference import reference_persons
from fivesafes.cohorts.compile import cohort_ids, cohort_persons
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.compiled import fetch
from fivesafes.data.engines import open_omop
from fivesafes.data.source import OmopDatabase, SparkSource
from fivesafes.data.spark import write_parquet
from fivesafes.imaging.summary import by_kind, by_year, cohort_series
from fixtures_omop import drop_schema, new_schema_name, open_engine
from imaging_cohorts import COHORTS, planted_tables
from imaging_data import synth_node

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def indexed(tmp_path_factory) -> tuple[Path, Path]:
    node = synth_node(tmp_path_factory.mktemp("imaging-engines"), persons=800, persons_limit=None)
    database = node.fresh_database("indexed")
    node.index(database, node.root / "headers.sqlite")
    return database, node.truth


@pytest.fixture(scope="module")
def engines(indexed, tmp_path_factory) -> Iterator[dict[str, OmopDatabase]]:
    database, _ = indexed
    schema = new_schema_name()
    parquet = tmp_path_factory.mktemp("parquet")
    written = write_parquet(database, parquet)
    assert {"imaging_series", "imaging_study"} <= set(written)
    assert not {"imaging_instance", "imaging_files"} & set(written)  # paths stay behind
    opened = {
        "duckdb": open_engine("duckdb", database),
        "postgres": open_engine("postgres", database, schema),
        "spark": open_omop(SparkSource(engine="spark", path=parquet, master="local[2]")),
    }
    yield opened
    for db in opened.values():
        db.close()
    drop_schema(schema)


@pytest.fixture(scope="module")
def tables(indexed) -> dict[str, pd.DataFrame]:
    database, truth = indexed
    return planted_tables(database, truth)


@pytest.mark.parametrize("raw", COHORTS, ids=[c["name"] for c in COHORTS])
def test_every_engine_finds_the_planted_persons(raw, engines, tables):
    cohort = Cohort.model_validate(raw)
    expected = set(reference_persons(tables, cohort))
    found = {
        name: set(fetch(db, cohort_ids, cohort=cohort).column("person_id").to_pylist())
        for name, db in engines.items()
    }
    assert found == {name: expected for name in engines}


@pytest.mark.parametrize("raw", COHORTS[:2], ids=[c["name"] for c in COHORTS[:2]])
def test_every_engine_gives_the_same_imaging_summary(raw, engines):
    """The imaging summary's node query (``fivesafes.imaging.summary``) over the cohort's
    series: the same groups and counts on every engine."""
    cohort = Cohort.model_validate(raw)
    found = {}
    for name, db in engines.items():
        series = cohort_series(db, cohort_persons(cohort, db))
        kinds = by_kind(series).to_pyarrow().to_pylist()
        years = by_year(series).to_pyarrow().to_pylist()
        found[name] = (
            sorted(tuple(row.values()) for row in kinds),
            sorted(tuple(row.values()) for row in years),
        )
    assert found["duckdb"][0] and found["duckdb"][1]
    assert found["postgres"] == found["duckdb"] and found["spark"] == found["duckdb"]
