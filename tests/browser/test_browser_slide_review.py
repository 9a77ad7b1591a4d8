"""A reader at another hospital opens a released slide in the hub's portal, in Chromium (issue
16, point 5; ADR 0029): a real hub process, a node's real commands (``tests/slide_review_world``:
synthetic slides registered, the demo model run), the slide released with ``fivesafes node
slides release``.

* the reader's list of slides names it by its release id (never its id at the node); the viewer
  opens it over the hub's tiles (all 200), with the released prediction's overlays: the heatmap
  switched on is drawn; a zoom brings new tiles;
* the tiles the reader's browser fetched are in the hub's audit log as their viewport trail;
* the page passes the accessibility checks; a screenshot is saved where
  ``FIVESAFES_SCREENSHOTS`` names (``docs/screenshots`` for the docs), else in a temporary
  folder.
"""

from __future__ import annotations

import json
import sqlite3
import time

from federation import fs
from fivesafes.demo.local import CUSTODIAN
from fivesafes.pathology.releases import release_id
from fivesafes.slides.demo_model import MODEL, VERSION
from portal import browse_as
from slide_review_world import slide_world
from web_a11y import accessibility_problems

LOADED = """() => {
  const v = window.slideViewer;
  return !!v && v.world.getItemCount() === 1 && v.world.getItemAt(0).getFullyLoaded();
}"""
DRAWN = """(id) => {
  const canvas = document.getElementById(id);
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 3; i < data.length; i += 4) { if (data[i] > 0) n++; }
  return n;
}"""


def trail(harness) -> list[dict]:
    with sqlite3.connect(harness.root / "hub" / "hub.db") as db:
        rows = db.execute(
            "SELECT actor, details FROM audit_events WHERE event_type = 'slide_viewed'"
        ).fetchall()
    return [{"actor": actor, **json.loads(details)} for actor, details in rows]


def test_a_reader_at_another_hospital_views_a_released_slide(harness, tmp_path, page, screenshots):
    from playwright.sync_api import expect

    world = slide_world(harness, tmp_path)
    rid = release_id(world["key"], world["project"], world["slide"])
    fs("node", "slides", "release", world["slide"], "--project", world["project"], "--model",
       MODEL, "-c", world["config"], "--by", CUSTODIAN)  # fmt: skip
    browse_as(page, harness, "alice")
    tiles: list[int] = []
    page.on("response", lambda r: tiles.append(r.status) if "/tiles/" in r.url else None)

    page.goto(f"{harness.hub_url}/review/slides")
    expect(page.get_by_role("heading", name="Slides")).to_be_visible()
    link = page.get_by_role("link", name=rid)
    expect(link).to_be_visible()
    assert world["slide"] not in page.content()
    link.click()
    page.wait_for_url(f"{harness.hub_url}/review/slides/{rid}")
    page.wait_for_function(LOADED, timeout=30_000)
    assert tiles and set(tiles) == {200}
    assert world["slide"] not in page.content()

    panel = page.get_by_role("region", name="AI predictions")
    card = panel.get_by_role("article", name=f"{MODEL} version {VERSION}")
    expect(card).to_be_visible()
    card.get_by_role("switch", name="Show the heatmap").check()
    page.wait_for_timeout(500)
    ids = page.evaluate("() => [...document.querySelectorAll('canvas[id]')].map(c => c.id)")
    heat = next(i for i in ids if "heat" in i)
    assert page.evaluate(DRAWN, heat) > 0

    before = len(tiles)
    page.get_by_role("button", name="Zoom in").click()
    page.get_by_role("button", name="Zoom in").click()
    page.wait_for_timeout(800)
    page.wait_for_function(LOADED, timeout=30_000)
    assert len(tiles) > before and set(tiles) == {200}
    assert not accessibility_problems(page.content())
    page.screenshot(path=str(screenshots / "hub-review-slide.png"), full_page=True)

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and sum(e["tiles"] for e in trail(harness)) < len(tiles):
        time.sleep(0.3)
    seen = trail(harness)
    assert {e["actor"] for e in seen} == {"alice"} and {e["review_id"] for e in seen} == {rid}
    assert sum(e["tiles"] for e in seen) == len(tiles)
