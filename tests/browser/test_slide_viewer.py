"""An output checker looks at a registered slide in the node's portal, in Chromium, against a real
hub and a real ``fivesafes node portal`` process (issue 16, ADR 0029).

The node's CDM is synthetic (``fivesafes.data.synth``, 1,000 persons, their pseudonyms written as
the TRE's loading pipeline would); slides are synthesised for two of its persons with cancer
(``slides.synth.write_slides``: level 0 of 2048 x 1536, three levels; three SVS and an
OME-TIFF copy) and registered with the real ``fivesafes node slides add`` and the specimen map
the synthesis writes, so every slide is linked.

* the checker sees the list (and its CSV), opens a slide: OpenSeadragon (served by the node
  from npm's package) draws it once its tiles have loaded, a zoom asks for new tiles that all
  arrive (200), the scale bar's length changes with the zoom; the node's navigation has
  "Slides"; the pages pass the accessibility checks; screenshots are saved where
  ``FIVESAFES_SCREENSHOTS`` names (``docs/screenshots`` for the docs), else in a temporary
  folder;
* no identifier planted in the slides (their labels, macros and metadata,
  ``ground-truth/planted_identifiers.csv``), no file name and no path, is in the list, the CSV,
  the viewer, the descriptor or any tile; no URL reaches a label, macro or thumbnail; a tile of
  a stored level is the file's own JPEG bytes; tiles carry ``Cache-Control: private`` and an
  ETag (answered 304 again);
* an unknown slide is the one "does not exist or you do not have permission" answer; bad
  numbers are "not found" in words; a node account without a role is refused in words.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import httpx
import pytest
from opentile import OpenTile

from federation import fs
from fivesafes.data.synth import generate
from fivesafes.imaging.synth import link_persons
from fivesafes.node.accounts import node_accounts
from fivesafes.node.config import NodeConfig
from fivesafes.node.portal.app import create_portal_app
from fivesafes.node.pseudonyms import load_key, pseudonym
from fivesafes.node.service import NodeService
from fivesafes.slides.synth import write_slides
from node_portal import TRE_ADMIN, node_person, start_node_portal
from portal import PASSWORD, Person
from portal import browser_sign_in as sign_in
from portal import sign_in as client_sign_in
from web_a11y import accessibility_problems

NODE = "northfield"
TIMES = " \u00d7 "  # the multiplication sign the pages write sizes with
NOT_FOUND = "does not exist or you do not have permission"
SLIDE_ROUTES = {
    "/slides", "/slides.csv", "/slides/{slide_id}", "/slides/{slide_id}/dzi.json",
    "/slides/{slide_id}/tiles/{level}/{col}_{row}.jpeg",
    "/slides/{slide_id}/predictions.json",  # the AI predictions over the viewer: only what
    "/slides/{slide_id}/predictions/{prediction_id}/annotations.json",  # a model made
    "/slides/{slide_id}/predictions/{prediction_id}/heatmap.png",
}  # fmt: skip
LOADED = """() => {
  const v = window.slideViewer;
  return !!v && v.world.getItemCount() === 1 && v.world.getItemAt(0).getFullyLoaded();
}"""


def no_role_account(harness, username: str) -> Person:
    """A node account holding no role here."""
    service = harness.node_service(NODE)
    try:
        store = service.account_store
        accounts = node_accounts()
        service.unit(lambda s: accounts.create(s, username=username, display_name=username.title(),
                                               grants=[], by=TRE_ADMIN))  # fmt: skip
        service.unit(lambda s: store.set_password(s, username, PASSWORD, by=TRE_ADMIN))
        secret, _ = service.unit(lambda s: store.enrol_totp(s, username, by=TRE_ADMIN))
    finally:
        service.stop()
    return Person(username, secret, token="")


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


class World:
    """A hub; northfield (its agent not running) with its CDM, slides registered, its portal;
    otto, an output checker there, and sam, a node account with no role."""

    def __init__(self, harness) -> None:
        harness.start_hub()
        self.cdm = harness.root / "northfield.duckdb"
        generate(self.cdm, persons=1000, seed=1)
        harness.add_node(NODE, {"engine": "duckdb", "path": str(self.cdm)}, start=False)
        config = str(harness.root / NODE / "node.toml")
        fs("node", "pseudonym-key", "-c", config)
        key = load_key(harness.root / NODE / "pseudonym.key")
        link_persons(self.cdm, lambda value: pseudonym(value, key))
        self.made = harness.root / "Smith^John scans"  # a folder whose name names a person
        write_slides(self.cdm, self.made, seed=4, persons_limit=2, width=2048, height=1536,
                     levels=3)  # fmt: skip
        truth = self.made / "ground-truth"
        self.truth = rows(truth / "slides.csv")
        counts = json.loads(fs("node", "slides", "add", str(self.made / "slides"), "-c", config,
                               "--specimen-map", str(truth / "specimen_map.csv"),
                               "--json").stdout)  # fmt: skip
        assert counts["registered"] == len(self.truth) == 4
        assert counts["links"] == {"linked": 4}
        self.planted = sorted({r["value"] for r in rows(truth / "planted_identifiers.csv")})
        self.regions = json.loads((truth / "tumour_regions.geojson").read_text())["features"]
        import duckdb

        with duckdb.connect(str(self.cdm), read_only=True) as con:
            self.files = dict(con.execute(
                "SELECT f.slide_id, f.path FROM pathology_slide_file f"
            ).fetchall())  # fmt: skip
        self.people = {
            "otto": node_person(harness, NODE, "otto", ["output_checker"]),
            "sam": no_role_account(harness, "sam"),
        }
        self.url, _process = start_node_portal(harness, NODE)

    def slide_of(self, name: str) -> str:
        """The id of the slide whose file is ``name``."""
        return next(sid for sid, path in self.files.items() if Path(path).name == name)

    def never_shown(self, body: str | bytes) -> None:
        """No planted identifier, file name or path in ``body``."""
        data = body.encode() if isinstance(body, str) else body
        names = [Path(p).name for p in self.files.values()]
        for secret in (*self.planted, *names, str(self.made), "Smith^John"):
            assert secret.encode() not in data, secret
        for name in names:
            assert Path(name).stem.split(".")[0].encode() not in data, name


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from federation import Harness
    from fivesafes.demo.processes import Supervisor

    with Supervisor() as supervisor:
        yield World(Harness(tmp_path_factory.mktemp("slide-viewer"), supervisor))


def scale_bar(page) -> tuple[str, float]:
    """The scale bar's text and its line's width in CSS pixels."""
    text = page.locator("#scale-bar .scale-bar-text").inner_text()
    width = page.locator("#scale-bar .scale-bar-line").evaluate(
        "e => e.getBoundingClientRect().width"
    )
    return text, width


def test_an_output_checker_opens_a_slide_and_zooms(world, page, screenshots):
    from playwright.sync_api import expect

    url = world.url
    tiles: list[tuple[str, int]] = []
    page.on("response", lambda r: tiles.append((r.url, r.status)) if "/tiles/" in r.url else None)
    page.set_viewport_size({"width": 1400, "height": 900})
    sign_in(page, url, world.people["otto"], "/slides")
    expect(page.get_by_role("heading", level=1)).to_have_text("Slides")
    expect(page.get_by_role("link", name="Slides", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    listed = page.get_by_role("table", name="Slides registered at this node, by id")
    expect(listed.locator("tbody tr")).to_have_count(4)
    he = next(r for r in world.truth if r["format"] == "svs" and r["stain"] == "H&E")
    slide_id = world.slide_of(Path(he["slide"]).name)
    row = listed.get_by_role("row").filter(has=page.get_by_role("link", name=slide_id))
    mpp, power = float(he["mpp"]), int(he["app_mag"])
    for shown in ("H&E", "aperio", f"2,048{TIMES}1,536", f"{mpp:.3f}", f"{power}\u00d7", "yes"):
        expect(row).to_contain_text(shown)
    expect(listed.get_by_role("row").filter(has_text="ome-tiff")).to_have_count(1)
    assert accessibility_problems(page.content()) == []
    world.never_shown(page.content())
    page.screenshot(path=str(screenshots / "node-slides-list.png"), full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download this list as CSV").click()
    text = Path(download.value.path()).read_text()
    assert text.splitlines()[0] == ("slide_id,stain,format,width,height,levels,mpp_x,mpp_y,"
                                    "objective_power,linked,link,registered_at")  # fmt: skip
    assert f"{slide_id},H&E,aperio,2048,1536,3,{mpp:g},{mpp:g},{power},yes,linked," in text
    world.never_shown(text)

    row.get_by_role("link", name=slide_id).click()
    page.wait_for_url(f"{url}/slides/{slide_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Slide {slide_id}")
    page.wait_for_function(LOADED, timeout=30_000)
    expect(page.get_by_role("status")).to_contain_text("The slide is open")
    facts = page.get_by_role("table", name="The slide's allow-listed facts")
    for shown in ("H&E", "aperio", f"2,048{TIMES}1,536 pixels", "3 stored", f"{mpp:.3f}",
                  f"{power}\u00d7", "yes: linked to a person"):  # fmt: skip
        expect(facts).to_contain_text(shown)
    drawn = page.evaluate("""() => {
        const canvas = document.querySelector('#slide-viewer canvas');
        const pixel = canvas.getContext('2d').getImageData(
            canvas.width / 2, canvas.height / 2, 1, 1).data;
        return [canvas.width, canvas.height, pixel[0], pixel[1], pixel[2], pixel[3]];
    }""")
    assert drawn[0] > 400 and drawn[1] > 300 and drawn[5] == 255, drawn  # drawn, opaque
    assert drawn[2:5] != [0, 0, 0], drawn
    assert tiles and all(status == 200 for _, status in tiles), tiles
    first = len(tiles)
    whole_bar = scale_bar(page)
    assert re.fullmatch(r"[0-9.,]+ (µm|mm)", whole_bar[0]) and 20 < whole_bar[1] <= 121
    zoom_text = page.locator("#slide-zoom").inner_text()
    assert re.fullmatch("\u2248 [0-9.]+\u00d7", zoom_text), zoom_text  # about N times
    assert accessibility_problems(page.content()) == []
    world.never_shown(page.content())

    # to the first tumour of this slide, with some tissue around it, then closer still with
    # the Zoom in button: tiles of level 11, the stored level 0, come
    tumour = next(f for f in world.regions if f["properties"]["slide"] == he["slide"])
    xs = [x for x, _ in tumour["geometry"]["coordinates"][0]]
    ys = [y for _, y in tumour["geometry"]["coordinates"][0]]
    page.evaluate(
        """([x, y, w, h]) => {
            const v = window.slideViewer, item = v.world.getItemAt(0);
            v.viewport.fitBounds(item.imageToViewportRectangle(x - w / 2, y - h / 2, 2 * w, 2 * h));
        }""",
        [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)],
    )
    page.wait_for_timeout(800)  # the zoom's animation
    page.wait_for_function(LOADED, timeout=30_000)
    tumour_bar = scale_bar(page)
    assert tumour_bar[0] != whole_bar[0], (whole_bar, tumour_bar)
    assert page.locator("#slide-zoom").inner_text() != zoom_text
    page.screenshot(path=str(screenshots / "node-slide-viewer.png"), full_page=True)
    page.get_by_role("button", name="Zoom in").click()
    page.wait_for_timeout(800)
    page.wait_for_function(LOADED, timeout=30_000)
    zoomed = tiles[first:]
    assert zoomed and all(status == 200 for _, status in zoomed), zoomed
    assert any("/tiles/11/" in u for u, _ in zoomed), zoomed
    assert scale_bar(page)[0] not in (whole_bar[0], tumour_bar[0])

    page.get_by_role("button", name="Whole slide").click()
    page.wait_for_timeout(800)
    assert scale_bar(page)[0] == whole_bar[0]


def test_nothing_but_the_pyramid_leaves_and_bad_requests_are_refused_in_words(world):
    client = client_sign_in(world.url, world.people["otto"])
    world.never_shown(client.get("/slides").text)
    world.never_shown(client.get("/slides.csv").text)
    for slide_id, path in world.files.items():
        viewer = client.get(f"/slides/{slide_id}")
        assert viewer.status_code == 200 and viewer.headers["cache-control"] == "no-store"
        world.never_shown(viewer.text)
        dzi = client.get(f"/slides/{slide_id}/dzi.json")
        world.never_shown(dzi.content)
        image = dzi.json()["Image"]
        assert image["Url"] == f"/slides/{slide_id}/tiles/" and image["TileSize"] == "256"
        assert (image["Size"]["Width"], image["Size"]["Height"]) == ("2048", "1536")
        for level in range(12):  # every tile of every level
            cols, rows_ = -(-2048 // 2 ** (11 - level) // 256), -(-1536 // 2 ** (11 - level) // 256)
            for col in range(max(1, cols)):
                for row in range(max(1, rows_)):
                    tile = client.get(f"/slides/{slide_id}/tiles/{level}/{col}_{row}.jpeg")
                    assert tile.status_code == 200, (level, col, row)
                    assert tile.headers["content-type"] == "image/jpeg"
                    assert tile.content[:2] == b"\xff\xd8"
                    world.never_shown(tile.content)
        if path.endswith(".svs"):  # a stored tile: the file's own bytes
            stored = OpenTile.open(Path(path), 256).get_level(0).get_tile((3, 2))
            assert client.get(f"/slides/{slide_id}/tiles/11/3_2.jpeg").content == stored

    slide_id = next(iter(world.files))
    tile = client.get(f"/slides/{slide_id}/tiles/11/0_0.jpeg")
    assert tile.headers["cache-control"].startswith("private")
    again = client.get(f"/slides/{slide_id}/tiles/11/0_0.jpeg",
                       headers={"If-None-Match": tile.headers["etag"]})  # fmt: skip
    assert again.status_code == 304 and not again.content

    for path in ("label", "macro", "thumbnail", "associated/label", "label.jpeg",
                 "tiles/label/0_0.jpeg", "tiles/macro/0_0.jpeg", "tiles/thumbnail/0_0.jpeg",
                 "tiles/11/label.jpeg", "dzi.xml", "file", "download"):  # fmt: skip
        answer = client.get(f"/slides/{slide_id}/{path}")
        assert answer.status_code == 404, path
        assert "Traceback" not in answer.text
        world.never_shown(answer.content)
    for path, words in (
        ("tiles/12/0_0.jpeg", "its DeepZoom levels are 0 to 11"),
        ("tiles/11/8_0.jpeg", "level 11 has columns 0 to 7 and rows 0 to 5"),
        ("tiles/-1/0_0.jpeg", "a tile is named by its level, column and row"),
        ("tiles/ZZSENTINEL/0_0.jpeg", "a tile is named by its level, column and row"),
        ("tiles/11/99999999_0.jpeg", "a tile is named by its level, column and row"),
    ):
        answer = client.get(f"/slides/{slide_id}/{path}")
        assert answer.status_code == 404 and "The slide has no such tile" in answer.text, path
        assert words in answer.text and "ZZSENTINEL" not in answer.text, path
        as_json = client.get(f"/slides/{slide_id}/{path}", headers={"HX-Request": "true"})
        assert as_json.json()["error"]["code"] == "not_found"
    unknown = "SL" + "0" * 20
    for path in (
        f"/slides/{unknown}",
        f"/slides/{unknown}/dzi.json",
        f"/slides/{unknown}/tiles/0/0_0.jpeg",
        "/slides/SMITH",
    ):
        answer = client.get(path)
        assert answer.status_code == 404 and f"The slide {NOT_FOUND}" in answer.text, path

    service = NodeService(NodeConfig.model_validate({
        "node": {"name": NODE, "hub_url": "http://127.0.0.1:1"},
        "data": {"engine": "duckdb", "path": str(world.cdm)}}))  # fmt: skip
    routes = {
        context.path
        for route in create_portal_app(service).app.routes
        if hasattr(route, "effective_route_contexts")
        for context in route.effective_route_contexts()
        if context.path.startswith("/slides")
    }
    assert routes == SLIDE_ROUTES  # nothing else of a slide is served


def test_a_node_account_without_a_role_is_refused_in_words(world):
    client = client_sign_in(world.url, world.people["sam"])
    slide_id = next(iter(world.files))
    refusal = f"Only a custodian, TRE admin or output checker of {NODE} looks at its slides here."
    for path in (
        "/slides",
        "/slides.csv",
        f"/slides/{slide_id}",
        f"/slides/{slide_id}/dzi.json",
        f"/slides/{slide_id}/tiles/11/0_0.jpeg",
        f"/slides/{'SL' + '0' * 20}",
    ):
        answer = client.get(path)
        assert answer.status_code == 403 and refusal in answer.text, path
    anonymous = httpx.get(f"{world.url}/slides/{slide_id}/tiles/11/0_0.jpeg")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/sign-in")
