"""The platform's own cohort model and its Circe translation give the same persons, with the
same index dates, on a synthetic CDM (whose events all lie in observation periods): the two
front ends compile to the same thing. circepy runs the translation; our compiler the original."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fivesafes.cohorts.circe import CirceCohort
from fivesafes.cohorts.compile import cohort_persons
from fivesafes.cohorts.criteria import Cohort
from fivesafes.cohorts.to_circe import to_circe
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource
from fivesafes.data.synth import concepts as c
from fivesafes.data.synth import generate

COHORTS: list[dict[str, Any]] = [
    {"name": "lung cancer", "criteria": [{"domain": "condition", "concepts": [c.LUNG_CANCER]}]},
    {
        "name": "women 40-75 with diabetes first recorded 2012-2020, on metformin, no COPD",
        "sex": ["female"],
        "age": {"min": 40, "max": 75},
        "criteria": [
            {
                "domain": "condition",
                "concepts": [c.DIABETES_MELLITUS],
                "window": {"start": "2012-01-01", "end": "2020-12-31"},
            },
            {"domain": "drug", "concepts": [c.METFORMIN]},
            {"domain": "condition", "concepts": [c.COPD], "exclude": True},
        ],
    },
    {
        "name": "BMI 30 or more (kg/m2), indexed on it, current smokers, men",
        "sex": ["male"],
        "criteria": [
            {
                "domain": "measurement",
                "concepts": [c.BMI],
                "value": {"min": 30.0},
                "units": [c.KG_PER_M2],
            },
            {
                "domain": "observation",
                "concepts": [c.TOBACCO_SMOKING_STATUS],
                "value_concepts": [c.CURRENT_SMOKER],
            },
        ],
    },
    {
        "name": "a CT of the chest after 2016, indexed on it; the parent hypertension concept only",
        "index": {"type": "first_event", "criterion": 1},
        "age": {"max": 70},
        "criteria": [
            {"domain": "condition", "concepts": [c.HYPERTENSIVE_DISORDER], "descendants": False},
            {"domain": "procedure", "concepts": [c.CT_CHEST], "window": {"start": "2016-01-01"}},
        ],
    },
]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("to-circe") / "cdm.duckdb"
    generate(path, 4000, 91, "default")
    return path


@pytest.mark.parametrize("raw", COHORTS, ids=[c["name"][:40] for c in COHORTS])
def test_own_model_and_its_circe_form_find_the_same_persons_and_dates(site, raw):
    cohort = Cohort.model_validate(raw)
    circe = CirceCohort(name=cohort.name, circe=to_circe(cohort))
    with open_omop(DuckDBSource(engine="duckdb", path=site)) as db:
        ours = cohort_persons(cohort, db).to_pandas()
        theirs = cohort_persons(circe, db).to_pandas()
    assert len(ours) > 5, "a cohort of nobody checks little"
    expected = dict(zip(ours.person_id, ours.index_date, strict=True))
    found = dict(zip(theirs.person_id, theirs.index_date, strict=True))
    assert found == expected


def test_a_cohort_not_indexed_on_an_event_has_no_circe_form():
    fixed = Cohort.model_validate(
        {"name": "on a day", "index": {"type": "fixed", "date": "2020-01-01"}}
    )
    with pytest.raises(ValueError, match="indexed on fixed"):
        to_circe(fixed)
