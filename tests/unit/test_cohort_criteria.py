"""The cohort JSON model: what it accepts, what it refuses and why, and its defaults."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from fivesafes.cohorts.criteria import (
    Cohort,
    FirstEventIndex,
    MeasurementCriterion,
    ObservationStartIndex,
)

DOCS = Path(__file__).parents[2] / "docs" / "cohorts.md"

EXAMPLE: dict[str, Any] = {
    "name": "CT chest smokers 55-65",
    "index": {"type": "first_event", "criterion": 0},
    "age": {"min": 55, "max": 65},
    "sex": ["female", "male"],
    "criteria": [
        {
            "domain": "condition",
            "concepts": [443388],
            "descendants": True,
            "window": {"start": "2010-01-01", "end": "2020-12-31"},
            "exclude": False,
        },
        {"domain": "drug", "concepts": [1503297]},
        {"domain": "procedure", "concepts": [4058335]},
        {
            "domain": "measurement",
            "concepts": [3038553],
            "value": {"min": 30, "max": 40},
            "units": [9531],
        },
        {"domain": "observation", "concepts": [43054909], "value_concepts": [45881517]},
    ],
}


def with_(**changes: Any) -> dict[str, Any]:
    return {**EXAMPLE, **changes}


def criterion(**fields: Any) -> dict[str, Any]:
    return with_(criteria=[{"domain": "condition", "concepts": [443388], **fields}])


def refusal(raw: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as raised:
        Cohort.model_validate(raw)
    return str(raised.value)


def test_the_example_parses_and_round_trips_through_json() -> None:
    cohort = Cohort.model_validate_json(json.dumps(EXAMPLE))
    again = Cohort.model_validate_json(cohort.model_dump_json())
    assert again == cohort
    assert isinstance(cohort.criteria[3], MeasurementCriterion)
    assert cohort.concept_ids() == {
        443388, 1503297, 4058335, 3038553, 9531, 43054909, 45881517,
    }  # fmt: skip
    assert cohort.gender_concept_ids() == (8507, 8532)


def test_defaults() -> None:
    cohort = Cohort.model_validate({"name": "minimal"})
    assert (cohort.index, cohort.age, cohort.sex, cohort.criteria) == (None, None, None, ())
    with_criterion = Cohort.model_validate(
        {"name": "x", "criteria": [{"domain": "drug", "concepts": [1]}]}
    )
    assert with_criterion.criteria[0].descendants is True
    assert with_criterion.criteria[0].exclude is False
    assert with_criterion.criteria[0].window is None


def test_the_default_index_is_the_first_inclusion_criterion_else_observation_start() -> None:
    excluded_first = Cohort.model_validate(
        {
            "name": "x",
            "criteria": [
                {"domain": "drug", "concepts": [1], "exclude": True},
                {"domain": "condition", "concepts": [2]},
            ],
        }
    )
    assert excluded_first.effective_index() == FirstEventIndex(type="first_event", criterion=1)
    only_exclusions = Cohort.model_validate(
        {"name": "x", "criteria": [{"domain": "drug", "concepts": [1], "exclude": True}]}
    )
    assert only_exclusions.effective_index() == ObservationStartIndex(type="observation_start")


def test_domain_specific_fields_are_refused_elsewhere() -> None:
    assert "Extra inputs are not permitted" in refusal(criterion(value={"min": 1}))
    assert "Extra inputs are not permitted" in refusal(criterion(units=[9531]))
    assert "Extra inputs are not permitted" in refusal(criterion(value_concepts=[1]))
    drug = with_(criteria=[{"domain": "drug", "concepts": [1], "value": {"min": 1}}])
    assert "criteria.0.drug.value" in refusal(drug)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (criterion(domain="lab"), "does not match any of the expected tags"),
        (with_(criteria=[{"concepts": [1]}]), "Unable to extract tag using discriminator"),
        (with_(unexpected=1), "Extra inputs are not permitted"),
        (criterion(concepts=[]), "at least 1 item"),
        (criterion(concepts=list(range(1, 502))), "at most 500 items"),
        (criterion(concepts=[0]), "greater than or equal to 1"),
        (criterion(concepts=[2**31]), "less than or equal to 2147483647"),
        (criterion(concepts=["443388"]), "valid integer"),
        (criterion(concepts=[True]), "valid integer"),
        (criterion(concepts=[1.5]), "valid integer"),
        (with_(criteria=[{"domain": "drug", "concepts": [1]}] * 21), "at most 20 items"),
        (criterion(window={"start": "1899-12-31"}), "from 1900-01-01 to 2100-12-31"),
        (criterion(window={"end": "2101-01-01"}), "from 1900-01-01 to 2100-12-31"),
        (criterion(window={"start": "2020-01-02", "end": "2020-01-01"}), "start must not be"),
        (criterion(window={"start": "2020-01-01T00:00:00"}), "YYYY-MM-DD"),
        (criterion(window={"start": 1577836800}), "YYYY-MM-DD"),
        (with_(age={"min": -1}), "greater than or equal to 0"),
        (with_(age={"max": 131}), "less than or equal to 130"),
        (with_(age={"min": 66, "max": 65}), "age min must not be above max"),
        (with_(sex=["other"]), "'female' or 'male'"),
        (with_(sex=[]), "at least 1 item"),
        (with_(name=""), "at least 1 character"),
        (with_(name="x" * 201), "at most 200 characters"),
        (with_(index={"type": "first_event", "criterion": 5}), "the cohort has 5 criteria"),
        (with_(index={"type": "last_event"}), "does not match any of the expected tags"),
        (with_(index={"type": "fixed"}), "Field required"),
    ],
)
def test_refusals_say_what_is_wrong(raw: dict[str, Any], message: str) -> None:
    assert message in refusal(raw)


def test_the_index_criterion_must_be_an_inclusion_criterion() -> None:
    raw = {
        "name": "x",
        "index": {"type": "first_event", "criterion": 0},
        "criteria": [{"domain": "drug", "concepts": [1], "exclude": True}],
    }
    assert "index.criterion 0 is an exclusion criterion" in refusal(raw)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({}, "needs min, max or both"),
        ({"min": 41, "max": 40}, "value min must not be above max"),
        ({"min": 1e16}, "less than or equal to"),
        ({"min": "30"}, "valid number"),
    ],
)
def test_measurement_value_ranges_are_bounded(value: dict[str, Any], message: str) -> None:
    raw = with_(criteria=[{"domain": "measurement", "concepts": [1], "value": value}])
    assert message in refusal(raw)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_values_are_refused(literal: str) -> None:
    text = (
        '{"name": "x", "criteria": [{"domain": "measurement", "concepts": [1],'
        f' "value": {{"min": {literal}}}}}]}}'
    )
    with pytest.raises(ValidationError, match="finite number"):
        Cohort.model_validate_json(text)


def test_a_cohort_is_immutable() -> None:
    cohort = Cohort.model_validate(EXAMPLE)
    with pytest.raises(ValidationError):
        cohort.name = "changed"  # type: ignore[misc]


def test_every_json_example_in_the_docs_is_a_valid_cohort() -> None:
    blocks = re.findall(r"```json\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    cohorts = [json.loads(block) for block in blocks]
    cohorts = [c for c in cohorts if "name" in c]
    assert cohorts, "docs/cohorts.md shows no cohort"
    for raw in cohorts:
        Cohort.model_validate(raw)
