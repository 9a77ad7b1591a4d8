"""The AI predictions drawn over the slide viewer (``slides.overlays``, the routes in
``pathology.portal.routes``; issue 16, point 3): read back from the node's DuckDB file as they
were imported (no tables yet: none; a prediction only under its own slide), and served with
the slides' order of checks (who may look first, then whether the slide and the prediction
exist: one "does not exist or you do not have permission" answer, never echoing what was
asked), ``Cache-Control: private`` and nosniff, under whatever prefix the site is mounted at.
A served tile (200 or 304) is told to the site's ``on_tile``."""

from __future__ import annotations

import io
import json
import math
import zlib
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.testclient import TestClient
from PIL import Image

from fivesafes.pathology.portal.routes import slides_router
from fivesafes.pathology.portal.site import SlidesSite
from fivesafes.protocol.errors import FivesafesError, Forbidden, ServiceUnavailable
from fivesafes.slides.catalogue import SlideFacts
from fivesafes.slides.overlays import DuckDBOverlays, NoOverlays, PredictionFacts
from fivesafes.slides.predictions import Annotations, Heatmap, record_prediction
from fivesafes.slides.tile_cache import SlideTiles
from slides_data import write_pyramid

SLIDE, OTHER = "SL" + "A" * 20, "SL" + "B" * 20
RUN_AT = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
NOT_FOUND = "does not exist or you do not have permission to see it"
SENTINEL = "ZZSENTINEL"


def square(x: float, y: float, side: float, name: str = "Tumor", score: float | None = None):
    ring = [[x, y], [x + side, y], [x + side, y + side], [x, y + side], [x, y]]
    properties: dict[str, Any] = {"classification": {"name": name}}
    if score is not None:
        properties["score"] = score
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": properties}  # fmt: skip


def annotations(features: list[dict[str, Any]]) -> Annotations:
    return Annotations(
        features, Counter(f["properties"]["classification"]["name"] for f in features)
    )


def heatmap(width: int = 32, height: int = 24) -> Heatmap:
    out = io.BytesIO()
    Image.new("L", (width, height), 200).save(out, format="PNG")
    return Heatmap(out.getvalue(), width, height, 1024 / width)


@pytest.fixture
def node(tmp_path) -> dict[str, Any]:
    """A node's data file: two registered slides; SLIDE with two predictions (annotations and a
    heatmap; a heatmap alone), OTHER with one (annotations alone)."""
    path = tmp_path / "node.duckdb"
    features = [square(10, 10, 50, score=0.9), square(200, 100, 20, "Stroma"),
                {"type": "Feature", "geometry": {"type": "Point", "coordinates": [5.5, 6.5]},
                 "properties": {"classification": {"name": "Immune cells"}}}]  # fmt: skip
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE pathology_slide (slide_id VARCHAR)")
        con.execute("INSERT INTO pathology_slide VALUES (?), (?)", [SLIDE, OTHER])
        both = record_prediction(
            con, SLIDE, model="tumour-finder", version="2.1", run_at=RUN_AT,
            annotations=annotations(features), heatmap=heatmap(), now=RUN_AT,
        )  # fmt: skip
        heat_only = record_prediction(
            con, SLIDE, model="heat-only", version="1", run_at=datetime(2026, 1, 1, tzinfo=UTC),
            annotations=None, heatmap=heatmap(), now=RUN_AT,
        )  # fmt: skip
        shapes_only = record_prediction(
            con, OTHER, model="tumour-finder", version="2.1", run_at=RUN_AT,
            annotations=annotations([square(1, 1, 5)]), heatmap=None, now=RUN_AT,
        )  # fmt: skip
    return {"path": path, "both": both, "heat_only": heat_only, "shapes_only": shapes_only,
            "features": features}  # fmt: skip


