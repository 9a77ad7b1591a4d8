"""Opted-out persons never contribute: every analysis on a node whose opt-out list names some
persons gives exactly what it gives on the same data with those persons' rows deleted, and no
released person set holds any of them. DuckDB and PostgreSQL; the list is loaded with the real
``fivesafes node opt-out load`` command."""

from __future__ import annotations

import shutil

import duckdb
import numpy as np
import pytest

from federation import fs, postgres_database
from fivesafes.cohorts.criteria import Cohort
from fivesafes.cohorts.to_circe import to_circe
from fivesafes.data.engines import open_omop
from fivesafes.data.opt_out import count_opt_outs, read_opt_out_file, replace_opt_outs
from fivesafes.data.pg_load import copy_omop_to_postgres
from fivesafes.data.source import DuckDBSource, PostgresSource, SparkSource
from fivesafes.data.spark import write_parquet
from fivesafes.data.synth import concepts as c
from fivesafes.data.synth import generate
from fivesafes.data.views import PERSON_TABLES
from fivesafes.node.person_sets import InMemoryPersonSetStore
from fivesafes.node.runner import run_task
from fivesafes.protocol.models import Instruction
from fivesafes.sdc.profiles import ACRO
from in_process import task_payload

AT_2018 = {"name": "everyone", "index": {"type": "fixed", "date": "2018-01-01"}}
LUNG = {
    "name": "lung cancer",
    "criteria": [{"domain": "condition", "concepts": [c.LUNG_CANCER]}],
}
TASKS = [
    ("count", {"cohort": {"name": "everyone"}}),
    ("count", {"cohort": LUNG}),
    ("summary", {"cohort": AT_2018, "variable": "age"}),
    ("summary", {"cohort": AT_2018, "variable": "bmi", "by": "sex"}),
    ("crosstab", {"cohort": AT_2018, "rows": "smoker", "columns": "lung_cancer"}),
    ("crosstab", {"cohort": AT_2018, "rows": "sex", "value": "bmi", "statistic": "sum"}),
    ("histogram", {"cohort": AT_2018, "variable": "age", "edges": [0, 40, 60, 80, 120]}),
    ("km", {"cohort": AT_2018, "time": "time_to_lung_cancer", "by": "smoker", "horizon": 6.0}),
    ("meta", {"cohort": AT_2018, "formula": "hypertension ~ age + smoker", "family": "binomial"}),
    ("glm", {"cohort": AT_2018, "formula": "hypertension ~ age + sex", "family": "binomial"}),
    (
        "count",
        {"cohort": {"name": "lung cancer (Circe)", "circe": to_circe(Cohort.model_validate(LUNG))}},
    ),
    ("attrition", {"cohort": {**LUNG, "age": {"min": 50}, "sex": ["male"]}}),
    ("characterise", {"cohort": AT_2018, "top": 5}),
]


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """The same synthetic site three times: as generated, with an opt-out list, and with the
    opted-out persons' rows deleted."""
    root = tmp_path_factory.mktemp("opt-out")
    original = root / "original.duckdb"
    generate(original, 1500, 77, "default")
    with duckdb.connect(str(original), read_only=True) as con:
        everyone = np.array([r[0] for r in con.execute("SELECT person_id FROM person").fetchall()])
        cancer = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT person_id FROM condition_occurrence o JOIN concept_ancestor a "
                "ON o.condition_concept_id = a.descendant_concept_id "
                f"WHERE a.ancestor_concept_id = {c.LUNG_CANCER}"
            ).fetchall()
        ]
    rng = np.random.default_rng(5)
    chosen = set(rng.choice(everyone, 120, replace=False).tolist()) | set(cancer[::2])
    opted = sorted(chosen)
    listed, deleted = root / "listed.duckdb", root / "deleted.duckdb"
    shutil.copy(original, listed)
    shutil.copy(original, deleted)
    with duckdb.connect(str(deleted)) as con:
        found = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        tables = {r[0] for r in found}
        ids = ", ".join(str(i) for i in opted)
        for table in PERSON_TABLES & tables:
            con.execute(f"DELETE FROM {table} WHERE person_id IN ({ids})")
    listing = root / "opt-outs.csv"
    listing.write_text("person_id\n" + "\n".join(str(i) for i in opted) + "\n")
    return {
        "original": original,
        "listed": listed,
        "deleted": deleted,
        "list": listing,
        "ids": opted,
    }


def node_toml(tmp_path, *data: str) -> str:
    """A node configured with ``fivesafes node init`` (its key and state database made)."""
    fs("node", "init", "--name", "northfield", "--hub-url", "http://127.0.0.1:9",
       "--dir", str(tmp_path), *data)  # fmt: skip
    return str(tmp_path / "node.toml")


