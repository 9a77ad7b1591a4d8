"""Safe projects across real hub and node processes: an edit that changes the project's scope
makes a new version that each node refuses until its custodian approves it again; a
custodian's rejection (with its reason) and per-node decisions show at the hub; a project that
ended runs nowhere; an approval can narrow the analyses and hold every output for an output
checker; an accredited researcher creates a project through the API and leads it."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest

from fivesafes.client import FederationError
from fivesafes.data.synth import concepts as c

LUNG_CANCER = {"name": "lc", "criteria": [{"domain": "condition", "concepts": [c.LUNG_CANCER]}]}


def duck(path) -> dict:
    return {"engine": "duckdb", "path": str(path)}


def api(harness, token):
    return httpx.Client(
        base_url=f"{harness.hub_url}/api/v1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def states(result) -> dict[str, tuple[str, str | None]]:
    return {n.node: (n.state, n.reason) for n in result.nodes}


def test_a_new_version_needs_each_custodian_again_and_an_ended_project_runs_nowhere(
    harness, site_data
):
    harness.start_hub()
    for name in ("northfield", "riverside"):
        harness.add_node(name, duck(site_data[name]))
    alice = harness.researcher("alice")
    harness.researcher("bob")
    start = date.today() - timedelta(days=30)
    project = harness.project(
        ["alice"], ["northfield", "riverside"], approve=False, pi="alice", start_date=start
    )
    harness.approve("northfield", project)
    harness.reject("riverside", project, "The purpose does not match our data.")
    with api(harness, alice) as hub:
        view = hub.get(f"/projects/{project}").json()
        assert view["approval_states"]["northfield"]["current"] is True
        assert view["approval_states"]["riverside"] == {
            **view["approval_states"]["riverside"],
            "state": "rejected",
            "version": 1,
            "reason": "The purpose does not match our data.",
        }
        with harness.federation(alice, project) as fed:
            first = fed.count(LUNG_CANCER, timeout=30)
        assert states(first) == {
            "northfield": ("succeeded", None),
            "riverside": ("refused", "project_not_approved"),
        }

        # a descriptive edit keeps the version; adding bob makes version 2
        same = hub.patch(f"/projects/{project}", json={"lay_summary": "Plainer words."}).json()
        assert same["version"] == 1
        edited = hub.patch(
            f"/projects/{project}", json={"members": ["alice", "bob"], "expect_version": 1}
        )
        assert edited.status_code == 200 and edited.json()["version"] == 2
        stale = hub.patch(f"/projects/{project}", json={"purpose": "x", "expect_version": 1})
        assert stale.status_code == 409
        view = edited.json()
        assert view["approvals"]["northfield"] == "approved v1"
        assert view["approval_states"]["northfield"]["current"] is False
        with harness.federation(alice, project) as fed:
            assert states(fed.count(LUNG_CANCER, timeout=30))["northfield"] == (
                "refused",
                "project_version_not_approved",
            )
        assert harness.approve("northfield", project) == 2
        with harness.federation(alice, project) as fed:
            assert states(fed.count(LUNG_CANCER, timeout=30))["northfield"] == ("succeeded", None)
        with harness.federation(alice, project) as fed:
            history = fed.project_versions()
        assert [(v.version, v.changed) for v in history] == [(1, []), (2, ["members"])]
        assert history[1].record.members == ["alice", "bob"]

        # ending the project early: a new version the hub refuses to run
        yesterday = (date.today() - timedelta(days=1)).isoformat()
        ended = hub.patch(f"/projects/{project}", json={"end_date": yesterday}).json()
        assert ended["version"] == 3 and ended["active"] is False
        with harness.federation(alice, project) as fed, pytest.raises(FederationError) as refused:
            fed.count(LUNG_CANCER, timeout=30)
        assert (refused.value.status, refused.value.code) == (403, "project_not_active")


def test_a_researcher_creates_a_project_and_custodians_narrow_it(harness, site_data):
    harness.start_hub()
    for name in ("northfield", "lakeside"):
        harness.add_node(name, duck(site_data[name]))
    alice = harness.researcher("alice")
    today = date.today()
    with harness.federation(alice) as fed:  # the Python client, as a researcher uses it
        created = fed.create_project(
            title="Smoking and lung cancer",
            lay_summary="How smoking changes the risk of lung cancer.",
            purpose="Counts and summaries of lung cancer by smoking status.",
            public_benefit="Better targeted screening.",
            nodes=["northfield", "lakeside"],
            analyses=["count@1", "summary@1", "glm@1"],
            start_date=today,
            end_date=today + timedelta(days=90),
        )
        assert fed.project == created.project_id
        assert fed.get_project().version == 1
    view = created.model_dump(mode="json")
    project = view["project_id"]
    assert (view["pi"], view["members"]) == ("alice", ["alice"])
    assert view["risk_tier"] == 2 and any("glm" in r for r in view["risk_reasons"])
    assert view["people"][0]["accredited_until"] == (today + timedelta(days=365)).isoformat()
    harness.approve("northfield", project, analyses=["count@1"])
    harness.approve("lakeside", project, outputs_to_airlock=True)
    with harness.federation(alice, project) as fed:
        counted = fed.count(LUNG_CANCER, timeout=30)
        summary = fed.submit(
            "summary", {"cohort": LUNG_CANCER, "variable": "age"}, nodes=["northfield"]
        )
        summary = fed.task(summary.task_id, wait=30)
    assert states(counted) == {
        "northfield": ("succeeded", None),
        "lakeside": ("refused", "held_for_review"),
    }
    assert [(r.state, r.reason) for r in summary.runs] == [("refused", "analysis_not_allowed")]
