"""The airlock in a real browser against a real hub: a researcher composes a release request
with a CSV and submits it; two different output checkers sign in (password and TOTP code),
land on ``/airlock`` showing what waits for their review, and approve it; the researcher
downloads the released bundle, whose manifest's sha256 is the file's. The researcher also
holds the output-checker role, and her own request is never in her queue."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile

from portal import browser_sign_in as sign_in
from portal import person, start_portal_hub

TABLE = b"region,count\nnorth,120\nsouth,40\n"
TITLE = "Smoking by region"


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/sign-in"))


def test_a_request_is_composed_reviewed_by_two_checkers_and_downloaded(harness, page, tmp_path):
    from playwright.sync_api import expect

    start_portal_hub(harness)
    harness.add_node("northfield", {"engine": "duckdb", "path": "/nonexistent"}, start=False)
    alice = person(harness, "alice", roles=("researcher", "output_checker"))
    carol = person(harness, "carol", roles=("output_checker",))
    dev = person(harness, "dev", roles=("output_checker",))
    project = harness.project(["alice"], ["northfield"], approve=False, pi="alice",
                              title="Smoking study")  # fmt: skip
    url = harness.hub_url
    table = tmp_path / "table.csv"
    table.write_bytes(TABLE)

    sign_in(page, url, alice, "/airlock")
    page.get_by_role("link", name="New release request").click()
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("Project").select_option(project)
    page.get_by_role("button", name="Create draft").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    page.get_by_label("File", exact=True).set_input_files(str(table))
    page.get_by_label("Type").select_option("output")
    page.get_by_label("Context").fill("Adults by region in 2020; denominators: all adults")
    page.get_by_role("button", name="Add file").click()
    expect(page.get_by_role("link", name="table.csv")).to_be_visible()
    page.get_by_role("button", name="Submit for review").click()
    expect(page.locator(".request-state")).to_have_text("submitted")
    request_page = page.url
    page.goto(url + "/airlock/queue")  # she is a checker too, but never of her own request
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    expect(page.get_by_role("link", name=TITLE)).to_have_count(0)
    sign_out(page)

    for checker in (carol, dev):
        sign_in(page, url, checker, "/airlock")  # a checker arrives at their queue
        expect(page.get_by_role("heading", name="Waiting for your review")).to_be_visible()
        page.get_by_role("link", name=TITLE).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Review: {TITLE}")
        shown = page.get_by_role("region", name=re.compile("table.csv"))
        expect(shown.get_by_role("cell", name="north")).to_be_visible()  # the CSV as a table
        expect(shown).to_contain_text("Adults by region in 2020")
        expect(shown).to_contain_text("Pre-screen")
        shown.get_by_label("Approve").check()
        shown.get_by_label("Comment on table.csv").fill(f"{checker.username}: counts >= 10")
        shown.get_by_role("button", name="Vote on table.csv").click()
        expect(page.get_by_role("region", name=re.compile("table.csv"))).to_contain_text(
            "Yours: approve"
        )
        sign_out(page)

    sign_in(page, url, alice, request_page.removeprefix(url))
    expect(page.locator(".request-state")).to_have_text("approved")
    with page.expect_download() as download:
        page.get_by_role("button", name="Release and download the signed bundle").click()
    bundle = tmp_path / "bundle.zip"
    download.value.save_as(bundle)
    with zipfile.ZipFile(bundle) as z:
        manifest = json.loads(z.read("manifest.json"))
        content = z.read("files/table.csv")
    [entry] = manifest["files"]
    assert content == TABLE
    assert entry["name"] == "table.csv"
    assert entry["sha256"] == hashlib.sha256(content).hexdigest()
    page.reload()
    expect(page.locator(".request-state")).to_have_text("released")
