"""The hub's portal in a real browser, with a real hub and a real node: a researcher signs in
with her password and a TOTP code, creates a project and sees it waiting for the node; the
node's custodian approves it with the node's CLI; she runs a count on the project page and
sees each node's verdict and the result arrive (htmx polling) without reloading."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from federation import fs
from fivesafes.data.synth import concepts as c
from portal import PASSWORD, person, start_portal_hub


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from fivesafes.data.synth import generate

    path = tmp_path_factory.mktemp("site") / "northfield.duckdb"
    generate(path, 400, 31, "northfield")
    return path


def test_a_researcher_signs_in_with_totp_creates_a_project_and_runs_a_count(harness, page, site):
    from playwright.sync_api import expect

    start_portal_hub(harness)
    harness.add_node("northfield", {"engine": "duckdb", "path": str(site)})
    alice = person(harness, "alice")
    url = harness.hub_url

    page.goto(url + "/projects")  # signed out: sent to sign in, and back afterwards
    expect(page).to_have_url(re.compile(r"/sign-in\?next=/projects$"))
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Code from your authenticator app").fill(alice.code())
    page.keyboard.press("Enter")
    expect(page).to_have_url(url + "/projects")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    page.get_by_role("link", name="New project").click()
    page.get_by_label("Title").fill("Blood pressure in the north")
    page.get_by_label("Lay summary").fill("How common is high blood pressure?")
    page.get_by_label("Purpose").fill("Count people with essential hypertension.")
    page.get_by_label("End date").fill((date.today() + timedelta(days=60)).isoformat())
    page.get_by_label("northfield").check()
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Blood pressure in the north")
    project = re.search(r"/projects/(p_[A-Za-z0-9_-]+)$", page.url).group(1)
    approvals = page.get_by_role("region", name="Approval at each node")
    expect(approvals.get_by_role("row", name=re.compile("northfield"))).to_contain_text("pending")
    page.get_by_role("link", name="Projects").click()
    expect(page.get_by_role("link", name="Blood pressure in the north")).to_be_visible()

    node_toml = str(harness.root / "northfield" / "node.toml")
    fs("node", "approve", project, "--config", node_toml, "--by", "custodian", "--yes")
    page.get_by_role("link", name="Blood pressure in the north").click()
    expect(approvals.get_by_role("row", name=re.compile("northfield"))).to_contain_text("approved")

    page.get_by_label("OMOP concept ids").fill(str(c.ESSENTIAL_HYPERTENSION))
    page.get_by_role("button", name="Run count").click()
    result = page.locator("#count-result")
    expect(result.locator(".task-state")).to_have_text("complete", timeout=30_000)
    row = result.locator("table.nodes").get_by_role("row", name=re.compile("northfield"))
    expect(row).to_contain_text("pass")
    expect(result.locator(".task-total")).to_have_text(re.compile(r"^\d+$"))
    expect(result.locator("figure svg")).to_have_count(1)