def test_a_node_without_predictions_has_none_to_show(tmp_path):
    for source in (NoOverlays(), DuckDBOverlays(tmp_path / "absent.duckdb")):
        assert source.predictions(SLIDE) == []
        assert source.annotations(SLIDE, "PR" + "0" * 20) is None
        assert source.heatmap(SLIDE, "PR" + "0" * 20) is None
    path = tmp_path / "slides-only.duckdb"  # slides registered, no prediction imported yet
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE pathology_slide (slide_id VARCHAR)")
    source = DuckDBOverlays(path)
    assert source.predictions(SLIDE) == []
    assert source.annotations(SLIDE, "PR" + "0" * 20) is None


def test_predictions_are_read_back_as_imported(node):
    source = DuckDBOverlays(node["path"])
    listed = source.predictions(SLIDE)
    assert [p.prediction_id for p in listed] == [node["both"], node["heat_only"]]  # newest first
    first = listed[0]
    assert first == PredictionFacts(
        prediction_id=node["both"], model="tumour-finder", version="2.1",
        run_at=RUN_AT.replace(tzinfo=None), features=3,
        classes=("Immune cells", "Stroma", "Tumor"), heatmap=True, heatmap_scale=32.0,
    )  # fmt: skip
    assert listed[1].features == 0 and listed[1].classes == () and listed[1].heatmap
    document = json.loads(source.annotations(SLIDE, node["both"]) or b"")
    assert document == {"type": "FeatureCollection", "features": node["features"]}
    png = source.heatmap(SLIDE, node["both"]) or b""
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == (32, 24) and image.mode == "L" and image.getpixel((3, 3)) == 200
    assert source.annotations(SLIDE, node["heat_only"]) is None  # a heatmap alone
    assert source.heatmap(OTHER, node["shapes_only"]) is None  # annotations alone


def test_a_prediction_is_found_only_under_its_own_slide(node):
    source = DuckDBOverlays(node["path"])
    assert source.annotations(OTHER, node["both"]) is None
    assert source.heatmap(OTHER, node["both"]) is None
    assert source.annotations(SLIDE, node["shapes_only"]) is None
    assert [p.prediction_id for p in source.predictions(OTHER)] == [node["shapes_only"]]
    for slide_id, prediction_id in ((SLIDE, node["both"].lower()), ("SMITH", node["both"]),
                                    (SLIDE, "PR' OR 1=1 --"), (SLIDE, "")):  # fmt: skip
        assert source.annotations(slide_id, prediction_id) is None
        assert source.heatmap(slide_id, prediction_id) is None
    assert source.predictions("SMITH") == []


def test_a_data_file_that_cannot_be_read_is_unavailable_in_words(tmp_path):
    path = tmp_path / "damaged.duckdb"
    path.write_bytes(b"not a duckdb file" * 100)
    with pytest.raises(ServiceUnavailable, match="cannot be read just now") as caught:
        DuckDBOverlays(path).predictions(SLIDE)
    assert str(path) not in str(caught.value)


# ---- the routes ----------------------------------------------------------------------------


class Catalogue:
    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def slides(self) -> list[SlideFacts]:
        return [f for s in sorted(self.files) if (f := self.slide(s))]

    def slide(self, slide_id: str) -> SlideFacts | None:
        if slide_id not in self.files:
            return None
        return SlideFacts(slide_id, "H&E", "generic-tiff", 1024, 768, 2, 0.5, 0.5, None,
                          "linked", None)  # fmt: skip

    def file_of(self, slide_id: str) -> Path | None:
        return self.files.get(slide_id)


def app_for(node: dict[str, Any], tmp_path: Path, prefix: str = "/slides", **site: Any):
    """The slides' router alone, as a service mounts it: the signed-in person named by a
    header; only otto may look; pages answered with their context as JSON."""
    files = {SLIDE: write_pyramid(tmp_path / "a.tiff", 1),
             OTHER: write_pyramid(tmp_path / "b.tiff", 2)}  # fmt: skip

    async def signed_in(request: Request) -> str:
        return request.headers.get("x-who", "otto")

    def check_view(web: Any) -> None:
        if web != "otto":
            raise Forbidden("Only otto looks at slides here.")

    def page(request: Request, web: Any, template: str, **context: Any) -> Response:
        shown = {k: v for k, v in context.items() if isinstance(v, str)}
        return JSONResponse({"template": template, **shown})

    catalogue = Catalogue(files)
    defaults: dict[str, Any] = {"overlays": DuckDBOverlays(node["path"]), "prefix": prefix}
    built = SlidesSite(
        signed_in=signed_in, check_view=check_view, catalogue=catalogue,
        tiles=SlideTiles(catalogue.file_of), page=page, **{**defaults, **site},
    )  # fmt: skip
    app = FastAPI()

    @app.exception_handler(FivesafesError)
    async def _ours(_request: Request, exc: FivesafesError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)  # the node portal's boundary

    app.include_router(slides_router(built))
    return TestClient(app)


