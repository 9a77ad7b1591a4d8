"""A task's result leaves its page in a real browser: the researcher clicks "Download the
result as CSV" and gets ``task-<id>-count.csv`` holding the page's count, sends the result to
the airlock (a draft request holding that file), and sees on the nodes page which node is
online and which has never been seen."""

from __future__ import annotations

import csv
import re

from fivesafes.data.synth import concepts as c
from portal import PASSWORD, person, start_portal_hub

HYPERTENSION = {
    "name": "hypertension",
    "criteria": [{"domain": "condition", "concepts": [c.ESSENTIAL_HYPERTENSION]}],
}


def test_a_result_downloads_as_csv_goes_to_the_airlock_and_nodes_show_their_status(
    harness, page, tmp_path
):
    from playwright.sync_api import expect

    from fivesafes.data.synth import generate

    site = tmp_path / "northfield.duckdb"
    generate(site, 300, 51, "northfield")
    start_portal_hub(harness)
    harness.add_node("northfield", {"engine": "duckdb", "path": str(site)})
    harness.add_node("riverside", {"engine": "duckdb", "path": str(site)}, start=False)
    alice = person(harness, "alice")
    project = harness.project(["alice"], ["northfield"], pi="alice")
    with harness.federation(alice.token, project) as fed:
        view = fed.wait(fed.submit("count", {"cohort": HYPERTENSION}, timeout=60).task_id, 60)
    assert view.state == "complete"
    url = harness.hub_url

    page.goto(f"{url}/tasks/{view.task_id}")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Code from your authenticator app").fill(alice.code())
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/tasks/{view.task_id}")
    total = page.locator(".task-total").inner_text()

    with page.expect_download() as downloading:
        page.get_by_role("link", name="Download the result as CSV").click()
    download = downloading.value
    assert download.suggested_filename == f"task-{view.task_id}-count.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    rows = list(csv.DictReader(saved.open(newline="", encoding="utf-8")))
    assert [r["count"] for r in rows if r["node"] == "total"] == [total]

    page.get_by_role("button", name="Send to the airlock").click()
    expect(page).to_have_url(re.compile(r"/airlock/ar_[0-9a-f]+$"))
    expect(page.get_by_text(download.suggested_filename).first).to_be_visible()

    page.get_by_role("link", name="Nodes").click()
    northfield = page.get_by_role("row", name=re.compile("northfield"))
    expect(northfield).to_contain_text("online")
    expect(northfield).to_contain_text(re.compile(r"(just now|seconds? ago) \(.* UTC\)"))
    expect(page.get_by_role("row", name=re.compile("riverside"))).to_contain_text("never")
