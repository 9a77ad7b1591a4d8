"""A slide held at one hospital, viewed by a reader at another (issue 16, point 5; ADR 0029):
a real hub process and a node's real commands on loopback. The node's CDM is synthetic, its
slides synthesised for two persons (labels, macros and metadata carrying planted identifiers),
registered, and the demo model run on them.

* before its custodian releases a slide, a project member finds nothing at the hub: the list
  is empty and the slide's release id is the "does not exist" answer;
* ``fivesafes node slides release`` pushes its pack over the node's own requests; then the
  member sees it: every tile is the node's own tile of the same level, column and row, the
  prediction's annotations are the node's; someone outside the project still sees nothing;
* the tiles the member fetched are in the hub's audit log as their viewport trail (who, which
  slide, level, region), and nothing the hub holds (its database, its review store, its logs)
  carries a planted identifier, the slide's id at the node or its file's name;
* a withdrawal deletes the pack at the hub, and the member sees nothing again.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from federation import fs
from fivesafes.demo.local import CUSTODIAN
from fivesafes.pathology.releases import release_id
from fivesafes.slides.tiles import DeepZoom
from portal import session_for
from slide_review_world import MODEL, slide_world

NOT_FOUND = "does not exist or you do not have permission"


@pytest.fixture
def world(harness, tmp_path):
    return slide_world(harness, tmp_path)


def hub_bytes(root: Path) -> bytes:
    """Everything the hub wrote: its database, review store, logs."""
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def test_a_reader_at_another_hospital_sees_a_slide_only_once_released(harness, world):
    url = harness.hub_url
    rid = release_id(world["key"], world["project"], world["slide"])
    alice, bob = session_for(harness, "alice"), session_for(harness, "bob")

    # before the release: nothing, in the one answer
    assert world["slide"] not in alice.get("/review/slides").text
    assert rid not in alice.get("/review/slides").text
    for client in (alice, bob):
        refused = client.get(f"/review/slides/{rid}/dzi.json")
        assert refused.status_code == 404 and NOT_FOUND in refused.text
        assert client.get(f"/review/slides/{rid}/tiles/0/0_0.jpeg").status_code == 404

    # an unknown model is refused in words, and nothing is released
    refused = fs("node", "slides", "release", world["slide"], "--project", world["project"],
                 "--model", "no-such-model", "-c", world["config"], "--by", CUSTODIAN,
                 check=False)  # fmt: skip
    assert refused.returncode != 0 and "has no prediction" in refused.stdout + refused.stderr
    assert alice.get(f"/review/slides/{rid}/dzi.json").status_code == 404

    done = fs("node", "slides", "release", world["slide"], "--project", world["project"],
              "--model", MODEL, "-c", world["config"], "--by", CUSTODIAN)  # fmt: skip
    assert rid in done.stdout and "Pushed 1 slide" in done.stdout
    again = fs("node", "slides", "release", world["slide"], "--project", world["project"],
               "-c", world["config"], "--by", CUSTODIAN, check=False)  # fmt: skip
    said = again.stdout + again.stderr
    assert again.returncode != 0 and "released for the project already" in said
    listed = json.loads(fs("node", "slides", "releases", "-c", world["config"], "--json").stdout)
    assert [(r["release_id"], r["state"]) for r in listed] == [(rid, "pushed")]

    # the member sees it: every tile is the node's own
    page = alice.get("/review/slides")
    assert page.status_code == 200 and rid in page.text and world["slide"] not in page.text
    answer = alice.get(f"/review/slides/{rid}/dzi.json")  # once failed in CI with an HTML page:
    assert answer.status_code == 200, (answer.status_code, answer.text[:400])  # say which
    dzi = answer.json()["Image"]
    node = DeepZoom.open(world["path"])
    try:
        assert (int(dzi["Size"]["Width"]), int(dzi["Size"]["Height"])) == (
            node.info.width, node.info.height)  # fmt: skip
        fetched = []
        for level in range(node.level_count):
            cols, rows = node.level_tiles(level)
            for col in range(cols):
                for row in range(rows):
                    got = alice.get(f"/review/slides/{rid}/tiles/{level}/{col}_{row}.jpeg")
                    assert got.status_code == 200, (level, col, row)
                    assert got.content == node.tile(level, col, row)
                    fetched.append((level, col, row))
        top = node.level_count - 1
        beyond = node.level_tiles(top)[0]
    finally:
        node.close()
    missing = alice.get(f"/review/slides/{rid}/tiles/{top}/{beyond}_0.jpeg")
    assert missing.status_code == 404
    viewer = alice.get(f"/review/slides/{rid}")
    assert viewer.status_code == 200 and "openseadragon" in viewer.text.lower()

    # the predictions sent with it, under ids of their own
    listed = alice.get(f"/review/slides/{rid}/predictions.json").json()["predictions"]
    assert [p["model"] for p in listed] == [MODEL]
    drawn = alice.get(listed[0]["annotations_url"]).json()
    assert drawn == world["geojson"]
    heatmap = alice.get(listed[0]["heatmap_url"])
    assert heatmap.status_code == 200 and heatmap.content == world["heatmap"]

    # someone outside the project sees nothing of it
    for route in ("dzi.json", "tiles/0/0_0.jpeg", "predictions.json"):
        assert bob.get(f"/review/slides/{rid}/{route}").status_code == 404
    assert rid not in bob.get("/review/slides").text

    # the viewport trail: the member's tiles, by level, in the hub's audit log
    deadline = time.monotonic() + 15
    trail: list[tuple[str, str]] = []
    while time.monotonic() < deadline:
        with sqlite3.connect(harness.root / "hub" / "hub.db") as db:
            trail = db.execute(
                "SELECT actor, details FROM audit_events WHERE event_type = 'slide_viewed'"
            ).fetchall()
        if sum(json.loads(d)["tiles"] for _, d in trail) >= len(fetched):
            break
        time.sleep(0.3)
    assert {actor for actor, _ in trail} == {"alice"}
    entries = [json.loads(d) for _, d in trail]
    assert sum(e["tiles"] for e in entries) == len(fetched)
    assert {e["review_id"] for e in entries} == {rid}
    assert {e["level"] for e in entries} == {level for level, _, _ in fetched}
    whole = [e for e in entries if e["level"] == top]
    x0 = min(e["region"][0] for e in whole)
    x1 = max(e["region"][0] + e["region"][2] for e in whole)
    assert (x0, x1) == (0, int(dzi["Size"]["Width"]))

    # nothing the hub holds names the slide at the node, its file, or a planted identifier
    held = hub_bytes(harness.root / "hub")
    for secret in (*world["planted"], world["slide"], world["path"].name):
        assert secret.encode() not in held, secret

    # the pack is in the hub's review store (beside its configuration), and only there
    store = harness.root / "hub" / "review-store"
    assert [p.name for p in store.iterdir()] == [f"{rid}.pack"]

    # withdrawn: deleted at the hub, and gone for the member
    fs("node", "slides", "withdraw", rid, "--reason", "consent withdrawn", "-c",
       world["config"], "--by", CUSTODIAN)  # fmt: skip
    assert not list(store.iterdir())
    assert alice.get(f"/review/slides/{rid}/dzi.json").status_code == 404
    assert alice.get(f"/review/slides/{rid}/tiles/0/0_0.jpeg").status_code == 404
    with sqlite3.connect(harness.root / "hub" / "hub.db") as db:
        kinds = [r[0] for r in db.execute(
            "SELECT event_type FROM audit_events WHERE event_type LIKE 'slide_review_%'"
            " ORDER BY seq")]  # fmt: skip
    assert kinds == ["slide_review_received", "slide_review_deleted"]
    httpx.get(f"{url}/api/v1/health").raise_for_status()


def test_a_custodian_releases_the_slides_a_cohort_finds(harness, world, tmp_path):
    """``release --cohort``: the slides of the cohort's persons that fit its slide criterion,
    as the node's own registry says (here: H&E with the demo model's predictions), a few at a
    time with ``--limit``, never one released already; refusals in words."""
    import duckdb

    config = world["config"]
    with duckdb.connect(str(tmp_path / "omop.duckdb"), read_only=True) as con:
        expected = sorted(r[0] for r in con.execute(
            "SELECT DISTINCT s.slide_id FROM pathology_slide s"
            " JOIN specimen sp ON sp.specimen_id = s.specimen_id"
            " JOIN pathology_prediction p ON p.slide_id = s.slide_id AND p.model = ?"
            " WHERE s.stain = 'H&E' AND s.person_id IS NOT NULL", [MODEL]).fetchall())  # fmt: skip
    assert len(expected) >= 2
    cohort = tmp_path / "cohort.json"
    cohort.write_text(json.dumps({"name": "H&E read by the model", "criteria": [
        {"domain": "slide", "stain": ["H&E"], "predicted_by": [MODEL]}]}))  # fmt: skip
    release = ("node", "slides", "release", "--project", world["project"], "--by", CUSTODIAN,
               "--no-push", "-c", config)  # fmt: skip

    first = fs(*release, "--cohort", str(cohort), "--limit", "1")
    assert f"The cohort finds {len(expected)} slides here; 0 of them" in first.stdout
    listed = json.loads(fs("node", "slides", "releases", "--json", "-c", config).stdout)
    assert [r["slide_id"] for r in listed] == expected[:1]
    rest = fs(*release, "--cohort", str(cohort))
    assert f"1 of them are released for {world['project']} already" in rest.stdout
    listed = json.loads(fs("node", "slides", "releases", "--json", "-c", config).stdout)
    assert sorted(r["slide_id"] for r in listed) == expected

    none_left = fs(*release, "--cohort", str(cohort), check=False)
    assert none_left.returncode != 0 and "no slide left" in none_left.stderr
    both = fs(*release, expected[0], "--cohort", str(cohort), check=False)
    assert both.returncode != 0 and "not both" in both.stderr
    cohort.write_text(json.dumps({"name": "no slides", "sex": ["female"]}))
    without = fs(*release, "--cohort", str(cohort), check=False)
    assert without.returncode != 0 and "no slide criterion" in without.stderr
    cohort.write_text("[" * 500)
    deep = fs(*release, "--cohort", str(cohort), check=False)
    assert deep.returncode != 0 and "not JSON" in deep.stderr and "Traceback" not in deep.stderr
