"""Every slide format the node reads, opened and tiled (issue 16; ``slides.reading``,
``slides.tiles``, ``slides.register``): one synthetic slide (``slides.synth``, level 0 of
1024 x 768, three levels downsampled by 4) written as

| format (as ``reading`` names it) | file | reference reader |
| --- | --- | --- |
| ``aperio`` | Aperio SVS | OpenSlide |
| ``generic-tiff`` | a tiled TIFF of the SVS's levels, made here, a name in its text | OpenSlide |
| ``ome-tiff`` | OME-TIFF | tifffile |
| ``hamamatsu`` | Hamamatsu NDPI (``slides.synth_ndpi``) | OpenSlide |
| ``dicom`` | DICOM-WSI (wsidicomizer; needs Debian's libturbojpeg0) | wsidicom |

For each: the facts ``reading`` gives (format, size, stored levels, microns per pixel,
objective power); a tile of every DeepZoom level, against the reference reader's own level-0
pixels of that tile's region shrunk to the tile's size (box filter), and against the Aperio
file's tile of the same place (the same synthetic pixels, stored apart); which levels are
passed through (the Aperio file's stored levels only; a whole tile the file's own scan data,
an edge tile made again); and no planted identifier (the ground truth's, and the generic
TIFF's description) in any tile, descriptor or register row.

Tolerances, as the mean absolute difference per channel (JPEG: quality 80 in the files, 85 in
the tiles; a tile off by one tile's place is about 36 from its reference):

| tile | against its reader's level 0 | against the Aperio tile |
| --- | --- | --- |
| full resolution (DeepZoom's last level) | 3 | 3 |
| 48 pixels a side or more | 6 (Lanczos from a stored level, against a box filter) | 8 |
| smaller (1 x 1 to 32 x 24: each pixel the mean of hundreds) | 12 | 8 |

The NDPI's tiles differ most from the Aperio's on the small levels (up to 6), because OpenSlide
makes its levels between the stored ones by decoding a JPEG at 1/2, 1/4 or 1/8 of its size.

The NDPI is also read by tifffile (its NDPI mode: 64-bit offsets, MCU starts as tiles) and by
opentile's NDPI tiler, and their pixels are OpenSlide's.
"""

from __future__ import annotations

import csv
import ctypes.util
import io
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import openslide
import pytest
import tifffile
from opentile import OpenTile
from PIL import Image

from fivesafes.data.synth import generate
from fivesafes.imaging.synth import link_persons
from fivesafes.node.pseudonyms import pseudonym
from fivesafes.slides.reading import open_slide
from fivesafes.slides.register import RegisterReport, read_map, read_slides, write_slides
from fivesafes.slides.synth import write_slides as synthesise
from fivesafes.slides.synth_pixels import render_label
from fivesafes.slides.synth_plan import plan_slides, read_persons
from fivesafes.slides.tiles import TILE_SIZE, DeepZoom

KEY = bytes(range(32))
SIZE = {"width": 1024, "height": 768, "levels": 3}
STORED = [(1024, 768), (256, 192), (64, 48)]
GENERIC_DESCRIPTION = "Patient {name} MRN {hospital} scanned for the generic TIFF"


