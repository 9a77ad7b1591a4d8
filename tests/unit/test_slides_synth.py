"""Synthetic whole-slide images (``fivesafes.slides.synth``; unit, except the last test, which
runs the real ``fivesafes synth slides`` command): each file opens in the reader its format
is for, every planted identifier is where the ground truth says, the planted tumours are
inside the slide and look different, and the same seed gives the same bytes.

Small slides (level 0 of 1024 x 768, three levels) for two persons: two to four slides.
"""

from __future__ import annotations

import csv
import ctypes.util
import json
import re
import shutil
from pathlib import Path

import numpy as np
import openslide
import pytest
import tifffile
from PIL import Image, ImageDraw

from federation import fs
from fivesafes.data.synth import concepts as c
from fivesafes.data.synth import generate
from fivesafes.imaging.deid.patterns import nhs_valid
from fivesafes.imaging.synth import hospital_number
from fivesafes.slides.synth import write_slides
from fivesafes.slides.synth_pixels import render_label
from fivesafes.slides.synth_plan import MAX_PERSONS, check_plan, plan_slides, read_persons

SIZE = {"width": 1024, "height": 768, "levels": 3}


def table(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def omop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cdm") / "omop.duckdb"
    generate(path, persons=1000, seed=1)  # 12 persons with a cancer condition
    return path


@pytest.fixture(scope="module")
def made(omop: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("slides")
    calls: list[tuple[int, int]] = []
    write_slides(omop, out, seed=3, persons_limit=2, progress=lambda *a: calls.append(a), **SIZE)
    total = len(table(out / "ground-truth" / "slides.csv")) - 1  # less the OME-TIFF copy
    assert calls == [(n, total) for n in range(1, total + 1)]
    return out


def svs_rows(out: Path) -> list[dict[str, str]]:
    return [r for r in table(out / "ground-truth" / "slides.csv") if r["format"] == "svs"]


def test_slides_are_made_for_persons_with_a_cancer_condition(omop: Path, made: Path) -> None:
    rows = table(made / "ground-truth" / "slides.csv")
    assert 2 <= len(svs_rows(made)) <= 4
    assert [r["format"] for r in rows].count("ome-tiff") == 1
    people = read_persons(omop, 2)
    assert {r["person_id"] for r in rows} == {str(p.person_id) for p in people}
    cancers = {c.MALIGNANT_NEOPLASTIC_DISEASE, c.LUNG_CANCER, c.NSCLC, c.SCLC}
    assert {p.condition_concept_id for p in people} <= cancers
    assert all(r["stain"] in ("H&E", "TTF-1", "PD-L1 22C3", "p40", "Ki-67") for r in rows)
    assert {r["stain"] for r in svs_rows(made) if r["slide"].endswith("_HE.svs")} == {"H&E"}


def test_each_svs_opens_in_openslide_as_aperio(made: Path) -> None:
    for row in svs_rows(made):
        slide = openslide.OpenSlide(made / row["slide"])
        assert slide.properties["openslide.vendor"] == "aperio"
        assert slide.level_count == int(row["levels"]) == 3
        assert slide.level_dimensions == ((1024, 768), (256, 192), (64, 48))
        assert slide.level_downsamples == pytest.approx((1.0, 4.0, 16.0))
        assert float(slide.properties["openslide.mpp-x"]) == pytest.approx(float(row["mpp"]))
        assert slide.properties["openslide.objective-power"] == row["app_mag"]
        assert row["app_mag"] in ("20", "40")
        assert set(slide.associated_images) >= {"label", "macro", "thumbnail"}
        assert slide.properties["aperio.Stain"] == row["stain"]
        assert slide.properties["aperio.ScanScope ID"].startswith("SS")
        assert {"aperio.Date", "aperio.Time"} <= set(slide.properties)


def test_the_label_is_the_rendered_text_and_ocr_reads_the_numbers(omop: Path, made: Path) -> None:
    plan = {
        s.name: s for s in plan_slides(read_persons(omop, 2), seed=3, **SIZE)
    }  # the same plan again: the same seed
    planted = table(made / "ground-truth" / "planted_identifiers.csv")
    pytesseract = pytest.importorskip("pytesseract")
    if shutil.which("tesseract") is None:
        pytest.fail("Tesseract is not installed (apt-get install tesseract-ocr)")
    for row in svs_rows(made):
        slide = openslide.OpenSlide(made / row["slide"])
        label = slide.associated_images["label"].convert("RGB")
        expected = render_label(plan[Path(row["slide"]).stem])
        assert np.array_equal(np.asarray(label), np.asarray(expected))  # LZW: lossless
        mine = {(p["where"], p["kind"]): p["value"] for p in planted if p["slide"] == row["slide"]}
        for where in ("label", "macro"):
            text = pytesseract.image_to_string(slide.associated_images[where].convert("L"))
            # OCR miscounts a run of zeros (and reads some as the letter O): the number after
            # SYN is compared as a number
            number = mine[(f"{where}_pixels", "hospital_number")]
            read = re.findall(r"SYN[0O]*([1-9][0-9]*)", text)
            assert int(number.removeprefix("SYN")) in {int(found) for found in read}
            assert mine[(f"{where}_pixels", "nhs_number")] in text


def test_planted_identifiers_are_in_the_metadata_as_recorded(made: Path) -> None:
    planted = table(made / "ground-truth" / "planted_identifiers.csv")
    kinds = {p["kind"] for p in planted}
    assert kinds == {"patient_name", "family_name", "hospital_number", "nhs_number"}
    for row in svs_rows(made):
        path = made / row["slide"]
        properties = openslide.OpenSlide(path).properties
        with tifffile.TiffFile(path) as tiff:
            label_description = next(
                page.description
                for page in tiff.pages
                if page.description.split("\r\n")[1].startswith("label ")
            )
        mine = [p for p in planted if p["slide"] == row["slide"]]
        wheres = {p["where"] for p in mine}
        assert wheres == {
            "label_pixels",
            "macro_pixels",
            "metadata:Filename",
            "metadata:Comment",
            "metadata:label_description",
        }
        raw = path.read_bytes()
        for mark in mine:
            if mark["kind"] == "nhs_number":
                assert nhs_valid(mark["value"].replace(" ", ""))
            if mark["kind"] == "hospital_number":
                assert mark["value"] == hospital_number(int(row["person_id"]))
            if mark["where"] == "metadata:label_description":
                assert mark["value"] in label_description
            elif mark["where"].startswith("metadata:"):
                assert mark["value"] in properties[f"aperio.{mark['where'].split(':')[1]}"]
                assert mark["value"].encode() in raw  # as a search of the file finds it


def test_tumour_regions_are_inside_the_slide_and_look_different(made: Path) -> None:
    regions = json.loads((made / "ground-truth" / "tumour_regions.geojson").read_text())
    assert regions["type"] == "FeatureCollection"
    for row in svs_rows(made):
        features = [f for f in regions["features"] if f["properties"]["slide"] == row["slide"]]
        assert len(features) == int(row["tumour_regions"]) and 1 <= len(features) <= 3
        slide = openslide.OpenSlide(made / row["slide"])
        w, h = slide.level_dimensions[1]
        pixels = np.asarray(slide.read_region((0, 0), 1, (w, h)).convert("RGB"), dtype=float)
        tumour = Image.new("L", (w, h), 0)
        for feature in features:
            assert feature["type"] == "Feature"
            assert feature["properties"]["classification"]["name"] == "Tumor"
            assert feature["geometry"]["type"] == "Polygon"
            ring = feature["geometry"]["coordinates"][0]
            assert ring[0] == ring[-1] and len(ring) >= 10
            assert all(0 <= x < 1024 and 0 <= y < 768 for x, y in ring)
            ImageDraw.Draw(tumour).polygon([(x / 4, y / 4) for x, y in ring], fill=1)
        inside = np.asarray(tumour, dtype=bool)
        glass = pixels.min(axis=2) > 225
        outside = ~inside & ~glass
        assert inside.sum() > 100 and outside.sum() > 1000
        tumour_colour, tissue_colour = pixels[inside].mean(axis=0), pixels[outside].mean(axis=0)
        assert np.linalg.norm(tumour_colour - tissue_colour) > 40, (tumour_colour, tissue_colour)
        assert tumour_colour.sum() < tissue_colour.sum() - 60  # darker


def test_the_same_seed_gives_the_same_bytes(omop: Path, made: Path, tmp_path: Path) -> None:
    write_slides(omop, tmp_path / "again", seed=3, persons_limit=2, **SIZE)
    first = {r["slide"]: r["sha256"] for r in table(made / "ground-truth" / "slides.csv")}
    again = {r["slide"]: r["sha256"] for r in table(tmp_path / "again/ground-truth/slides.csv")}
    assert first == again
    for name in ("planted_identifiers.csv", "tumour_regions.geojson"):
        assert (made / "ground-truth" / name).read_bytes() == (
            tmp_path / "again" / "ground-truth" / name
        ).read_bytes()
    write_slides(omop, tmp_path / "other", seed=4, persons_limit=2, **SIZE)
    other = {r["sha256"] for r in table(tmp_path / "other/ground-truth/slides.csv")}
    assert not other & set(first.values())


def test_the_ome_tiff_is_a_pyramid_with_the_same_level_0(made: Path) -> None:
    (row,) = [r for r in table(made / "ground-truth" / "slides.csv") if r["format"] == "ome-tiff"]
    assert row["slide"].endswith(".ome.tif") and row["copy_of"].endswith(".svs")
    with (
        tifffile.TiffFile(made / row["slide"]) as ome,
        tifffile.TiffFile(made / row["copy_of"]) as svs,
    ):
        assert ome.is_ome
        pyramid = ome.series[0]
        assert [level.shape for level in pyramid.levels] == [
            (768, 1024, 3),
            (192, 256, 3),
            (48, 64, 3),
        ]
        assert np.array_equal(pyramid.levels[0].asarray(), svs.pages[0].asarray())
        assert f'PhysicalSizeX="{float(row["mpp"])}"' in ome.ome_metadata
        assert ome.series[1].name == "label"
    assert openslide.OpenSlide(made / row["slide"]).level_count == 1  # generic-tiff: level 0


def test_the_dicom_copy_opens_with_wsidicom(omop: Path, tmp_path: Path) -> None:
    if ctypes.util.find_library("turbojpeg") is None:  # installed by the project's own scripts
        pytest.fail("wsidicomizer needs libturbojpeg: run bash scripts/imaging.sh")
    from wsidicom import WsiDicom

    write_slides(omop, tmp_path, seed=3, persons_limit=1, dicom=True, **SIZE)
    rows = table(tmp_path / "ground-truth" / "slides.csv")
    copies = [r for r in rows if r["format"] == "dicom"]
    assert copies and len(copies) == len([r for r in rows if r["format"] == "svs"])
    planted = table(tmp_path / "ground-truth" / "planted_identifiers.csv")
    for row in copies:
        assert row["copy_of"] == f"slides/{Path(row['slide']).name}.svs"
        with WsiDicom.open(tmp_path / row["slide"]) as wsi:
            assert [(level.size.width, level.size.height) for level in wsi.levels] == [
                (1024, 768),
                (256, 192),
                (64, 48),
            ]
            assert wsi.levels[0].mpp.width == pytest.approx(float(row["mpp"]))
            assert wsi.labels and wsi.overviews  # kept by default: the planted pixels
            label = np.asarray(wsi.read_label().convert("RGB"), dtype=float)
            original = openslide.OpenSlide(tmp_path / row["copy_of"]).associated_images["label"]
            assert np.abs(label - np.asarray(original.convert("RGB"))).mean() < 3
        wheres = {p["where"] for p in planted if p["slide"] == row["slide"]}
        assert wheres == {"label_pixels", "macro_pixels"}


@pytest.mark.parametrize(
    ("limit", "width", "height", "levels", "message"),
    [
        (0, 1024, 768, 3, f"persons_limit must be between 1 and {MAX_PERSONS:,}, got 0"),
        (MAX_PERSONS + 1, 1024, 768, 3, "persons_limit must be between 1"),
        (1, 100, 768, 3, "the slide's width must be between 256 and 16,384 pixels, got 100"),
        (1, 1024, 99_999, 3, "the slide's height must be between"),
        (1, 1024, 768, 4, "a 1024 x 768 slide has room for 1 to 3 levels"),
        (1, 1024, 768, 0, "a 1024 x 768 slide has room for 1 to 3 levels"),
    ],
)
def test_bounds_are_refused_in_words(limit, width, height, levels, message) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        check_plan(limit, width, height, levels)


def test_a_cdm_without_cancer_is_refused_in_words(omop: Path, tmp_path: Path) -> None:
    import duckdb

    copy = tmp_path / "no-cancer.duckdb"
    shutil.copy(omop, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute(
            "DELETE FROM condition_occurrence WHERE condition_concept_id IN (?, ?, ?, ?)",
            [c.MALIGNANT_NEOPLASTIC_DISEASE, c.LUNG_CANCER, c.NSCLC, c.SCLC],
        )
    with pytest.raises(ValueError, match="no person with a condition under Malignant"):
        write_slides(copy, tmp_path / "out", **SIZE)
    assert not (tmp_path / "out").exists()


def test_the_command_writes_slides_and_refuses_a_folder_not_empty(
    omop: Path, tmp_path: Path
) -> None:
    out = tmp_path / "made"
    made = fs("synth", "slides", "--omop", str(omop), "--out", str(out), "--persons-limit", "1")
    assert "slides/s" in made.stdout
    rows = table(out / "ground-truth" / "slides.csv")
    for row in (r for r in rows if r["format"] == "svs"):
        slide = openslide.OpenSlide(out / row["slide"])
        assert slide.properties["openslide.vendor"] == "aperio"
        assert slide.dimensions == (4096, 3072) and slide.level_count == 3
    again = fs("synth", "slides", "--omop", str(omop), "--out", str(out), check=False)
    assert again.returncode == 1 and "not empty" in again.stdout + again.stderr
    bad = fs(
        "synth", "slides", "--omop", str(omop), "--out", str(tmp_path / "x"),
        "--persons-limit", "0", check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "--persons-limit" in bad.stdout + bad.stderr
    assert "Traceback" not in again.stderr + bad.stderr
