"""A pool on the hub's pages, in Chromium: the linked project's page shows its pools (what each
node sends, the state, the expiry, who reported what), and once the pool's data is destroyed,
its certificate; the page passes the accessibility checks; screenshots are saved
(``docs/screenshots/hub-project-pools.png`` with ``FIVESAFES_SCREENSHOTS=docs/screenshots``)."""

from __future__ import annotations

import time

from federation import fs
from fivesafes.demo.local import CUSTODIAN
from linked_world import ready_pool, with_pool
from portal import browse_as
from web_a11y import accessibility_problems


def test_the_project_page_shows_its_pools_and_the_certificate(harness, tmp_path, page, screenshots):
    world = with_pool(harness, tmp_path, persons=400, seed=31, title="Smoking here, cancer there")
    pool = ready_pool(harness, world, {"northfield": ["smoker"], "lakeside": ["lung_cancer"]},
                      "Smoking recorded at one hospital, lung cancer at the other.")  # fmt: skip
    browse_as(page, harness, "alice")
    page.goto(f"{harness.hub_url}/projects/{world['project']}")
    section = page.locator("#pools")
    assert section.is_visible()
    row = section.locator("tbody tr").first
    assert pool["pool_id"] in row.inner_text()
    assert "northfield: smoker" in row.inner_text() and "lakeside: lung_cancer" in row.inner_text()
    assert "ready" in row.locator("td").nth(1).inner_text()
    assert not accessibility_problems(page.content())
    page.screenshot(path=str(screenshots / "hub-project-pools.png"), full_page=True)

    fs("node", "pool", "revoke", "--pool", pool["pool_id"], "--by", CUSTODIAN, "-c",
       world["configs"]["lakeside"])  # fmt: skip
    fed = harness.federation(world["token"], world["project"])
    deadline = time.time() + 60
    while fed.pools()[0]["state"] != "destroyed" and time.time() < deadline:
        time.sleep(0.5)
    page.reload()
    state = page.locator("#pools tbody tr").first.locator("td").nth(1).inner_text()
    assert "destroyed" in state and "certificate: revoked" in state
    page.screenshot(path=str(screenshots / "hub-project-pool-destroyed.png"), full_page=True)
