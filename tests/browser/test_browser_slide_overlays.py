"""An output checker looks at the demo model's predictions over a slide in the node's portal, in
Chromium, against a real hub and a real ``fivesafes node portal`` process (issue 16, point 3).

The world is ``test_slide_viewer``'s (a synthetic CDM, synthetic slides registered with the
real ``fivesafes node slides add``), and the real ``fivesafes node slides predict-demo`` has
run on every slide: a heatmap and ``Tumor`` regions for each, found by colour where the
synthesis planted its tumours (``ground-truth/tumour_regions.geojson``).

* the panel lists the prediction (model, version, run time, features, classes); its
  annotations are drawn once the slide opens (``window.slideOverlay.painted``, the
  ``annotations-painted`` mark), switched off and on, and hidden by class;
* the heatmap, switched on, is drawn where the tumours were planted and nowhere far from them:
  the centroid of its drawn pixels, in slide coordinates, is within 5% of the slide's width of
  the planted regions' centroid; each planted region's centroid is coloured, and no point of a
  5% grid farther than 10% of the slide's width from every tumour is (the annotations too);
  the opacity slider changes its alpha; the threshold slider at its maximum (the End key)
  clears it;
* zoomed to a tumour, new tiles come (all 200) and the overlays follow: the tumour's centroid
  is still coloured where it now is on screen;
* the page passes the accessibility checks; a screenshot is saved where
  ``FIVESAFES_SCREENSHOTS`` names (``docs/screenshots`` for the docs), else in a temporary
  folder.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from federation import fs
from fivesafes.data.synth import generate
from fivesafes.imaging.synth import link_persons
from fivesafes.node.pseudonyms import load_key, pseudonym
from fivesafes.slides.demo_model import MODEL, VERSION
from fivesafes.slides.synth import write_slides
from node_portal import node_person, start_node_portal
from portal import browser_sign_in as sign_in
from portal import sign_in as client_sign_in
from web_a11y import accessibility_problems

NODE = "northfield"
TOLERANCE = 0.05  # of the slide's width: how far the heatmap's centroid may be from the truth
LOADED = """() => {
  const v = window.slideViewer;
  return !!v && v.world.getItemCount() === 1 && v.world.getItemAt(0).getFullyLoaded();
}"""
# the drawn pixels of an overlay layer: how many, their centroid in slide (level-0) pixels,
# and the alpha at given slide points (each converted to the layer's own pixels)
LAYER = """([id, points]) => {
  const canvas = document.getElementById(id);
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const ratio = canvas.width / canvas.clientWidth;
  const item = window.slideViewer.world.getItemAt(0);
  let n = 0, sx = 0, sy = 0;
  for (let y = 0; y < canvas.height; y++) {
    for (let x = 0; x < canvas.width; x++) {
      if (data[(y * canvas.width + x) * 4 + 3] > 0) { n += 1; sx += x; sy += y; }
    }
  }
  const centre = n ? item.viewerElementToImageCoordinates(
    new OpenSeadragon.Point(sx / n / ratio, sy / n / ratio)) : null;
  const alpha = points.map(([px, py]) => {
    const at = item.imageToViewerElementCoordinates(new OpenSeadragon.Point(px, py));
    const x = Math.round(at.x * ratio), y = Math.round(at.y * ratio);
    if (x < 0 || y < 0 || x >= canvas.width || y >= canvas.height) { return null; }
    return data[(y * canvas.width + x) * 4 + 3];
  });
  return {n: n, centre: centre && [centre.x, centre.y], alpha: alpha};
}"""


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def bounds(ring: list[list[float]]) -> tuple[float, float, float, float]:
    xs, ys = [x for x, _ in ring], [y for _, y in ring]
    return min(xs), min(ys), max(xs), max(ys)


def outside(box: tuple[float, float, float, float], point: tuple[float, float], by: float) -> bool:
    """Whether ``point`` is more than ``by`` from the box."""
    x0, y0, x1, y1 = box
    return math.dist(point, (min(max(point[0], x0), x1), min(max(point[1], y0), y1))) > by


def centroid(ring: list[list[float]]) -> tuple[float, float, float]:
    """A polygon's area and centroid (the shoelace formula)."""
    area = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True):
        cross = x0 * y1 - x1 * y0
        area += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    area /= 2
    return abs(area), cx / (6 * area), cy / (6 * area)