def table(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@dataclass(frozen=True)
class Made:
    omop: Path
    out: Path
    files: dict[str, Path]  # by format, as reading names it
    row: dict[str, str]  # the SVS's row of slides.csv
    planted: frozenset[str]  # every identifier planted in any of the files


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    if ctypes.util.find_library("turbojpeg") is None:
        pytest.fail(
            "The DICOM-WSI copy needs Debian's libturbojpeg0 (wsidicomizer): run "
            "bash scripts/imaging.sh, or apt-get install libturbojpeg0."
        )
    root = tmp_path_factory.mktemp("formats")
    omop = root / "omop.duckdb"
    generate(omop, persons=1000, seed=1)
    link_persons(omop, lambda value: pseudonym(value, KEY))
    out = root / "made"
    synthesise(omop, out, seed=3, persons_limit=1, ndpi=True, dicom=True, **SIZE)
    rows = table(out / "ground-truth" / "slides.csv")
    svs = next(r for r in rows if r["format"] == "svs")
    stem = Path(svs["slide"]).stem
    by_form = {r["format"]: out / r["slide"] for r in rows if Path(r["slide"]).stem in
               (stem, f"{stem}.ome")}  # fmt: skip
    planted = table(out / "ground-truth" / "planted_identifiers.csv")
    values = {p["kind"]: p["value"] for p in planted if p["slide"] == svs["slide"]}
    generic = out / "slides" / f"{stem}.tif"
    description = GENERIC_DESCRIPTION.format(
        name=values["patient_name"], hospital=values["hospital_number"]
    )
    write_generic_tiff(by_form["svs"], generic, description, float(svs["mpp"]))
    files = {
        "aperio": by_form["svs"],
        "generic-tiff": generic,
        "ome-tiff": by_form["ome-tiff"],
        "hamamatsu": by_form["ndpi"],
        "dicom": by_form["dicom"],
    }
    everything = {p["value"] for p in planted} | {description}
    return Made(omop, out, files, svs, frozenset(everything))


def write_generic_tiff(svs: Path, path: Path, description: str, mpp: float) -> None:
    """The SVS's tiled levels (not its thumbnail, label or macro) as a plain tiled TIFF, which
    OpenSlide reads as ``generic-tiff``, with identifiers in its description."""
    with tifffile.TiffFile(svs) as source, tifffile.TiffWriter(path) as tiff:
        levels = [page for page in source.pages if page.is_tiled]
        for n, page in enumerate(levels):
            scale = 1e4 / (mpp * STORED[0][0] / page.imagewidth)
            tiff.write(
                page.asarray(), tile=(256, 256), compression="jpeg", photometric="rgb",
                subfiletype=0 if n == 0 else 1, resolution=(scale, scale),
                resolutionunit="CENTIMETER", description=description if n == 0 else None,
                metadata=None,
            )  # fmt: skip


# ---- the reference readers: level 0's pixels, read by each format's own library ----------


def reference_level0(form: str, path: Path) -> np.ndarray:
    if form == "ome-tiff":
        with tifffile.TiffFile(path) as tiff:
            return np.asarray(tiff.series[0].levels[0].asarray())[..., :3]
    if form == "dicom":
        from wsidicom import WsiDicom

        with WsiDicom.open(path) as wsi:
            size = (wsi.levels[0].size.width, wsi.levels[0].size.height)
            return np.asarray(wsi.read_region((0, 0), 0, size).convert("RGB"))
    slide = openslide.OpenSlide(path)
    try:
        return np.asarray(slide.read_region((0, 0), 0, slide.dimensions).convert("RGB"))
    finally:
        slide.close()


def expected_tile(level0: np.ndarray, downsample: float, col: int, row: int,
                  size: tuple[int, int]) -> np.ndarray:  # fmt: skip
    """The tile's region of level 0, shrunk to the tile's size with a box filter."""
    step = round(TILE_SIZE * downsample)
    region = level0[row * step : (row + 1) * step, col * step : (col + 1) * step]
    return np.asarray(Image.fromarray(region).resize(size, Image.Resampling.BOX), dtype=float)


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=float)


def corner_tiles(deepzoom: DeepZoom) -> list[tuple[int, int, int]]:
    """(level, column, row) of a tile of every DeepZoom level: the last one (the image's
    bottom right corner, cut to the edge), and on levels of more than one tile the first."""
    found = []
    for level in range(deepzoom.level_count):
        cols, rows = deepzoom.level_tiles(level)
        found.append((level, cols - 1, rows - 1))
        if cols * rows > 1:
            found.append((level, 0, 0))
    return found


FORMATS = ("aperio", "generic-tiff", "ome-tiff", "hamamatsu", "dicom")
OBJECTIVE = {"aperio": True, "hamamatsu": True}  # the formats that state the objective power


