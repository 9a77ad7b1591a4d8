"""The node portal in a real browser (Chromium), against a real hub and a real ``fivesafes node
portal`` process: a custodian signs in with password and TOTP code and approves a project the
node learnt from the hub; an audit row edited in the node's database shows as broken in the
explorer, saying where."""

from __future__ import annotations

import re

from sqlalchemy import update

from fivesafes.node.db import AUDIT, Approval
from node_portal import node_person, start_node_portal
from portal import PASSWORD

NODE = "northfield"


def sign_in(page, url: str, who) -> None:
    page.goto(url + "/approvals")  # not signed in: the sign-in page, then back here
    page.get_by_label("Username").fill(who.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Code from your authenticator app").fill(who.code())
    page.keyboard.press("Enter")
    page.wait_for_url(url + "/approvals")


def test_a_custodian_signs_in_with_totp_and_approves_a_project_from_the_hub(harness, page):
    harness.start_hub()
    harness.add_node(NODE, {"engine": "duckdb", "path": "/nonexistent"}, start=False)
    cora = node_person(harness, NODE, "cora", ["custodian"])
    harness.researcher("alice")
    project = harness.project(["alice"], [NODE], approve=False, title="Browser study")
    url, _process = start_node_portal(harness, NODE)

    sign_in(page, url, cora)
    assert page.locator("h1").inner_text() == "Approvals"
    awaiting = page.get_by_role("region", name="Awaiting this node's decision (1)")
    awaiting.get_by_role("link", name="Browser study").click()
    page.wait_for_url(f"{url}/approvals/{project}")
    assert page.get_by_role("heading", name=re.compile(r"^Risk tier [1-4]")).count() == 1
    assert page.get_by_label("count@1", exact=True).is_checked()
    page.get_by_role("button", name="Approve version 1").click()
    page.wait_for_url(url + "/approvals?decided=approved")
    assert "Your decision was recorded" in page.get_by_role("status").inner_text()
    assert page.get_by_role("region", name="Awaiting this node's decision (0)").count() == 1

    node = harness.node_service(NODE)
    try:
        approval = node.read(lambda s: s.get(Approval, project))
    finally:
        node.stop()
    assert (approval.state, approval.version, approval.decided_by) == ("approved", 1, "cora")


def test_a_tampered_audit_row_shows_as_broken_in_the_explorer(harness, page):
    harness.start_hub()
    harness.add_node(NODE, {"engine": "duckdb", "path": "/nonexistent"}, start=False)
    tom = node_person(harness, NODE, "tom", ["tre_admin"])
    url, _process = start_node_portal(harness, NODE)
    sign_in(page, url, tom)
    page.get_by_role("link", name="Audit log").click()
    assert "The chain holds" in page.locator("#chain-status").inner_text()

    node = harness.node_service(NODE)  # someone with the database's password edits a row
    try:
        edit = update(AUDIT.events).where(AUDIT.events.c.seq == 3).values(actor="mallory")
        node.unit(lambda s: s.execute(edit))
    finally:
        node.stop()
    page.reload()
    status = page.locator("#chain-status")
    assert "The chain is broken" in status.inner_text()
    assert "event 3: the event was edited" in status.inner_text()
    row = page.locator("tr#event-3")
    assert "mallory" in row.inner_text() and "broken" in row.inner_text()
    status.get_by_role("link", name="event 3").click()  # the link shows the events up to it
    page.wait_for_url(url + "/audit?to_event=3")
    assert page.locator("tbody tr").first.locator("th").inner_text() == "3"
