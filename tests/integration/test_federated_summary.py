"""A federated summary, and each service's gate profile from its own configuration, across real
hub and node processes. Expected values are computed here with plain DuckDB SQL and numpy on
each node's file, not with the platform's own cohort compiler."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from fivesafes.client import FederationError
from fivesafes.data.synth import concepts as c
from fivesafes.sdc import release_count
from fivesafes.sdc.profiles import DEFAULT, OPENSAFELY

# everyone, aged at the start of their first observation period
EVERYONE = {"name": "everyone"}
AGES_SQL = """
    SELECT year(min(op.observation_period_start_date)) - p.year_of_birth AS age
    FROM person p JOIN observation_period op USING (person_id)
    GROUP BY p.person_id, p.year_of_birth
"""
LUNG_CANCER = {
    "name": "lung cancer",
    "criteria": [{"domain": "condition", "concepts": [c.LUNG_CANCER]}],
}


def true_ages(path) -> np.ndarray:
    with duckdb.connect(str(path), read_only=True) as con:
        return np.asarray([row[0] for row in con.execute(AGES_SQL).fetchall()], dtype=float)


def duck(path) -> dict:
    return {"engine": "duckdb", "path": str(path)}


def test_summary_of_age_matches_each_nodes_data_and_pools_released_values(harness, site_data):
    with harness.every_site(site_data) as fed:
        result = fed.summary(EVERYONE, "age", timeout=60)
    assert result.complete and result.variable == "age"
    released: list[tuple[int, float, float]] = []
    for node in result.nodes:
        ages = true_ages(site_data[node.node])
        assert (node.state, node.verdict) == ("succeeded", "pass"), node
        assert node.n == release_count(len(ages), DEFAULT).value
        assert node.mean == pytest.approx(ages.mean(), rel=1e-12)
        assert node.sd == pytest.approx(ages.std(ddof=1), rel=1e-12)
        released.append((node.n, node.mean, node.sd))
    n = sum(r[0] for r in released)
    assert result.n == n
    assert result.mean == pytest.approx(sum(k * m for k, m, _ in released) / n, rel=1e-12)
    pooled = np.concatenate([true_ages(p) for p in site_data.values()])
    # weighted by rounded n, the pooled mean is close to (not exactly) that of the pooled rows
    assert abs(result.mean - pooled.mean()) < 0.5
    assert abs(result.sd - pooled.std(ddof=1)) < 0.5
    assert "POOLED" in str(result)


def test_each_service_gates_under_the_profile_its_configuration_names(harness, site_data):
    """northfield runs `opensafely` (redact ≤ 7, round to 5), riverside `default` (threshold
    10, round to 10); the hub runs `opensafely` and keeps both (10 is a multiple of 5)."""
    harness.start_hub(profile="opensafely")
    harness.add_node("northfield", duck(site_data["northfield"]), profile="opensafely")
    harness.add_node("riverside", duck(site_data["riverside"]))
    token = harness.researcher()
    project = harness.project(["alice"], ["northfield", "riverside"])
    with harness.federation(token, project) as fed:
        result = fed.count(LUNG_CANCER, timeout=60)
    expected = {
        "northfield": release_count(_count(site_data["northfield"]), OPENSAFELY),
        "riverside": release_count(_count(site_data["riverside"]), DEFAULT),
    }
    assert {n.node: n.value for n in result.nodes} == {k: v.value for k, v in expected.items()}
    assert {n.node: n.profile for n in result.nodes} == {
        "northfield": "opensafely",
        "riverside": "default",
    }
    assert expected["northfield"].value is not None and expected["northfield"].value % 5 == 0
    assert result.total == sum(v.value or 0 for v in expected.values())


def _count(path) -> int:
    sql = """
        SELECT count(DISTINCT person_id) FROM condition_occurrence
        WHERE condition_concept_id IN (
            SELECT descendant_concept_id FROM concept_ancestor WHERE ancestor_concept_id = ?
        )
    """
    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute(sql, [c.LUNG_CANCER]).fetchone()
    assert row is not None
    return int(row[0])


def test_a_task_can_tighten_every_gate_and_never_loosen_one(harness, site_data):
    with harness.every_site(site_data) as fed:
        strict = fed.count(LUNG_CANCER, timeout=60, gate={"threshold": 100_000})
        loose = fed.count(EVERYONE, timeout=60, gate={"threshold": 1, "rounding_base": 1})
        refused = None
        try:
            fed.count(LUNG_CANCER, timeout=60, gate={"name": "lenient"})
        except FederationError as exc:
            refused = exc
    assert all(n.suppressed and n.profile == "default (tightened)" for n in strict.nodes)
    assert strict.total is None and strict.total_suppressed
    for node in loose.nodes:  # threshold 1 and base 1 are looser: the nodes' own gate stands
        assert node.value == release_count(len(true_ages(site_data[node.node])), DEFAULT).value
        assert node.profile == "default"
    assert refused is not None and refused.code == "invalid_request"


def test_a_summary_by_sex_per_node_and_pooled(harness, site_data):
    with harness.every_site(site_data) as fed:
        result = fed.summary_by(EVERYONE, "age", "sex")
    assert result.complete and set(result.groups) == {"female", "male"}
    sql = AGES_SQL.replace("SELECT", "SELECT p.gender_concept_id,", 1).replace(
        "GROUP BY p.person_id", "GROUP BY p.gender_concept_id, p.person_id"
    )
    for node, groups in result.nodes.items():
        with duckdb.connect(str(site_data[node]), read_only=True) as con:
            rows = con.execute(sql).fetchall()
        for group in groups:
            code = 8532 if group["level"] == "female" else 8507
            ages = np.asarray([age for gender, age in rows if gender == code], dtype=float)
            assert group["n"]["value"] == release_count(len(ages), DEFAULT).value
            assert group["mean"] == pytest.approx(ages.mean(), rel=1e-12)
    pooled = result.groups["female"]
    parts = [
        (g["n"]["value"], g["mean"])
        for gs in result.nodes.values()
        for g in gs
        if g["level"] == "female"
    ]
    n = sum(k for k, _ in parts)
    assert pooled["n"]["value"] == n
    assert pooled["mean"] == pytest.approx(sum(k * m for k, m in parts) / n, rel=1e-12)
    assert "female" in str(result)
