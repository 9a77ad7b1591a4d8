"""A federated count across real hub and node processes, checked against each node's data."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from federation import postgres_database
from fivesafes.analyses.count import count_persons
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.engines import open_omop
from fivesafes.data.source import parse_data_source
from fivesafes.data.synth import concepts as c
from fivesafes.demo.cohorts import CT_CHEST_SMOKERS
from fivesafes.sdc import release_count
from fivesafes.sdc.profiles import DEFAULT

LUNG_CANCER = {
    "name": "lung cancer",
    "criteria": [{"domain": "condition", "concepts": [c.LUNG_CANCER]}],
}
SMOKERS_55_65 = CT_CHEST_SMOKERS[1]  # the clinical cohort the benchmarks count


def true_count(path, cohort) -> int:
    with open_omop(parse_data_source({"engine": "duckdb", "path": str(path)})) as db:
        return count_persons(db, Cohort.model_validate(cohort))


def duck(path) -> dict:
    return {"engine": "duckdb", "path": str(path)}


@pytest.mark.parametrize(
    "state_db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_count_matches_each_nodes_gated_count(harness, site_data, state_db):
    """Hub and node state on SQLite, or every service's state in its own PostgreSQL database."""
    with ExitStack() as stack:
        if state_db == "postgres":
            urls = iter([stack.enter_context(postgres_database()) for _ in range(4)])
        else:
            urls = iter(["sqlite:///hub.db"] + ["sqlite:///node.db"] * 3)
        harness.start_hub(next(urls))
        for name, path in site_data.items():
            harness.add_node(name, duck(path), database_url=next(urls))
        token = harness.researcher()
        project = harness.project(["alice"], list(site_data))
        profile = DEFAULT
        with harness.federation(token, project) as fed:
            for cohort in (LUNG_CANCER, SMOKERS_55_65):
                result = fed.count(cohort, timeout=60)
                assert result.complete
                expected = {
                    n: release_count(true_count(p, cohort), profile) for n, p in site_data.items()
                }
                for node in result.nodes:
                    assert node.state == "succeeded", node
                    assert node.value == expected[node.node].value
                    assert node.suppressed == expected[node.node].suppressed
                    assert node.verdict == ("suppressed" if node.suppressed else "pass")
                released = [e.value for e in expected.values() if not e.suppressed]
                assert result.total == sum(released)
                assert result.nodes_suppressed == sorted(
                    n for n, e in expected.items() if e.suppressed
                )
        harness.supervisor.stop_all()  # before the databases are dropped


def test_populations_differ_visibly(site_data):
    """The demo's point: three hospitals with different populations give different answers."""
    counts = {
        n: true_count(p, LUNG_CANCER) / persons
        for (n, p), persons in zip(site_data.items(), (3000, 2000, 2500), strict=True)
    }
    assert len(set(counts.values())) == 3


def test_refusals_are_decided_by_each_nodes_own_records(harness, site_data):
    harness.start_hub()
    names = list(site_data)
    for name in names:
        harness.add_node(name, duck(site_data[name]))
    token = harness.researcher()
    project = harness.project(["alice"], names, approve=False)
    harness.approve("northfield", project)  # riverside never approves
    harness.approve("lakeside", project)
    harness.revoke("lakeside", project)  # lakeside approved, then revoked
    with harness.federation(token, project) as fed:
        result = fed.count(LUNG_CANCER, timeout=30)
    states = {n.node: (n.state, n.reason) for n in result.nodes}
    assert states["northfield"] == ("succeeded", None)
    assert states["riverside"] == ("refused", "project_not_approved")
    assert states["lakeside"] == ("refused", "project_not_approved")
    assert (
        result.total
        == release_count(true_count(site_data["northfield"], LUNG_CANCER), DEFAULT).value
    )
    for node in ("riverside", "lakeside"):
        assert "custodian" in result.refused[node]