class World:
    """A hub; northfield (its agent not running) with its CDM, slides registered and the demo
    model's predictions imported, its portal; otto, an output checker there."""

    def __init__(self, harness) -> None:
        harness.start_hub()
        cdm = harness.root / "northfield.duckdb"
        generate(cdm, persons=1000, seed=1)
        harness.add_node(NODE, {"engine": "duckdb", "path": str(cdm)}, start=False)
        config = str(harness.root / NODE / "node.toml")
        fs("node", "pseudonym-key", "-c", config)
        key = load_key(harness.root / NODE / "pseudonym.key")
        link_persons(cdm, lambda value: pseudonym(value, key))
        made = harness.root / "made"
        write_slides(cdm, made, seed=4, persons_limit=2, width=2048, height=1536, levels=3)
        truth = made / "ground-truth"
        self.truth = rows(truth / "slides.csv")
        fs("node", "slides", "add", str(made / "slides"), "-c", config,
           "--specimen-map", str(truth / "specimen_map.csv"))  # fmt: skip
        predicted = fs("node", "slides", "predict-demo", "-c", config, "--by", "op-sam").stdout
        assert "Predictions imported: 4." in predicted, predicted
        self.regions = json.loads((truth / "tumour_regions.geojson").read_text())["features"]
        import duckdb

        with duckdb.connect(str(cdm), read_only=True) as con:
            self.files = dict(
                con.execute("SELECT slide_id, path FROM pathology_slide_file").fetchall()
            )
        self.otto = node_person(harness, NODE, "otto", ["output_checker"])
        self.url, _process = start_node_portal(harness, NODE)

    def slide_of(self, name: str) -> str:
        return next(sid for sid, path in self.files.items() if Path(path).name == name)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from federation import Harness
    from fivesafes.demo.processes import Supervisor

    with Supervisor() as supervisor:
        yield World(Harness(tmp_path_factory.mktemp("slide-overlays"), supervisor))


