"""A de-identified copy of a slide (``slides.deidentify``, issue 16 point 2): the synthetic
slides' planted identifiers (label and macro pixels, description, file name, comments) are
nowhere in the copy's bytes; OpenSlide still reads the copy as the same slide (Aperio, its
levels, microns per pixel, objective power) with the same pixels, and lists no associated
image; a generic tiled TIFF's description is gone; an existing target is not overwritten; a
format not copied is refused with a code."""

from __future__ import annotations

import csv

import numpy as np
import openslide
import pytest

from fivesafes.data.synth import generate
from fivesafes.slides.deidentify import write_copy
from fivesafes.slides.reading import SlideUnreadable, open_slide
from fivesafes.slides.synth import write_slides
from slides_data import PLANTED, write_pyramid


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("copies")
    omop = root / "omop.duckdb"
    generate(omop, persons=1500, seed=3)
    report = write_slides(omop, root / "made", seed=5, persons_limit=3, width=1024, height=768)
    with (report.truth / "planted_identifiers.csv").open() as handle:
        planted = list(csv.DictReader(handle))
    return {"root": root, "slides": sorted((root / "made" / "slides").glob("*.svs")),
            "planted": planted}  # fmt: skip


def test_a_copy_keeps_the_pyramid_and_nothing_that_names_the_patient(made, tmp_path):
    for source in made["slides"]:
        info = open_slide(source).info
        copy = write_copy(source, tmp_path / f"{source.stem}-copy.svs", info)
        data = copy.read_bytes()
        mine = [p["value"] for p in made["planted"] if p["slide"].endswith(source.name)]
        assert [value for value in mine if value.encode() in source.read_bytes()]  # it can fail
        assert mine and [value for value in mine if value.encode() in data] == []
        assert source.stem.encode() not in data  # nor the file's own name
        original, copied = openslide.OpenSlide(source), openslide.OpenSlide(copy)
        assert copied.properties["openslide.vendor"] == "aperio"
        assert copied.level_dimensions == original.level_dimensions
        assert copied.properties["openslide.mpp-x"] == original.properties["openslide.mpp-x"]
        assert (
            copied.properties["openslide.objective-power"]
            == original.properties["openslide.objective-power"]
        )
        assert dict(copied.associated_images) == {}
        assert set(original.associated_images) >= {"label", "macro"}
        for level in range(copied.level_count):
            a = np.asarray(original.read_region((0, 0), level, (200, 150)))
            b = np.asarray(copied.read_region((0, 0), level, (200, 150)))
            assert np.array_equal(a, b)  # the same tile bytes
        with pytest.raises(FileExistsError):
            write_copy(source, copy, info)


def test_a_generic_tiff_loses_its_description_and_other_formats_are_refused(tmp_path):
    source = write_pyramid(tmp_path / "g.tif", 6)
    info = open_slide(source).info
    copy = write_copy(source, tmp_path / "g-copy.tif", info)
    assert PLANTED.encode() not in copy.read_bytes()
    assert open_slide(copy).info.levels == info.levels
    ome = info.__class__(**{**info.__dict__, "format": "ome-tiff"})
    with pytest.raises(SlideUnreadable) as refused:
        write_copy(source, tmp_path / "other.tif", ome)
    assert refused.value.reason == "copy_not_supported"
