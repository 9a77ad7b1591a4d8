"""An ATLAS cohort definition (Circe JSON) sent unchanged through a real federation: each node
compiles it with circepy over its own data, the gate releases the count, and the same file
works from the shell. What the platform does not run is refused at the hub, naming it."""

from __future__ import annotations

import json

import duckdb
import pytest

from federation import fs
from fivesafes.client import FederationError
from fivesafes.data.synth import concepts as c
from fivesafes.sdc import release_count
from fivesafes.sdc.profiles import DEFAULT

LUNG_CANCER_CIRCE = {
    "title": "Lung cancer, first diagnosis, aged 50 or more",
    "ConceptSets": [
        {
            "id": 0,
            "name": "lung cancer",
            "expression": {
                "items": [{"concept": {"CONCEPT_ID": c.LUNG_CANCER}, "includeDescendants": True}]
            },
        }
    ],
    "PrimaryCriteria": {
        "CriteriaList": [{"ConditionOccurrence": {"CodesetId": 0, "First": True}}],
        "ObservationWindow": {"PriorDays": 0, "PostDays": 0},
        "PrimaryCriteriaLimit": {"Type": "First"},
    },
    "InclusionRules": [
        {
            "name": "aged 50 or more at diagnosis",
            "expression": {
                "Type": "ALL",
                "CriteriaList": [],
                "DemographicCriteriaList": [{"Age": {"Value": 50, "Op": "gte"}}],
                "Groups": [],
            },
        }
    ],
    "QualifiedLimit": {"Type": "First"},
    "ExpressionLimit": {"Type": "First"},
    "CollapseSettings": {"CollapseType": "ERA", "EraPad": 0},
}
TRUTH_SQL = f"""
    WITH first AS (
        SELECT o.person_id, min(o.condition_start_date) AS d FROM condition_occurrence o
        JOIN concept_ancestor a ON o.condition_concept_id = a.descendant_concept_id
        WHERE a.ancestor_concept_id = {c.LUNG_CANCER} GROUP BY o.person_id
    )
    SELECT count(*) FROM first f JOIN person p USING (person_id)
    JOIN observation_period op ON op.person_id = f.person_id
     AND f.d BETWEEN op.observation_period_start_date AND op.observation_period_end_date
    WHERE year(f.d) - p.year_of_birth >= 50
"""


def truth(path) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute(TRUTH_SQL).fetchone()
    assert row is not None
    return int(row[0])


def test_a_circe_definition_runs_at_every_node_and_from_the_shell(harness, site_data, tmp_path):
    export = tmp_path / "lung-cancer-50.json"  # a bare ATLAS export, as a researcher has it
    export.write_text(json.dumps(LUNG_CANCER_CIRCE))
    with harness.every_site(site_data) as fed:
        result = fed.count(LUNG_CANCER_CIRCE)
        again = fed.count(export)  # the same question: the same released answer
        summary = fed.summary(export, "age")
        project = fed.project
        bad = {**LUNG_CANCER_CIRCE, "PrimaryCriteria": {"CriteriaList": []}}
        with pytest.raises(FederationError) as empty:
            fed.count(bad)
        located = {
            **LUNG_CANCER_CIRCE,
            "InclusionRules": [
                {
                    "name": "lives in a region",
                    "expression": {
                        "Type": "ALL",
                        "CriteriaList": [
                            {
                                "Criteria": {"LocationRegion": {"CodesetId": 0}},
                                "StartWindow": {
                                    "Start": {"Coeff": -1},
                                    "End": {"Coeff": 1},
                                },
                                "Occurrence": {"Type": 2, "Count": 1},
                            }
                        ],
                        "DemographicCriteriaList": [],
                        "Groups": [],
                    },
                }
            ],
        }
        with pytest.raises(FederationError) as unsupported:
            fed.count(located)
    for node in result.nodes:
        assert node.state == "succeeded"
        assert node.value == release_count(truth(site_data[node.node]), DEFAULT).value
    assert again.per_node == result.per_node
    assert summary.complete and summary.n is not None and summary.mean is not None
    assert summary.mean >= 50  # everyone was 50 or more at their index date
    assert empty.value.code == "invalid_request" and "CriteriaList" in str(empty.value)
    assert unsupported.value.code == "invalid_request"
    assert "LocationRegion" in str(unsupported.value)

    connection = tmp_path / "connection.json"
    details = {"hub_url": harness.hub_url, "token": harness.token_for("alice"), "project": project}
    connection.write_text(json.dumps(details))
    shown = json.loads(
        fs("count", "--connection", str(connection), "--cohort", str(export), "--json").stdout
    )
    assert {n["node"]: n["value"] for n in shown["nodes"]} == result.per_node


FIRST_DIAGNOSIS_SQL = f"""
    WITH first AS (
        SELECT o.person_id, min(o.condition_start_date) AS d FROM condition_occurrence o
        JOIN concept_ancestor a ON o.condition_concept_id = a.descendant_concept_id
        WHERE a.ancestor_concept_id = {c.LUNG_CANCER} GROUP BY o.person_id
    )
    SELECT count(*) FROM first f JOIN observation_period op ON op.person_id = f.person_id
     AND f.d BETWEEN op.observation_period_start_date AND op.observation_period_end_date
"""


def test_attrition_and_characterisation_across_the_federation(harness, site_data):
    with harness.every_site(site_data) as fed:
        steps = fed.attrition(LUNG_CANCER_CIRCE)
        described = fed.characterise(LUNG_CANCER_CIRCE, top=5, domains=["condition", "drug"])
    assert [s["name"] for s in steps.steps] == ["initial events", "aged 50 or more at diagnosis"]
    for node, released in steps.nodes.items():
        with duckdb.connect(str(site_data[node]), read_only=True) as con:
            row = con.execute(FIRST_DIAGNOSIS_SQL).fetchone()
        assert row is not None
        first, final = (s["count"]["value"] for s in released)
        assert first == release_count(int(row[0]), DEFAULT).value
        assert final is None or final == release_count(truth(site_data[node]), DEFAULT).value
    shown = [s["count"]["value"] for s in steps.steps]
    assert shown[0] is not None and shown[0] >= (shown[1] or 0)
    assert "Attrition" in str(steps) and not steps.to_frame().empty
    assert described.complete and described.count is not None
    by_node = [n["count"]["value"] for n in described.nodes.values() if n["count"]["value"]]
    assert described.count == release_count(sum(by_node), DEFAULT).value
    assert described.concepts["condition"], "the cohort's own diagnosis is among its top conditions"
    assert any(row["concept_id"] == c.LUNG_CANCER or "lung" in row["name"].lower()
               for row in described.concepts["condition"])  # fmt: skip
    assert "top condition concepts" in str(described)
