"""Imaging cohorts: the ``imaging`` criterion combined with clinical ones, compiled on DuckDB
over a synthetic archive indexed for real, against the planted ground truth read by a second,
independent reading of the rules (``tests/cohort_reference.py``); the criterion's bounds and
errors; opt-outs; what a task with one reads (its data domains)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from pydantic import ValidationError

from cohort_reference import reference_persons
from fivesafes.analyses.attrition.steps import partial_cohorts
from fivesafes.analyses.registry import REGISTRY
from fivesafes.cohorts.compile import cohort_ids
from fivesafes.cohorts.criteria import Cohort
from fivesafes.cohorts.to_circe import to_circe
from fivesafes.data.compiled import fetch
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource
from imaging_cohorts import COHORTS, CURRENT_SMOKER
from imaging_data import SynthNode, synth_node


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> SynthNode:
    return synth_node(tmp_path_factory.mktemp("imaging-cohort"), persons=800, persons_limit=None)


@pytest.fixture(scope="module")
def database(node) -> Path:
    database = node.fresh_database("indexed")
    node.index(database, node.root / "headers.sqlite")
    return database


@pytest.fixture(scope="module")
def tables(node, database) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(database), read_only=True) as con:
        names = ["person", "observation_period", "concept_ancestor", "procedure_occurrence"]
        names += ["condition_occurrence", "drug_exposure", "measurement", "observation"]
        found = {name: con.table(name).df() for name in names}
    found["imaging_truth"] = pd.read_csv(
        node.truth / "series.csv", dtype=str, keep_default_na=False
    )
    return found


def persons(database: Path, cohort: Cohort) -> set[int]:
    with open_omop(DuckDBSource(engine="duckdb", path=database)) as db:
        ids = fetch(db, cohort_ids, cohort=cohort).column("person_id").to_pylist()
    return set(ids)


@pytest.mark.parametrize("raw", COHORTS, ids=[c["name"] for c in COHORTS])
def test_imaging_cohorts_find_the_planted_persons(raw, database, tables):
    cohort = Cohort.model_validate(raw)
    expected = set(reference_persons(tables, cohort))
    assert persons(database, cohort) == expected
    assert expected, "a cohort the synthetic archive leaves empty checks nothing"


def test_the_pictures_question_is_narrower_than_its_imaging_half(database, tables):
    whole, imaging = (Cohort.model_validate(raw) for raw in COHORTS[:2])
    found, wider = persons(database, whole), persons(database, imaging)
    assert found < wider and len(wider) >= 20


def test_unlinked_and_undated_series_are_never_events(node, tmp_path):
    """Series of patients outside the CDM are never matched; a series whose dates were
    judged absurd (and dropped) is not an event."""
    database = node.fresh_database("undated")
    node.index(database, tmp_path / "headers.sqlite")
    with duckdb.connect(str(database)) as con:
        linked = con.execute(
            "SELECT count(DISTINCT person_id) FROM imaging_series WHERE person_id IS NOT NULL"
        ).fetchone()[0]
        con.execute("UPDATE imaging_series SET series_date = NULL, study_date = NULL")
    any_series = Cohort.model_validate({"name": "any", "criteria": [{"domain": "imaging"}]})
    assert linked > 0 and persons(database, any_series) == set()


def test_an_opted_out_person_leaves_every_imaging_cohort(node, database, tmp_path):
    cohort = Cohort.model_validate(COHORTS[1])
    before = persons(database, cohort)
    leaving = min(before)
    copy = tmp_path / "opted-out.duckdb"
    shutil.copy(database, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("CREATE TABLE fivesafes_opt_out (person_id BIGINT)")
        con.execute("INSERT INTO fivesafes_opt_out VALUES (?)", [leaving])
    assert persons(copy, cohort) == before - {leaving}
    with open_omop(DuckDBSource(engine="duckdb", path=copy)) as db:
        series = db.table("imaging_series")
        assert series.filter(series.person_id == leaving).count().execute() == 0


@pytest.mark.parametrize(
    ("criterion", "says"),
    [
        ({"modality": ["CAT"]}, "DICOM's defined terms"),
        ({"modality": []}, "at least 1 item"),
        ({"body_part": ["THORAX"]}, "a body part must be one of"),
        ({"contrast": ["maybe"]}, "'yes', 'no' or 'unknown'"),
        ({"description": "chest\x00"}, "printable text"),
        ({"description": "x" * 65}, "at most 64 characters"),
        ({"min_slices": 0}, "greater than or equal to 1"),
        ({"min_slices": "4"}, "valid integer"),
        ({"days_from_index": {}}, "needs min, max or both"),
        ({"days_from_index": {"min": 10, "max": 1}}, "min must not be above max"),
        ({"window": {"start": "2099-01-01T00:00"}}, "YYYY-MM-DD"),
        ({"series_description": "CHEST"}, "Extra inputs are not permitted"),
    ],
)
def test_a_bad_imaging_criterion_is_refused_in_words(criterion, says):
    raw = {"name": "c", "criteria": [{"domain": "imaging", **criterion}]}
    with pytest.raises(ValidationError) as refused:
        Cohort.model_validate(raw)
    assert says in str(refused.value)


def test_the_index_criterion_cannot_be_dated_from_its_own_index():
    raw = {
        "name": "c",
        "criteria": [{"domain": "imaging", "days_from_index": {"min": 0}}, CURRENT_SMOKER],
    }
    with pytest.raises(ValidationError, match="is the index criterion"):
        Cohort.model_validate(raw)
    indexed_on_smoking = {**raw, "index": {"type": "first_event", "criterion": 1}}
    assert Cohort.model_validate(indexed_on_smoking).criteria[0].domain == "imaging"


def test_a_task_with_an_imaging_criterion_reads_the_imaging_domain():
    imaging = Cohort.model_validate(COHORTS[0])
    clinical = Cohort.model_validate({"name": "c", "criteria": [CURRENT_SMOKER]})
    assert imaging.data_domains() == {"omop", "imaging"}
    assert clinical.data_domains() == {"omop"}
    for name in ("count", "attrition", "characterise", "summary"):
        analysis = REGISTRY[name]
        fields = {"cohort": imaging}
        if name == "summary":
            fields["variable"] = "age"
        parameters = analysis.parameters.model_validate(fields)
        assert "imaging" in analysis.domains_of(parameters), name


def test_an_imaging_cohort_has_no_circe_form_and_names_its_attrition_steps():
    cohort = Cohort.model_validate(COHORTS[0])
    with pytest.raises(ValueError, match="no Circe form"):
        to_circe(cohort)
    names = [name for name, _ in partial_cohorts(cohort)]
    assert names == [
        "persons with an index date",
        "age at index",
        "criterion 1: with observation 43054909",
    ]
    radiographs = Cohort.model_validate(COHORTS[5])
    steps = [name for name, _ in partial_cohorts(radiographs)]
    assert steps[1] == "criterion 1: with imaging series CR or DX, days 0..730"
