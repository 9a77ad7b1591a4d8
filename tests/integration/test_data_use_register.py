"""The public data use register over real HTTP: a hub and two nodes as processes; projects
approved, pending, and approved then revoked; counts released at some nodes and suppressed at
others. The register lists exactly the projects some node approved, with their public terms and
the number of released outputs the researcher was given, and names nobody."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
from sqlalchemy import update

from fivesafes.data.synth import concepts as c
from fivesafes.hub.db import Node
from fivesafes.hub.people import create_organisation, create_user, issue_token

LUNG_CANCER = {"name": "lc", "criteria": [{"domain": "condition", "concepts": [c.LUNG_CANCER]}]}
SMOKERS_55_65_CT = {
    "name": "smokers 55-65 at CT chest",
    "index": {"type": "first_event", "criterion": 0},
    "age": {"min": 55, "max": 65},
    "criteria": [
        {"domain": "procedure", "concepts": [c.CT_CHEST]},
        {"domain": "observation", "concepts": [c.TOBACCO_SMOKING_STATUS],
         "value_concepts": [c.CURRENT_SMOKER]},
    ],
}  # fmt: skip


def people(session):
    create_organisation(session, name="uni-north", display_name="University of the North",
                        kind="academic", by="admin")  # fmt: skip
    create_organisation(session, name="nhs-river", display_name="River NHS Trust", kind="nhs",
                        by="admin")  # fmt: skip
    create_user(session, username="alice", display_name="Dr Alice Researcher",
                organisation="uni-north", accredited_until=date.today() + timedelta(days=90),
                by="admin")  # fmt: skip
    session.execute(update(Node).where(Node.name == "riverside").values(organisation="nhs-river"))
    return issue_token(session, username="alice", lifetime=timedelta(days=1), by="admin")


def test_the_register_lists_approved_projects_and_their_released_outputs(harness, site_data):
    harness.start_hub(register_cache_seconds=0)
    for name in ("northfield", "riverside"):
        harness.add_node(name, {"engine": "duckdb", "path": str(site_data[name])})
    token = harness.admin(people)
    nodes = ["northfield", "riverside"]
    used = harness.project(
        ["alice"], nodes, title="Lung cancer and smoking",
        lay_summary="Who gets lung cancer, and does smoking explain it?",
        purpose="Estimate lung cancer incidence by smoking status.",
        public_benefit="Better targeted screening.",
    )  # fmt: skip
    harness.project(["alice"], nodes, approve=False, title="Waiting for custodians")
    revoked = harness.project(["alice"], ["northfield"], title="Stopped early")
    harness.revoke("northfield", revoked)

    fed = harness.federation(token, used)
    released = 0
    for cohort in (LUNG_CANCER, SMOKERS_55_65_CT, LUNG_CANCER):  # the last: the same answer
        result = fed.count(cohort)
        assert not result.failed and not result.refused
        released += sum(v is not None for v in result.per_node.values())
    assert 2 <= released <= 6

    response = httpx.get(f"{harness.hub_url}/api/v1/register")  # no token
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "public, max-age=0"
    register = response.json()
    assert register["hub"] == "test-hub" and "suppression" in register["released_outputs_means"]
    by_title = {p["title"]: p for p in register["projects"]}
    assert sorted(by_title) == ["Lung cancer and smoking", "Stopped early"]  # not the pending one

    entry = by_title["Lung cancer and smoking"]
    assert entry["project_id"] == used and entry["version"] == 1
    assert entry["lay_summary"] == "Who gets lung cancer, and does smoking explain it?"
    assert entry["purpose"].startswith("Estimate") and entry["public_benefit"]
    assert entry["organisations"] == ["University of the North"]
    assert [
        (n["node"], n["decision"], n["version"], n["organisation"]) for n in entry["nodes"]
    ] == [
        ("northfield", "approved", 1, None),
        ("riverside", "approved", 1, "River NHS Trust"),
    ]
    assert entry["start_date"] == date.today().isoformat()
    assert entry["released_outputs"] == released and entry["last_output_at"] is not None

    stopped = by_title["Stopped early"]
    assert [(n["node"], n["decision"]) for n in stopped["nodes"]] == [("northfield", "revoked")]
    assert (stopped["released_outputs"], stopped["last_output_at"]) == (0, None)
    assert stopped["lay_summary"] is None

    text = response.text
    assert "alice" not in text and "Alice" not in text  # projects, not people
