"""The custodian's extraction approval in the node's portal (ADR 0028 point 3), over real HTTP
with a real hub, node and portal: a project asking for the imaging domain shows this node's
extraction decision on its approval page; a custodian approves extraction with the options
ticked and changes them; a TRE admin revokes it with a reason; an output checker may do
neither; the decisions are the command line's own (``fivesafes node extraction list`` shows
them) and audited. A project that asks for OMOP only shows no extraction section."""

from __future__ import annotations

import json
from contextlib import closing

import pytest

from federation import fs
from node_portal import node_person, start_node_portal
from portal import csrf_of, sign_in

NODE = "northfield"


@pytest.fixture
def world(harness, site_data):
    harness.start_hub()
    harness.add_node(NODE, {"engine": "duckdb", "path": str(site_data["northfield"])})
    url, _ = start_node_portal(harness, NODE)
    people = {
        role: node_person(harness, NODE, name, [role])
        for name, role in (("cus", "custodian"), ("tra", "tre_admin"), ("che", "output_checker"))
    }
    harness.researcher()
    imaging = harness.project(["alice"], [NODE], data_domains=["omop", "imaging"])
    omop_only = harness.project(["alice"], [NODE])
    return {"url": url, "people": people, "imaging": imaging, "omop_only": omop_only,
            "config": str(harness.root / NODE / "node.toml")}  # fmt: skip


def decisions(world) -> dict:
    listed = fs("node", "extraction", "list", "--config", world["config"], "--json").stdout
    return {d["project_id"]: d for d in json.loads(listed)}


def test_a_custodian_approves_and_a_tre_admin_revokes_extraction_in_the_portal(world):
    project = world["imaging"]
    page = f"/approvals/{project}"
    with closing(sign_in(world["url"], world["people"]["custodian"])) as custodian:
        shown = custodian.get(page).text
        assert "Imaging extraction at this node" in shown and "Not approved" in shown
        assert "Imaging extraction" not in custodian.get(f"/approvals/{world['omop_only']}").text
        done = custodian.post(
            f"{page}/extraction/approve",
            data={"csrf": csrf_of(shown), "option": ["retain-modified-dates", "clean-descriptors"]},
        )
        assert done.status_code == 303 and done.headers["location"].endswith("extraction-approved")
        assert decisions(world)[project]["options"] == [
            "retain-modified-dates",
            "clean-descriptors",
        ]
        again = custodian.get(done.headers["location"]).text
        assert "Extraction is approved for this project" in again
        assert "retain-modified-dates, clean-descriptors" in again
        assert 'value="clean-descriptors" checked' in again  # the form starts from what stands
        unknown = custodian.post(
            f"{page}/extraction/approve", data={"csrf": csrf_of(again), "option": ["retain-uids"]}
        )
        assert unknown.status_code == 422 and "Unknown de-identification option" in unknown.text
        assert "retain-uids" not in unknown.text.split("The options are")[0]  # never echoed
        changed = custodian.post(f"{page}/extraction/approve", data={"csrf": csrf_of(again)})
        assert changed.status_code == 303
        assert decisions(world)[project]["options"] == []  # the Basic Profile alone

    with closing(sign_in(world["url"], world["people"]["output_checker"])) as checker:
        refused = checker.post(
            f"{page}/extraction/revoke",
            data={"csrf": csrf_of(checker.get("/").text), "reason": "not mine to decide"},
        )
        assert refused.status_code == 403
    assert decisions(world)[project]["state"] == "approved"

    with closing(sign_in(world["url"], world["people"]["tre_admin"])) as admin:
        shown = admin.get(page).text
        assert "Approve extraction" not in shown and "Change the options" not in shown
        no_reason = admin.post(f"{page}/extraction/revoke", data={"csrf": csrf_of(shown)})
        assert no_reason.status_code == 422 and "Say why" in no_reason.text
        revoked = admin.post(
            f"{page}/extraction/revoke",
            data={"csrf": csrf_of(shown), "reason": "scanner list under review"},
        )
        assert revoked.status_code == 303
        assert "Revoked by tra" in admin.get(revoked.headers["location"]).text
    assert decisions(world)[project]["state"] == "revoked"
    with closing(sign_in(world["url"], world["people"]["custodian"])) as custodian:
        audit = custodian.get("/audit").text
    assert "extraction_approved" in audit and "extraction_revoked" in audit