RUNS = iter(range(1_000_000))


def run_everything(source) -> dict[str, tuple]:
    """Each task's released output and the persons it released, by task (new task ids each
    time, as the hub gives)."""
    results = {}
    with open_omop(source) as db:
        for n, (analysis, parameters) in enumerate(TASKS):
            payload = task_payload(analysis, parameters, next(RUNS))
            instruction = (
                Instruction(task_id=payload.task_id, round=0, step="mean")
                if analysis == "glm"
                else None
            )
            outcome = run_task(payload, db, ACRO, InMemoryPersonSetStore(), instruction)
            assert outcome.status == "succeeded", (analysis, outcome.reason)
            persons = set(outcome.release.persons) if outcome.release else set()
            results[f"{n}:{analysis}"] = (outcome.output, persons)
    return results


def same(a, b) -> bool:
    """Equal, floats to 1e-9 relative, through nested dicts and lists."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9, abs=1e-12)
    return a == b


def assert_no_opted_out_person_contributes(listed: dict, deleted: dict, opted: list[int]):
    for key, (output, persons) in listed.items():
        assert persons.isdisjoint(opted), key
        # the same released output, value for value (floats to rounding: rows come in
        # another order from a table with rows deleted than from one read through the list)
        assert same(output, deleted[key][0]), key
        assert persons == deleted[key][1], key


def test_duckdb_node_excludes_opted_out_persons_from_every_analysis(sites, tmp_path):
    config = node_toml(tmp_path, "--data", str(sites["listed"]))
    before = run_everything(DuckDBSource(engine="duckdb", path=sites["listed"]))
    shown = fs("node", "opt-out", "show", "--config", config).stdout
    assert "No opt-out list" in shown
    loaded = fs("node", "opt-out", "load", str(sites["list"]), "--config", config).stdout
    assert f"{len(sites['ids'])} persons" in loaded
    assert (
        f"{len(sites['ids'])} persons" in fs("node", "opt-out", "show", "--config", config).stdout
    )
    audit = fs("node", "verify-audit", "--config", config).stdout
    assert "audit chain intact" in audit
    listed = run_everything(DuckDBSource(engine="duckdb", path=sites["listed"]))
    deleted = run_everything(DuckDBSource(engine="duckdb", path=sites["deleted"]))
    assert_no_opted_out_person_contributes(listed, deleted, sites["ids"])
    # the list made a difference: without it the opted-out persons were counted
    assert any(before[k][1] & set(sites["ids"]) for k in before)


@pytest.mark.postgres
def test_postgres_node_excludes_opted_out_persons_from_every_analysis(sites, tmp_path):
    with postgres_database() as url:
        for schema, path in (("listed", sites["listed"]), ("deleted", sites["deleted"])):
            copy_omop_to_postgres(path, url, schema)
        config = node_toml(tmp_path, "--pg-url", url, "--pg-schema", "listed")
        fs("node", "opt-out", "load", str(sites["list"]), "--config", config)
        listed = run_everything(PostgresSource(engine="postgres", url=url, schema="listed"))
        deleted = run_everything(PostgresSource(engine="postgres", url=url, schema="deleted"))
    assert_no_opted_out_person_contributes(listed, deleted, sites["ids"])


def test_spark_node_excludes_opted_out_persons_from_every_analysis(sites, tmp_path):
    """Spark reads the same list as a Parquet file next to the tables; every analysis on it
    equals the one on DuckDB with the rows deleted (a cross-engine check as well)."""
    folder = tmp_path / "parquet"
    write_parquet(sites["original"], folder)
    source = SparkSource(engine="spark", path=folder)
    replace_opt_outs(source, read_opt_out_file(sites["list"]))
    assert count_opt_outs(source) == len(sites["ids"])
    listed = run_everything(source)
    deleted = run_everything(DuckDBSource(engine="duckdb", path=sites["deleted"]))
    assert_no_opted_out_person_contributes(listed, deleted, sites["ids"])


def test_a_bad_opt_out_file_changes_nothing_and_names_only_the_line(sites, tmp_path):
    copy = tmp_path / "copy.duckdb"
    shutil.copy(sites["deleted"], copy)
    config = node_toml(tmp_path, "--data", str(copy))
    bad = tmp_path / "bad.csv"
    bad.write_text("person_id\n12\nNHS 943 476 5919\n")
    result = fs("node", "opt-out", "load", str(bad), "--config", config, check=False)
    assert result.returncode == 2
    assert "line 3" in result.stderr + result.stdout
    assert "943" not in result.stderr + result.stdout  # the text of the line is not repeated
    assert "Traceback" not in result.stderr
    assert "No opt-out list" in fs("node", "opt-out", "show", "--config", config).stdout