@pytest.mark.parametrize("form", FORMATS)
def test_each_format_opens_with_its_facts(made: Made, form: str) -> None:
    slide = open_slide(made.files[form])
    try:
        info = slide.info
    finally:
        slide.close()
    assert info.format == form
    assert (info.width, info.height) == STORED[0]
    sizes = [(level.width, level.height) for level in info.levels]
    assert set(STORED) <= set(sizes), sizes  # the NDPI's OpenSlide adds levels between them
    assert sizes == sorted(sizes, reverse=True)
    assert info.mpp_x == pytest.approx(float(made.row["mpp"]), rel=1e-3)
    assert info.mpp_y == pytest.approx(float(made.row["mpp"]), rel=1e-3)
    power = float(made.row["app_mag"]) if OBJECTIVE.get(form) else None
    assert info.objective_power == power


@pytest.mark.parametrize("form", FORMATS)
def test_a_tile_of_every_deepzoom_level_is_the_readers_pixels(made: Made, form: str) -> None:
    level0 = reference_level0(form, made.files[form])
    assert level0.shape == (*STORED[0][::-1], 3)
    deepzoom = DeepZoom.open(made.files[form])
    aperio = DeepZoom.open(made.files["aperio"])
    try:
        assert deepzoom.level_count == 11  # 1 x 1 up to 1024 x 768
        for level, col, row in corner_tiles(deepzoom):
            tile = decoded(deepzoom.tile(level, col, row))
            height, width = tile.shape[:2]
            downsample = deepzoom.downsamples[level]
            want = expected_tile(level0, downsample, col, row, (width, height))
            other = decoded(aperio.tile(level, col, row))
            found = (float(np.abs(tile - want).mean()), float(np.abs(tile - other).mean()))
            allowed = tolerances(downsample, width, height)
            assert found[0] <= allowed[0] and found[1] <= allowed[1], (
                f"{form} level {level} tile {col},{row} ({width} x {height}): {found[0]:.2f}"
                f" from its reader, {found[1]:.2f} from the Aperio tile"
            )
    finally:
        deepzoom.close()
        aperio.close()


def tolerances(downsample: float, width: int, height: int) -> tuple[float, float]:
    """The mean absolute differences allowed against the reader and the Aperio tile."""
    if downsample == 1:
        return 3.0, 3.0
    return (6.0, 8.0) if min(width, height) >= 48 else (12.0, 8.0)


