"""One cohort must never take a federation down (issue 13, A), on a real hub and real node
processes: the "cohort bomb" (850 identical inclusion rules, under every byte limit) is refused
at the hub naming the bound; a definition within the bounds that still runs past a node's run
deadline is stopped there and reported ``resource_limit``, and the next count is answered
within seconds; deeply nested JSON sent to the hub is a 4xx in words."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import httpx
import pytest

from fivesafes.client import FederationError
from fivesafes.data.synth import concepts as c

CIRCE = Path(__file__).resolve().parents[1] / "data" / "circe"
RULE = {
    "name": "a condition before",
    "expression": {
        "Type": "ALL",
        "CriteriaList": [
            {
                "Criteria": {"ConditionOccurrence": {"CodesetId": 0}},
                "StartWindow": {"Start": {"Coeff": -1}, "End": {"Days": 0, "Coeff": 1}},
                "Occurrence": {"Type": 2, "Count": 1},
            }
        ],
        "DemographicCriteriaList": [],
        "Groups": [],
    },
}
SIMPLE = {"name": "women", "sex": ["female"]}


def with_rules(n: int) -> dict:
    """GI bleed's definition (tests/data/circe) on the synthetic sites' lung cancer concept,
    with ``n`` inclusion rules."""
    circe = copy.deepcopy(json.loads((CIRCE / "gi_bleed.json").read_text()))
    circe["ConceptSets"][0]["expression"]["items"][0]["concept"]["CONCEPT_ID"] = c.LUNG_CANCER
    circe["InclusionRules"] = [RULE] * n
    return {"name": f"{n} rules", "circe": circe}


def test_the_cohort_bomb_is_refused_at_the_hub_naming_the_bound(harness, site_data):
    with harness.every_site(site_data) as fed:
        with pytest.raises(FederationError) as refused:
            fed.count(with_rules(850))
        answered = fed.count(SIMPLE)  # the nodes never saw the bomb
        deep = httpx.post(
            f"{harness.hub_url}/api/v1/tasks",
            content=b'{"project_id": "p", "analysis": "count", "parameters": '
            + b"[" * 100_000
            + b"]" * 100_000
            + b"}",
            headers={"authorization": f"Bearer {harness.token_for('alice')}",
                     "content-type": "application/json"},
            timeout=30,
        )  # fmt: skip
    assert refused.value.code == "invalid_request"
    assert "at most 50 inclusion rules" in str(refused.value)
    assert all(n.state == "succeeded" for n in answered.nodes)
    assert 400 <= deep.status_code < 500, deep.status_code
    assert deep.json()["error"]["code"] in ("malformed_request", "invalid_request")
    assert "Traceback" not in deep.text


def test_a_run_past_the_nodes_deadline_is_stopped_and_the_next_count_answered(harness, site_data):
    harness.start_hub()
    for name, path in site_data.items():
        harness.add_node(name, {"engine": "duckdb", "path": str(path)},
                         node_settings={"run_limit_seconds": 1})  # fmt: skip
    fed = harness.federation(harness.researcher(), harness.project(["alice"], list(site_data)))
    with fed:
        heavy = fed.count(with_rules(50))  # within the bounds; seconds of work at each node
        started = time.monotonic()
        answered = fed.count(SIMPLE)
        took = time.monotonic() - started
    assert {n.node: n.reason for n in heavy.nodes} == dict.fromkeys(site_data, "resource_limit")
    assert all("time limit" in (n.message or "") for n in heavy.nodes)
    assert all(n.state == "succeeded" for n in answered.nodes)
    assert took < 20, f"the next count took {took:.1f} s"
