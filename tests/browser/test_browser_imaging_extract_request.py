"""Asking for an imaging extract from the hub's portal, in a real browser, with a real hub and a
real node holding an indexed synthetic archive: the project page offers the form only to a
project that asks for the imaging domain; the researcher asks for the radiographs of a cohort
with an option the custodian allowed; the task page shows the node's counts (the files stay at
the node) and where the extract is held, and the node holds it in the project's staging
folder. Asking for an option the custodian did not allow shows the node's refusal in words."""

from __future__ import annotations

import re
import shutil

import pydicom
import pytest

from federation import fs
from fivesafes.data.synth import concepts as c
from fivesafes.demo.local import CUSTODIAN, edit_toml
from fivesafes.extracts.folders import staging_folder
from fivesafes.protocol.runs import REASON_TEXT, ReasonCode
from imaging_data import synth_node
from portal import PASSWORD, person, start_portal_hub

NODE = "northfield"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict:
    made = synth_node(tmp_path_factory.mktemp(NODE), persons=300, persons_limit=300, seed=43)
    database = made.fresh_database("indexed")
    headers = made.root / "headers.sqlite"
    made.index(database, headers)
    return {"made": made, "database": database, "headers": headers}


def test_a_researcher_asks_for_an_extract_from_the_project_page(harness, page, site, tmp_path):
    from playwright.sync_api import expect

    start_portal_hub(harness)
    harness.add_node(NODE, {"engine": "duckdb", "path": str(site["database"])}, start=False)
    config = harness.root / NODE / "node.toml"
    extracts = harness.root / NODE / "extracts"
    edit_toml(config, "imaging", header_store=str(site["headers"]), extracts=str(extracts))
    shutil.copy(site["made"].root / "pseudonym.key", harness.root / NODE / "pseudonym.key")
    harness.start_node(NODE)
    alice = person(harness, "alice")
    imaging = harness.project(["alice"], [NODE], title="Lungs", data_domains=["omop", "imaging"])
    counts_only = harness.project(["alice"], [NODE], title="Counts only")
    fs("node", "extraction", "approve", imaging, "--config", str(config), "--by", CUSTODIAN,
       "--option", "retain-modified-dates")  # fmt: skip

    url = harness.hub_url
    page.goto(url + "/sign-in")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Code from your authenticator app").fill(alice.code())
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    page.goto(f"{url}/projects/{counts_only}")
    expect(page.get_by_role("heading", name="Run a count")).to_be_visible()
    expect(page.get_by_role("heading", name="Request an imaging extract")).to_have_count(0)

    page.goto(f"{url}/projects/{imaging}")
    form = page.get_by_role("region", name="Request an imaging extract")
    form.get_by_label("OMOP concept ids").fill(str(c.ESSENTIAL_HYPERTENSION))
    form.get_by_label("CR", exact=True).check()
    form.get_by_label("DX", exact=True).check()
    form.get_by_label("retain-modified-dates").check()
    form.screenshot(path=str(tmp_path / "hub-extract-form.png"))
    form.get_by_role("button", name="Request extract").click()
    expect(page.locator(".task-state")).to_have_text("complete", timeout=120_000)
    expect(page.get_by_text("Extracts held for the output checkers at: northfield")).to_be_visible()
    table = page.get_by_role("table").filter(has_text="written")
    expect(table.get_by_role("row", name=re.compile(NODE))).to_be_visible()
    csv = page.get_by_role("link", name="Download the result as CSV").get_attribute("href")
    task = re.search(r"/tasks/(t_[A-Za-z0-9_-]+)/", csv).group(1)
    page.screenshot(path=str(tmp_path / "hub-imaging-extract.png"), full_page=True)
    written = list(staging_folder(extracts, imaging, task).rglob("*.dcm"))
    assert written, "the node holds the extract's files"
    modalities = {pydicom.dcmread(p, stop_before_pixels=True).Modality for p in written}
    assert modalities <= {"CR", "DX"}

    page.goto(f"{url}/projects/{imaging}")
    form = page.get_by_role("region", name="Request an imaging extract")
    form.get_by_label("OMOP concept ids").fill(str(c.ESSENTIAL_HYPERTENSION))
    form.get_by_label("clean-pixel-data").check()
    form.get_by_role("button", name="Request extract").click()
    expect(page.locator(".task-state")).to_have_text("complete", timeout=120_000)
    refusal = REASON_TEXT[ReasonCode.EXTRACTION_OPTIONS_NOT_ALLOWED]
    expect(page.get_by_text(refusal).first).to_be_visible()