@pytest.mark.parametrize("form", FORMATS)
def test_only_aperio_passes_the_files_own_tiles_through(made: Made, form: str) -> None:
    deepzoom = DeepZoom.open(made.files[form])
    try:
        through = {n for n in range(deepzoom.level_count) if deepzoom.passthrough(n)}
        if form != "aperio":
            assert not through
            return
        assert through == {10, 8, 6}  # 1024 x 768, 256 x 192, 64 x 48: the stored levels
        with tifffile.TiffFile(made.files[form]) as tiff, made.files[form].open("rb") as raw:
            levels = [page for page in tiff.pages if page.is_tiled]
            for level, page, col, row in ((10, 0, 0, 0), (10, 0, 3, 2), (8, 1, 0, 0)):
                index = row * -(-levels[page].imagewidth // TILE_SIZE) + col
                raw.seek(levels[page].dataoffsets[index])
                stored = scan_data(raw.read(levels[page].databytecounts[index]))
                served = scan_data(deepzoom.tile(level, col, row))
                # a whole tile is the file's own; 256 x 192 is cut from a stored 256 x 256
                assert (served == stored) == (level == 10)
    finally:
        deepzoom.close()


def scan_data(jpeg: bytes) -> bytes:
    """A JPEG's entropy-coded data: from its scan header's end to EOI (whatever tables the
    stream carries before it)."""
    at = 2
    while True:
        marker = jpeg[at + 1]
        at += 2 + int.from_bytes(jpeg[at + 2 : at + 4], "big")
        if marker == 0xDA:
            return jpeg[at : jpeg.rindex(b"\xff\xd9")]


def test_no_planted_identifier_reaches_a_tile_a_descriptor_or_the_register(
    made: Made, tmp_path: Path
) -> None:
    words = sorted(made.planted)
    assert len(words) >= 7  # name, family name, hospital and NHS numbers, serial, date, text
    for form in FORMATS:
        deepzoom = DeepZoom.open(made.files[form])
        try:
            shown = [repr(deepzoom.info), deepzoom.descriptor().as_xml(),
                     str(deepzoom.descriptor().as_json("tiles/"))]  # fmt: skip
            tiles = [deepzoom.tile(*place) for place in corner_tiles(deepzoom)]
        finally:
            deepzoom.close()
        for word in words:
            assert not any(word in text for text in shown), (form, word)
            assert not any(word.encode() in tile for tile in tiles), (form, word)
    cdm = tmp_path / "omop.duckdb"
    cdm.write_bytes(made.omop.read_bytes())
    report = RegisterReport()
    specimen_map = read_map(made.out / "ground-truth" / "specimen_map.csv")
    sources = [made.out / "slides", made.out / "dicom"]
    slides = read_slides(sources, KEY, specimen_map, report)
    with duckdb.connect(str(cdm)) as con:
        write_slides(con, slides, lambda p: pseudonym(p, KEY), report)
        kinds = con.execute("SELECT format, link FROM pathology_slide").fetchall()
        rows = con.execute("SELECT * FROM pathology_slide").fetchall()
    assert not report.refused
    assert sorted(form for form, _ in kinds) == sorted(FORMATS)
    linked = {form for form, link in kinds if link == "linked"}
    assert linked == set(FORMATS) - {"generic-tiff", "dicom"}  # the map names SVS, OME, NDPI
    for word in words:
        assert not any(word in str(row) for row in rows), word


def test_the_ndpi_is_read_alike_by_openslide_tifffile_and_opentile(made: Made) -> None:
    path = made.files["hamamatsu"]
    assert openslide.OpenSlide.detect_format(str(path)) == "hamamatsu"
    slide = openslide.OpenSlide(path)
    try:
        assert set(slide.associated_images) == {"macro"}  # the macro is there, never a level
        assert slide.associated_images["macro"].size not in slide.level_dimensions
        pixels = np.asarray(slide.read_region((0, 0), 0, slide.dimensions).convert("RGB"))
    finally:
        slide.close()
    with tifffile.TiffFile(path) as tiff:
        assert tiff.is_ndpi and tiff.series[0].kind == "ndpi"
        assert [page.shape[:2] for page in tiff.series[0].levels] == [s[::-1] for s in STORED]
        assert tiff.pages[0].tilelength == 8 and tiff.pages[0].tilewidth == 256  # MCU starts
        by_tifffile = tiff.pages[0].asarray().astype(float)
    assert np.abs(by_tifffile - pixels).mean() < 0.1
    tiler = OpenTile.open(path, TILE_SIZE)
    try:
        tile = decoded(tiler.levels[0].get_tile((1, 1)))
    finally:
        tiler.close()
    assert np.abs(tile - pixels[256:512, 256:512]).mean() < 0.1


def test_the_ndpis_planted_identifiers_are_where_the_ground_truth_says(made: Made) -> None:
    path = made.files["hamamatsu"]
    name = path.relative_to(made.out).as_posix()
    planted = [p for p in table(made.out / "ground-truth" / "planted_identifiers.csv")
               if p["slide"] == name]  # fmt: skip
    slide = openslide.OpenSlide(path)
    try:
        properties = dict(slide.properties)
        macro = slide.associated_images["macro"].convert("RGB")
    finally:
        slide.close()
    with tifffile.TiffFile(path) as tiff:
        serial = tiff.pages[0].tags[65442].value
    places = {
        "metadata:Reference": properties["hamamatsu.Reference"],
        "metadata:property_map": properties["hamamatsu.Comment"],
        "metadata:ScannerSerialNumber": serial,
        "metadata:DateTime": properties["tiff.DateTime"],
    }
    wheres = {p["where"] for p in planted}
    assert wheres == {*places, "macro_pixels"}
    for mark in planted:
        if mark["where"] in places:
            assert mark["value"] in places[mark["where"]], mark
    # the macro shows the slide's label (name, hospital and NHS numbers) at its left end
    plan = plan_slides(read_persons(made.omop, 1), seed=3, **SIZE)
    slide_plan = next(p for p in plan if p.name == path.stem)
    label = render_label(slide_plan).resize((360, 360), Image.Resampling.LANCZOS)
    shown = np.asarray(macro.crop((20, 20, 380, 380)), dtype=float)
    assert np.abs(shown - np.asarray(label, dtype=float)).mean() < 4
