"""A project's linkage on the hub's page, in Chromium, when the hub's run fails: a hub whose
linkage worker may use 1 MB (DuckDB runs out of memory at once), two hospitals that send their
tokens and encodings; the project's page says in words that nothing was linked and to send
again, marked as an error, with no table of counts; the page passes the accessibility checks;
a screenshot is saved (``docs/screenshots/hub-project-linkage-failed.png`` with
``FIVESAFES_SCREENSHOTS=docs/screenshots``). The page once linked is in
``test_browser_pool.py``'s screenshots.
"""

from __future__ import annotations

import time

import httpx

from linked_world import hospitals, link
from portal import browse_as
from web_a11y import accessibility_problems


def test_a_linkage_run_that_fails_says_so_on_the_projects_page(harness, tmp_path, page,
                                                               screenshots):  # fmt: skip
    harness.start_hub(linkage_memory_limit="1MB")
    data = hospitals(harness, tmp_path, persons=200, seed=51)
    world = link(harness, tmp_path, data, seed=51, title="A linkage that fails", pull=False)
    url = f"{harness.hub_url}/api/v1/projects/{world['project']}/linkage"
    headers = {"Authorization": f"Bearer {world['token']}"}
    deadline = time.time() + 60
    while httpx.get(url, headers=headers).json()["state"] != "failed" and time.time() < deadline:
        time.sleep(0.5)
    assert httpx.get(url, headers=headers).json()["state"] == "failed"

    browse_as(page, harness, "alice")
    page.goto(f"{harness.hub_url}/projects/{world['project']}")
    section = page.locator("#linkage")
    note = section.locator("p.error")
    assert note.is_visible()
    assert "nothing was linked" in note.inner_text() and "Send again" in note.inner_text()
    assert section.locator("table").count() == 0  # no counts from a failed run
    assert not accessibility_problems(page.content())
    page.screenshot(path=str(screenshots / "hub-project-linkage-failed.png"), full_page=True)
