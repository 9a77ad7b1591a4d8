"""AI predictions on slides (``slides.predictions``, ``slides.demo_model``; issue 16, point 4):
the demo model finds the synthetic slides' planted tumour regions (Dice against the ground
truth's polygons, rasterised on its cell grid, for H&E and IHC slides alike); its output is
imported as a prediction of the node (GeoJSON and heatmap, with the model's name, version and
run time); bad GeoJSON and heatmaps are refused in words that never quote the file, and nothing
is kept of a refused import."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pytest
from PIL import Image, ImageDraw

from fivesafes.data.synth import generate
from fivesafes.protocol.errors import InvalidRequest
from fivesafes.slides.demo_model import MODEL, THRESHOLD, VERSION, predict
from fivesafes.slides.predictions import read_annotations, read_heatmap, record_prediction
from fivesafes.slides.reading import open_slide
from fivesafes.slides.synth import write_slides

RUN_AT = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("predictions")
    omop = root / "omop.duckdb"
    generate(omop, persons=1500, seed=3)
    report = write_slides(omop, root / "made", seed=4, persons_limit=6, width=2048, height=1536)
    regions = json.loads((report.truth / "tumour_regions.geojson").read_text())
    by_slide: dict[str, list] = {}
    for feature in regions["features"]:
        by_slide.setdefault(feature["properties"]["slide"], []).append(
            feature["geometry"]["coordinates"][0]
        )
    slides = sorted((root / "made" / "slides").glob("*.svs"))
    return {"root": root, "slides": slides, "truth": by_slide}


def dice(found: np.ndarray, planted: np.ndarray) -> float:
    both = np.logical_and(found, planted).sum()
    return 2 * both / max(1, found.sum() + planted.sum())


def test_the_demo_model_finds_the_planted_tumours(made):
    scores = []
    stains = set()
    for path in made["slides"]:
        slide = open_slide(path)
        prediction = predict(slide)
        rows, cols = prediction.scores.shape
        grid = Image.new("1", (cols, rows), 0)
        for ring in made["truth"][f"slides/{path.name}"]:
            ImageDraw.Draw(grid).polygon(
                [(x / prediction.scale, y / prediction.scale) for x, y in ring], fill=1
            )
        planted = np.asarray(grid, dtype=bool)
        scores.append(dice(prediction.scores >= THRESHOLD, planted))
        stains.add(path.stem.rsplit("_", 1)[-1])
        with Image.open(io.BytesIO(prediction.heatmap_png)) as heatmap:
            assert heatmap.size == (cols, rows) and heatmap.mode == "L"
        slide.close()
    assert len(stains) >= 2, "H&E and an IHC stain are both measured"
    print("Dice per slide:", [round(s, 3) for s in scores])
    assert min(scores) >= 0.8, scores


def test_a_prediction_is_imported_with_its_model(made, tmp_path):
    path = made["slides"][0]
    slide = open_slide(path)
    prediction = predict(slide)
    document = {"type": "FeatureCollection", "features": prediction.features}
    annotations = read_annotations(json.dumps(document).encode(), slide.info)
    heatmap = read_heatmap(prediction.heatmap_png, slide.info, prediction.scale)
    database = tmp_path / "node.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("CREATE TABLE pathology_slide (slide_id VARCHAR)")
        con.execute("INSERT INTO pathology_slide VALUES ('SL0001')")
        made_id = record_prediction(
            con, "SL0001", model=MODEL, version=VERSION, run_at=RUN_AT,
            annotations=annotations, heatmap=heatmap, now=RUN_AT,
        )  # fmt: skip
        row = con.execute(
            "SELECT slide_id, model, model_version, run_at, features, classes, heatmap,"
            " heatmap_scale FROM pathology_prediction"
        ).fetchone()
        with pytest.raises(InvalidRequest, match="imported already"):
            record_prediction(
                con, "SL0001", model=MODEL, version=VERSION, run_at=RUN_AT,
                annotations=annotations, heatmap=None, now=RUN_AT,
            )  # fmt: skip
        with pytest.raises(InvalidRequest, match="no registered slide"):
            record_prediction(
                con, "SL9999", model=MODEL, version=VERSION, run_at=RUN_AT,
                annotations=annotations, heatmap=None, now=RUN_AT,
            )  # fmt: skip
        assert con.execute("SELECT count(*) FROM pathology_prediction").fetchone()[0] == 1
    assert made_id.startswith("PR")
    assert row[:3] == ("SL0001", MODEL, VERSION) and row[5] == "Tumor" and row[6] is True
    assert row[4] == len(prediction.features) > 0
    assert row[7] == pytest.approx(prediction.scale)


def test_bad_geojson_and_heatmaps_are_refused_in_words(made):
    info = open_slide(made["slides"][0]).info
    secret = "PATIENT-SMITH-0042"

    def refused(document, match: str) -> str:
        data = document if isinstance(document, bytes) else json.dumps(document).encode()
        with pytest.raises(InvalidRequest, match=match) as caught:
            read_annotations(data, info)
        assert secret not in str(caught.value)
        return str(caught.value)

    square = [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]]

    def feature(coordinates=square, kind="Polygon", name="Tumor"):
        return {"type": "Feature", "geometry": {"type": kind, "coordinates": coordinates},
                "properties": {"classification": {"name": name}, "note": secret}}  # fmt: skip

    refused(b"[" * 100 + b"]" * 100, "deeper than 64")
    refused(b"{not json " + secret.encode(), "not valid JSON")
    refused({"type": "Feature"}, "FeatureCollection")
    far = [[[0, 0], [info.width * 2, 0], [0, 10], [0, 0]]]
    refused({"type": "FeatureCollection", "features": [feature(far)]}, "outside the slide")
    refused({"type": "FeatureCollection", "features": [feature(kind="LineString")]}, "Point")
    refused({"type": "FeatureCollection", "features": [feature(name=secret * 10)]}, "64")
    bad_number = [[[0, 0], [float("nan"), 0], [0, 10]]]
    refused(
        json.dumps({"type": "FeatureCollection", "features": [feature(bad_number)]}).encode(),
        "finite",
    )
    kept = read_annotations(
        json.dumps({"type": "FeatureCollection", "features": [feature()]}).encode(), info
    )
    assert kept.features[0]["properties"] == {"classification": {"name": "Tumor"}}  # no note
    wrong = io.BytesIO()
    Image.new("L", (100, 100)).save(wrong, format="PNG")  # square: the slide is 4:3
    with pytest.raises(InvalidRequest, match="aspect ratio"):
        read_heatmap(wrong.getvalue(), info)
    with pytest.raises(InvalidRequest, match="cannot be read"):
        read_heatmap(b"GIF89a" + secret.encode(), info)


def test_the_demo_slides_exist(made):
    assert made["slides"] and all(Path(p).stat().st_size > 0 for p in made["slides"])