def test_the_predictions_are_listed_with_where_their_data_is(node, tmp_path):
    client = app_for(node, tmp_path)
    answer = client.get(f"/slides/{SLIDE}/predictions.json")
    assert answer.status_code == 200
    assert answer.headers["cache-control"].startswith("private")
    assert answer.headers["x-content-type-options"] == "nosniff"
    body = answer.json()
    assert body["slide"] == {"id": SLIDE, "width": 1024, "height": 768}
    first, second = body["predictions"]
    here = f"/slides/{SLIDE}/predictions/{node['both']}"
    assert first == {
        "id": node["both"], "model": "tumour-finder", "version": "2.1",
        "run_at": "2026-12-06T09:30:00+00:00", "features": 3,
        "classes": ["Immune cells", "Stroma", "Tumor"], "heatmap": True, "heatmap_scale": 32.0,
        "annotations_url": f"{here}/annotations.json", "heatmap_url": f"{here}/heatmap.png",
    }  # fmt: skip
    assert second["id"] == node["heat_only"] and second["annotations_url"] is None

    shapes = client.get(first["annotations_url"])
    assert shapes.status_code == 200 and shapes.headers["content-type"] == "application/geo+json"
    assert shapes.headers["cache-control"].startswith("private")
    assert shapes.headers["x-content-type-options"] == "nosniff"
    assert shapes.json()["features"] == node["features"]
    heat = client.get(first["heatmap_url"])
    assert heat.status_code == 200 and heat.headers["content-type"] == "image/png"
    assert heat.headers["cache-control"].startswith("private")
    assert heat.headers["x-content-type-options"] == "nosniff"
    assert heat.content.startswith(b"\x89PNG\r\n\x1a\n")


def test_no_predictions_is_an_empty_list(node, tmp_path):
    client = app_for(node, tmp_path, overlays=NoOverlays())
    answer = client.get(f"/slides/{SLIDE}/predictions.json")
    assert answer.status_code == 200 and answer.json()["predictions"] == []
    assert client.get(f"/slides/{SLIDE}/predictions/{node['both']}/heatmap.png").status_code == 404


@pytest.mark.parametrize(
    ("path", "what"),
    [
        (f"/slides/{'SL' + '0' * 20}/predictions.json", "slide"),
        (f"/slides/SMITH{SENTINEL}/predictions.json", "slide"),
        (f"/slides/{'SL' + '0' * 20}/predictions/{{both}}/annotations.json", "slide"),
        (f"/slides/{OTHER}/predictions/{{both}}/annotations.json", "prediction"),  # not its own
        (f"/slides/{OTHER}/predictions/{{both}}/heatmap.png", "prediction"),
        (f"/slides/{SLIDE}/predictions/{{shapes_only}}/annotations.json", "prediction"),
        (f"/slides/{SLIDE}/predictions/{{heat_only}}/annotations.json", "prediction"),
        (f"/slides/{OTHER}/predictions/{{shapes_only}}/heatmap.png", "prediction"),
        (f"/slides/{SLIDE}/predictions/PR{SENTINEL}/heatmap.png", "prediction"),
        (f"/slides/{SLIDE}/predictions/{{lower}}/heatmap.png", "prediction"),
        (f"/slides/{SLIDE}/predictions/{'PR' + '0' * 20}/annotations.json", "prediction"),
    ],
)
def test_what_does_not_exist_is_one_answer(node, tmp_path, path, what):
    client = app_for(node, tmp_path)
    path = path.format(both=node["both"], shapes_only=node["shapes_only"],
                       heat_only=node["heat_only"], lower=node["both"].lower())  # fmt: skip
    answer = client.get(path)
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert (error["code"], error["message"]) == ("not_found", f"The {what} {NOT_FOUND}.")
    assert SENTINEL not in answer.text and "Traceback" not in answer.text