def test_member_added_after_approval_is_refused_at_the_node(harness, site_data):
    """The node checks membership against the snapshot its custodian approved."""
    harness.start_hub()
    harness.add_node("northfield", duck(site_data["northfield"]))
    alice = harness.researcher("alice")
    bob = harness.researcher("bob")
    project = harness.project(["alice"], ["northfield"])

    # the hub's record changes behind the custodian's back: bob added without re-approval
    from sqlalchemy import select

    from fivesafes.hub.db import ProjectMember, User

    def add_bob(session):
        user = session.scalar(select(User).where(User.username == "bob"))
        session.add(ProjectMember(project_id=project, user_id=user.id))

    harness.admin(add_bob)
    with harness.federation(bob, project) as fed:
        result = fed.count(LUNG_CANCER, timeout=30)
    assert [(n.state, n.reason) for n in result.nodes] == [("refused", "requester_not_member")]
    with harness.federation(alice, project) as fed:
        assert fed.count(LUNG_CANCER, timeout=30).nodes[0].state == "succeeded"


def test_unknown_concept_is_refused_with_the_ids(harness, site_data):
    harness.start_hub()
    harness.add_node("northfield", duck(site_data["northfield"]))
    token = harness.researcher()
    project = harness.project(["alice"], ["northfield"])
    cohort = {"name": "x", "criteria": [{"domain": "condition", "concepts": [999999999]}]}
    with harness.federation(token, project) as fed:
        result = fed.count(cohort, timeout=30)
    node = result.nodes[0]
    assert (node.state, node.reason) == ("refused", "unknown_concept")
    assert "999999999" in node.message
    assert result.total is None and result.total_suppressed


def test_small_counts_are_suppressed_never_zero(harness, site_data):
    """A node's count under its threshold leaves as a marker, not a number (not even 0)."""
    harness.start_hub()
    harness.add_node("riverside", duck(site_data["riverside"]), threshold=10**6 - 1)
    token = harness.researcher()
    project = harness.project(["alice"], ["riverside"])
    with harness.federation(token, project) as fed:
        view_result = fed.count(LUNG_CANCER, timeout=30)
        raw = fed.task(view_result.task_id)
    node = view_result.nodes[0]
    assert node.state == "succeeded" and node.suppressed and node.value is None
    assert raw.runs[0].output["count"]["value"] is None
    assert view_result.total is None and view_result.total_suppressed


def test_differencing_by_a_few_persons_is_refused_and_repeats_get_the_same_answer(
    harness, site_data
):
    """Subset differencing: a cohort that drops a few persons from an earlier one is refused."""
    path = site_data["northfield"]

    def aged(max_age):
        return {**LUNG_CANCER, "age": {"min": 0, "max": max_age}}

    everyone = true_count(path, aged(130))
    near = next(
        age
        for age in range(130, 0, -1)
        if 1 <= everyone - true_count(path, aged(age)) < DEFAULT.threshold
    )
    harness.start_hub()
    harness.add_node("northfield", duck(path))
    token = harness.researcher()
    project = harness.project(["alice"], ["northfield"])
    with harness.federation(token, project) as fed:
        first = fed.count(aged(130), timeout=30)
        again = fed.count(aged(130), timeout=30)
        attack = fed.count(aged(near), timeout=30)
        unrelated = fed.count(SMOKERS_55_65, timeout=30)
    assert first.nodes[0].state == "succeeded"
    assert (again.nodes[0].state, again.nodes[0].value) == ("succeeded", first.nodes[0].value)
    assert (attack.nodes[0].state, attack.nodes[0].reason) == ("refused", "differencing_risk")
    assert attack.total is None
    # the refusal names the researcher's own earlier task it collides with, and what to do
    message = attack.nodes[0].message or ""
    assert f"task {first.task_id} (count, " in message
    assert "Change the cohort" in message
    assert again.task_id not in message  # the same population answered twice is one release
    assert unrelated.nodes[0].state == "succeeded"
