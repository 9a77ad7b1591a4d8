"""What people are told when what they sent is not valid (issue 13, C): a field in words and
what was expected — never pydantic's internals, never what was typed — the same for the API,
the portals and the command line (``protocol.validation``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from fivesafes.analyses.registry import REGISTRY
from fivesafes.protocol.models import TaskRequest
from fivesafes.protocol.validation import problems, sentence

COHORT = {"name": "adults", "criteria": []}
INTERNALS = (
    "function-after",
    "Input tag",
    "Cohort]",
    "CirceCohort",
    "tagged-union",
    "Input should",
)


def told(analysis: str, parameters: dict) -> str:
    with pytest.raises(ValidationError) as refused:
        REGISTRY[analysis].parameters.model_validate(parameters)
    said = sentence(problems(refused.value.errors()))
    assert not any(word in said for word in INTERNALS), said
    return said


def test_a_concept_typed_as_words_is_told_where_and_what_was_expected():
    said = told("count", {"cohort": {"name": "x", "criteria": [
        {"domain": "condition", "concepts": ["lung cancer"]}]}})  # fmt: skip
    assert said == "cohort / criteria 1 / condition / concepts 1: should be a whole number"
    assert "lung cancer" not in said and "circe" not in said  # the other kind of cohort: not it


def test_a_domain_typo_names_the_field_and_the_choices_never_the_value():
    said = told("count", {"cohort": {"name": "x", "criteria": [
        {"domain": "conditon\x00", "concepts": [1]}]}})  # fmt: skip
    assert said.startswith("cohort / criteria 1 / domain: should be one of: 'condition'")
    assert "conditon" not in said and "\x00" not in said


def test_bounds_and_list_sizes_are_said_from_the_schema():
    assert told("count", {"cohort": {**COHORT, "age": {"min": -5}}}) == (
        "cohort / age / min: should be at least 0"
    )
    assert told("correlation", {"cohort": COHORT, "variables": ["age"]}) == (
        "variables: should have at least 2 items"
    )
    assert "is not a field this accepts" in told("count", {"cohort": COHORT, "sql": "x"})


def test_a_formula_typo_says_which_term_and_offers_the_nearest_names():
    said = told("glm", {"cohort": COHORT, "formula": "lung_cancer ~ agee + bmi",
                        "family": "binomial"})  # fmt: skip
    assert "term 1 (right of '~') is not a known variable; did you mean age?" in said
    assert "agee" not in said
    said = told("glm", {"cohort": COHORT, "formula": "lung_canser ~ age", "family": "binomial"})
    assert "the outcome (left of '~')" in said and "lung_cancer" in said


def test_a_broken_circe_definition_is_told_in_words():
    said = told("count", {"cohort": {"name": "x", "circe": {"PrimaryCriteria": 5}}})
    assert said.startswith("cohort: not a Circe cohort definition:")
    assert "validation error for" not in said


@pytest.mark.parametrize("field", ["timeout_seconds", "analysis_version"])
def test_true_is_not_a_number(field):
    with pytest.raises(ValidationError):
        TaskRequest.model_validate({"project_id": "p_1", "analysis": "count",
                                    "parameters": {}, field: True})  # fmt: skip


def test_a_token_of_zero_days_is_refused_not_read_as_the_default():
    ran = subprocess.run(
        [sys.executable, "-m", "fivesafes.cli.main", "hub", "issue-token", "alice", "--days", "0",
         "-c", "/nonexistent/hub.toml"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert ran.returncode == 2
    assert "greater than or equal to 1" in ran.stderr  # never a 30-day token
