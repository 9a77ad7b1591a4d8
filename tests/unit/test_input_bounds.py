"""Bounds on what people send: a Circe definition's cost (``cohorts.bounds``), JSON nesting
(``protocol.bounded_json``) wherever the platform parses JSON a person gave it, and a cohort
file's problems told in words. Each refusal names the bound, never a value."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from fivesafes.airlock.files import FileRefused, FileType, RequestFile, check_file, pre_screen
from fivesafes.analyses.parameters import cohort_json
from fivesafes.analyses.registry import REGISTRY
from fivesafes.cohorts import bounds
from fivesafes.cohorts.circe import CirceCohort
from fivesafes.protocol import bounded_json
from fivesafes.protocol.errors import InvalidRequest

CIRCE = Path(__file__).resolve().parents[1] / "data" / "circe"
BASE = json.loads((CIRCE / "gi_bleed.json").read_text())
CRITERION = {
    "Criteria": {"ConditionOccurrence": {"CodesetId": 0}},
    "StartWindow": {"Start": {"Coeff": -1}, "End": {"Days": 0, "Coeff": 1}},
    "Occurrence": {"Type": 2, "Count": 1},
}


def rule(criteria: int = 1) -> dict:
    return {"name": "r", "expression": {"Type": "ALL", "CriteriaList": [CRITERION] * criteria,
                                        "DemographicCriteriaList": [], "Groups": []}}  # fmt: skip


def with_(**changes) -> dict:
    circe = copy.deepcopy(BASE)
    circe.update(changes)
    return circe


def refusal(circe: dict) -> str:
    with pytest.raises(ValidationError) as refused:
        CirceCohort(name="c", circe=circe)
    return str(refused.value)


def test_the_published_definitions_are_within_every_bound():
    for file in CIRCE.glob("*.json"):
        CirceCohort(name=file.stem, circe=json.loads(file.read_text()))


def test_the_cohort_bomb_is_refused_naming_the_bound_and_not_compiled():
    bomb = with_(InclusionRules=[rule()] * 850)  # the 239 KB definition that took nodes down
    assert len(json.dumps(bomb)) < 256_000  # under the byte limit: its bytes are not the cost
    assert "at most 50 inclusion rules" in refusal(bomb)
    CirceCohort(name="fine", circe=with_(InclusionRules=[rule()] * bounds.MAX_INCLUSION_RULES))


def nested_groups(levels: int) -> dict:
    group: dict = {"Type": "ALL", "CriteriaList": [CRITERION], "Groups": []}
    for _ in range(levels - 1):
        group = {"Type": "ALL", "CriteriaList": [], "Groups": [group]}
    return {"name": "deep", "expression": group}


@pytest.mark.parametrize(
    ("circe", "bound"),
    [
        (with_(InclusionRules=[rule(10)] * 21), "at most 200 criteria"),
        (with_(InclusionRules=[nested_groups(bounds.MAX_GROUP_DEPTH + 1)]), "nested criteria"),
        (with_(ConceptSets=[BASE["ConceptSets"][0]] * 101), "at most 100 concept sets"),
        (
            with_(ConceptSets=[{"id": 0, "name": "big", "expression": {"items": [
                {"concept": {"CONCEPT_ID": n}} for n in range(1, 20_002)]}}]),
            "concepts in its concept sets",
        ),
    ],
)  # fmt: skip
def test_each_dimension_that_drives_cost_is_bounded(circe, bound):
    assert bound in refusal(circe)


def test_a_definition_nested_too_deeply_is_refused_without_recursing():
    deep: list = []
    inner = deep
    for _ in range(5000):  # deeper than Python's recursion limit
        inner.append([])
        inner = inner[0]
    with pytest.raises(bounds.TooComplex, match="nested at most 40 levels"):
        bounds.check_circe_size(with_(Deep=deep))


def test_the_node_refuses_what_the_hub_refuses():
    """The node parses the task's parameters with the same model, so a definition the hub
    would refuse is refused at the node too, whoever signed it."""
    count = REGISTRY["count"]
    with pytest.raises(ValidationError, match="inclusion rules"):
        count.parameters.model_validate(
            {"cohort": {"name": "b", "circe": with_(InclusionRules=[rule()] * 850)}}
        )


def test_json_nested_too_deeply_is_refused_before_it_is_parsed():
    assert bounded_json.depth('{"a": "[[[[", "b": [[1]]}') == 3  # brackets in strings: none
    assert bounded_json.loads("[[1]]") == [[1]]
    with pytest.raises(bounded_json.TooDeep):
        bounded_json.loads("[" * 100_000 + "]" * 100_000)


def test_an_airlock_file_of_deep_json_is_refused_in_words():
    deep = RequestFile("out.json", b"[" * 100_000, FileType.OUTPUT, "model output")
    with pytest.raises(FileRefused, match="nested more than 64 levels"):
        check_file(deep)
    screened = pre_screen(deep, threshold=10)
    assert screened.verdict == "not checked"


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b'{"name": "x", "criteria": [', "not valid JSON (Expecting value at line 1"),
        (b"[" * 100_000, "nested more than 64 levels"),
        (b"[1, 2]", "holds a JSON list, not an object"),
        (b"\xff\xfe", "not UTF-8 JSON text"),
    ],
)
def test_a_cohort_file_that_is_not_a_cohort_is_told_in_words(tmp_path, content, said):
    path = tmp_path / "secret-cohort.json"
    path.write_bytes(content)
    with pytest.raises(InvalidRequest) as refused:
        cohort_json(path)
    assert said in refused.value.message and "secret-cohort.json" in refused.value.message