def test_who_may_look_is_asked_first(node, tmp_path):
    client = app_for(node, tmp_path)
    for path in (
        f"/slides/{SLIDE}/predictions.json",
        f"/slides/{SLIDE}/predictions/{node['both']}/annotations.json",
        f"/slides/{SLIDE}/predictions/{node['both']}/heatmap.png",
        f"/slides/{'SL' + '0' * 20}/predictions.json",  # a slide no one has: refused, not 404
        f"/slides/{OTHER}/predictions/{'PR' + '0' * 20}/heatmap.png",
    ):
        answer = client.get(path, headers={"x-who": "sam"})
        assert answer.status_code == 403, path
        assert answer.json()["error"]["message"] == "Only otto looks at slides here."


def test_every_url_is_under_the_sites_prefix(node, tmp_path):
    client = app_for(node, tmp_path, prefix="/review/slides")
    assert client.get(f"/slides/{SLIDE}").status_code == 404
    viewer = client.get(f"/review/slides/{SLIDE}").json()
    assert viewer["template"] == "slides/viewer.html" and viewer["base"] == "/review/slides"
    assert viewer["dzi"] == f"/review/slides/{SLIDE}/dzi.json"
    assert viewer["predictions"] == f"/review/slides/{SLIDE}/predictions.json"
    listing = client.get("/review/slides").json()
    assert listing["template"] == "slides/list.html" and listing["base"] == "/review/slides"
    assert client.get("/review/slides.csv").text.startswith("slide_id,stain,format")
    dzi = client.get(f"/review/slides/{SLIDE}/dzi.json").json()
    assert dzi["Image"]["Url"] == f"/review/slides/{SLIDE}/tiles/"
    listed = client.get(f"/review/slides/{SLIDE}/predictions.json").json()["predictions"]
    assert listed[0]["heatmap_url"].startswith(f"/review/slides/{SLIDE}/predictions/PR")
    assert client.get(listed[0]["heatmap_url"]).status_code == 200
    assert client.get(f"/review/slides/{SLIDE}/tiles/0/0_0.jpeg").status_code == 200


def test_each_tile_served_is_told_to_the_site(node, tmp_path):
    seen: list[tuple[Any, ...]] = []
    client = app_for(node, tmp_path, on_tile=lambda *args: seen.append(args))
    top = math.ceil(math.log2(1024))  # the DeepZoom level of the slide's level 0
    first = client.get(f"/slides/{SLIDE}/tiles/{top}/1_2.jpeg")
    assert first.status_code == 200
    again = client.get(f"/slides/{SLIDE}/tiles/{top}/1_2.jpeg",
                       headers={"If-None-Match": first.headers["etag"]})  # fmt: skip
    assert again.status_code == 304
    assert seen == [("otto", SLIDE, top, 1, 2), ("otto", SLIDE, top, 1, 2)]
    assert client.get(f"/slides/{SLIDE}/tiles/{top}/99_0.jpeg").status_code == 404
    refused = client.get(f"/slides/{SLIDE}/tiles/{top}/0_0.jpeg", headers={"x-who": "sam"})
    assert refused.status_code == 403
    assert len(seen) == 2  # nothing told of a tile not served


def test_the_stored_geojson_is_served_as_it_was_kept(node, tmp_path):
    with duckdb.connect(str(node["path"]), read_only=True) as con:
        stored = con.execute(
            "SELECT geojson FROM pathology_prediction_data WHERE prediction_id = ?", [node["both"]]
        ).fetchone()[0]
    client = app_for(node, tmp_path)
    served = client.get(f"/slides/{SLIDE}/predictions/{node['both']}/annotations.json")
    assert served.content == zlib.decompress(stored)