def settle(page) -> None:
    """The view's animation over, its tiles loaded, the overlays drawn for it."""
    page.wait_for_timeout(800)
    page.wait_for_function(LOADED, timeout=30_000)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def test_the_demo_models_heatmap_and_regions_lie_over_the_planted_tumours(world, page, screenshots):
    from playwright.sync_api import expect

    tiles: list[tuple[str, int]] = []
    page.on("response", lambda r: tiles.append((r.url, r.status)) if "/tiles/" in r.url else None)
    page.set_viewport_size({"width": 1400, "height": 900})
    he = next(r for r in world.truth if r["format"] == "svs" and r["stain"] == "H&E")
    slide_id = world.slide_of(Path(he["slide"]).name)
    width, height = int(he["width"]), int(he["height"])
    planted = [centroid(f["geometry"]["coordinates"][0]) for f in world.regions
               if f["properties"]["slide"] == he["slide"]]  # fmt: skip
    assert planted, "the synthesis planted tumours in the slide"
    area = sum(a for a, _, _ in planted)
    truth = (sum(a * x for a, x, _ in planted) / area, sum(a * y for a, _, y in planted) / area)
    # points of a 5% grid over the slide farther than 10% of its width from every tumour
    boxes = [bounds(f["geometry"]["coordinates"][0]) for f in world.regions
             if f["properties"]["slide"] == he["slide"]]  # fmt: skip
    far = [
        [width * i / 20, height * j / 20]
        for i in range(1, 20)
        for j in range(1, 20)
        if all(outside(box, (width * i / 20, height * j / 20), 0.1 * width) for box in boxes)
    ]
    assert len(far) > 100, len(far)
    centres = [[x, y] for _, x, y in planted]

    sign_in(page, world.url, world.otto, f"/slides/{slide_id}")
    page.wait_for_function(LOADED, timeout=30_000)
    panel = page.get_by_role("region", name="AI predictions")
    card = panel.get_by_role("article", name=f"{MODEL} version {VERSION}")
    expect(card).to_contain_text("Run 20")
    expect(card).to_contain_text("UTC")
    expect(card).to_contain_text("features (Tumor)")
    expect(card).to_contain_text("a heatmap")

    # the annotations: on for the newest prediction, drawn once the slide is open
    page.wait_for_function("() => window.slideOverlay && window.slideOverlay.painted",
                           timeout=30_000)  # fmt: skip
    painted = page.evaluate("() => window.slideOverlay")
    assert painted["drawn"] > 0 and painted["features"] > 0, painted
    assert page.evaluate("() => performance.getEntriesByName('annotations-painted').length") == 1
    expect(page.locator("#overlay-status")).to_contain_text(f"Annotations of {MODEL} shown")
    tumour = card.get_by_role("checkbox", name="Tumor")
    expect(tumour).to_be_checked()
    count = int(card.locator(".overlay-count").inner_text().replace(",", ""))
    assert count == painted["features"]
    shapes = page.evaluate(LAYER, ["slide-annotation-layer", centres + far])
    assert shapes["n"] > 0 and all(a and a > 0 for a in shapes["alpha"][: len(centres)]), shapes
    assert not any(shapes["alpha"][len(centres) :]), shapes  # nothing far from every tumour
    assert math.dist(shapes["centre"], truth) < TOLERANCE * width, (shapes, truth)
    switch = card.get_by_role("switch", name="Show the annotations")
    switch.uncheck()  # off: the layer is cleared
    page.wait_for_function("() => !window.slideOverlay.painted")
    assert page.evaluate(LAYER, ["slide-annotation-layer", []])["n"] == 0
    switch.check()
    page.wait_for_function("() => window.slideOverlay.painted && window.slideOverlay.drawn > 0")
    tumour.uncheck()  # a class hidden: nothing of it drawn
    page.wait_for_function("() => window.slideOverlay.drawn === 0")
    assert page.evaluate(LAYER, ["slide-annotation-layer", []])["n"] == 0
    tumour.check()
    page.wait_for_function("() => window.slideOverlay.drawn > 0")

    # the heatmap: off until switched on; then where the tumours are, and not far from them
    heat = page.evaluate(LAYER, ["slide-heatmap-layer", []])
    assert heat["n"] == 0
    card.get_by_role("switch", name="Show the heatmap").check()
    page.wait_for_function(
        "() => document.getElementById('slide-heatmap-layer').width > 0 &&"
        " document.querySelector('#overlay-status').textContent.includes('Heatmap of')"
    )
    settle(page)
    heat = page.evaluate(LAYER, ["slide-heatmap-layer", centres + far])
    assert heat["n"] > 0 and all(a and a > 0 for a in heat["alpha"][: len(centres)]), heat
    assert not any(heat["alpha"][len(centres) :]), heat
    off_by = math.dist(heat["centre"], truth)
    assert off_by < TOLERANCE * width, (heat["centre"], truth, off_by)
    before = heat["alpha"][0]
    assert 140 <= before <= 165, before  # 60 % opaque
    card.get_by_label("Opacity").fill("100")
    settle(page)
    assert page.evaluate(LAYER, ["slide-heatmap-layer", centres[:1]])["alpha"][0] == 255
    threshold = card.get_by_label("Threshold")
    threshold.focus()
    page.keyboard.press("End")  # the maximum: no score is above it
    expect(threshold).to_have_value("100")
    settle(page)
    assert page.evaluate(LAYER, ["slide-heatmap-layer", []])["n"] == 0
    page.keyboard.press("Home")
    expect(threshold).to_have_value("0")
    threshold.fill("50")
    card.get_by_label("Opacity").fill("60")
    settle(page)
    assert page.evaluate(LAYER, ["slide-heatmap-layer", []])["n"] == heat["n"]
    assert accessibility_problems(page.content()) == []

    # to the largest tumour, then closer still: new tiles come and the overlays follow
    first = len(tiles)
    biggest = max(
        (f for f in world.regions if f["properties"]["slide"] == he["slide"]),
        key=lambda f: centroid(f["geometry"]["coordinates"][0])[0],
    )
    xs = [x for x, _ in biggest["geometry"]["coordinates"][0]]
    ys = [y for _, y in biggest["geometry"]["coordinates"][0]]
    _, bx, by = centroid(biggest["geometry"]["coordinates"][0])
    frames = page.evaluate("() => window.slideOverlay.frames")
    page.evaluate(
        """([x, y, w, h]) => {
            const v = window.slideViewer, item = v.world.getItemAt(0);
            v.viewport.fitBounds(item.imageToViewportRectangle(x - w / 2, y - h / 2, 2 * w, 2 * h));
        }""",
        [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)],
    )
    settle(page)
    assert page.evaluate("() => window.slideOverlay.frames") > frames  # redrawn as it moved
    for layer in ("slide-heatmap-layer", "slide-annotation-layer"):
        near = page.evaluate(LAYER, [layer, [[bx, by]]])
        assert near["alpha"][0] and near["alpha"][0] > 0, (layer, near)
    page.screenshot(path=str(screenshots / "node-slide-overlays.png"), full_page=True)
    page.get_by_role("button", name="Zoom in").click()
    settle(page)
    zoomed = tiles[first:]
    assert zoomed and all(status == 200 for _, status in zoomed), zoomed
    assert any("/tiles/11/" in u for u, _ in zoomed), zoomed
    assert page.evaluate(LAYER, ["slide-heatmap-layer", [[bx, by]]])["alpha"][0] > 0


def test_the_predictions_are_served_to_those_who_may_look(world):
    client = client_sign_in(world.url, world.otto)
    slide_id = next(iter(world.files))
    listed = client.get(f"/slides/{slide_id}/predictions.json")
    assert listed.status_code == 200 and listed.headers["cache-control"].startswith("private")
    (prediction,) = listed.json()["predictions"]
    assert (prediction["model"], prediction["version"]) == (MODEL, VERSION)
    assert prediction["classes"] == ["Tumor"] and prediction["heatmap"] is True
    shapes = client.get(prediction["annotations_url"])
    assert shapes.status_code == 200 and len(shapes.json()["features"]) == prediction["features"]
    assert shapes.headers["x-content-type-options"] == "nosniff"
    heat = client.get(prediction["heatmap_url"])
    assert heat.status_code == 200 and heat.content.startswith(b"\x89PNG")
    other = next(s for s in world.files if s != slide_id)
    stolen = client.get(f"/slides/{other}/predictions/{prediction['id']}/heatmap.png")
    assert stolen.status_code == 404
    assert "The prediction does not exist or you do not have permission" in stolen.text
