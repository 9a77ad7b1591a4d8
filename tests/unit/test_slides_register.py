"""Registering slides at a node (``fivesafes.slides.register``, issue 16): slides written here
with tifffile (a generic tiled pyramid, which OpenSlide reads as ``generic-tiff``) are read
through the allow-list (their pyramid, microns per pixel), hashed, named by a keyed id, and
linked to their persons and specimens through a specimen map, on a synthetic CDM whose
``person_source_value`` holds the node's pseudonyms; unreadable files and duplicates are
counted with a reason; the map is bounded and refused in words; registering again changes
nothing; and nothing the reader may not pass (the file's name, its description) reaches the
node's data."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from fivesafes.imaging.synth import hospital_number
from fivesafes.node.pseudonyms import pseudonym
from fivesafes.protocol.errors import InvalidRequest
from fivesafes.slides.reading import SlideUnreadable, open_slide
from fivesafes.slides.register import (
    RegisterReport,
    read_map,
    read_slides,
    slide_id,
    write_slides,
)
from imaging_data import synth_node
from slides_data import write_pyramid


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    return synth_node(tmp_path_factory.mktemp("slides-node"), persons=40, persons_limit=1, seed=9)


def cdm(node, tmp_path: Path) -> Path:
    target = tmp_path / "cdm.duckdb"
    shutil.copy(node.omop, target)
    with duckdb.connect(str(target)) as con:
        con.execute(
            "CREATE TABLE IF NOT EXISTS specimen (specimen_id BIGINT, person_id BIGINT,"
            " specimen_source_id VARCHAR)"
        )
        con.execute("INSERT INTO specimen VALUES (7001, 1, 'BX-0001')")
    return target


def patient_of(person_id: int) -> str:
    """The hospital number the synthetic CDM's person was pseudonymised from."""
    return hospital_number(person_id)


def test_slides_are_read_through_the_allow_list_and_linked(node, tmp_path):
    folder = tmp_path / "slides"
    first = write_pyramid(folder / "case-1" / "A.tif", 1)
    write_pyramid(folder / "case-2" / "B.tif", 2)
    (folder / "zz").mkdir()
    shutil.copy(first, folder / "zz" / "A-again.tif")  # the same bytes again, found after
    (folder / "broken.svs").write_bytes(b"not a slide at all")
    mapping = tmp_path / "map.csv"
    mapping.write_text(
        "file,patient_id,specimen,stain\n"
        f"case-1/A.tif,{patient_of(1)},BX-0001,H&E\n"
        "case-2/B.tif,NO-SUCH-PATIENT,,Ki-67\n"
    )
    info = open_slide(first).info
    assert info.format == "generic-tiff" and [lv.width for lv in info.levels] == [1024, 256]
    assert info.mpp_x == pytest.approx(0.5)

    report = RegisterReport()
    slides = read_slides([folder], node.key, read_map(mapping), report)
    assert report.files == 4 and report.refused == {"unsupported_format": 1, "duplicate": 1}
    database = cdm(node, tmp_path)
    with duckdb.connect(str(database)) as con:
        write_slides(con, slides, lambda p: pseudonym(p, node.key), report)
        rows = con.execute(
            "SELECT slide_id, person_id, specimen_id, stain, format, width, level_count, mpp_x,"
            " link FROM pathology_slide ORDER BY stain"
        ).fetchall()
        paths = con.execute("SELECT path FROM pathology_slide_file").fetchall()
        every_value = " ".join(
            str(v) for row in con.execute("SELECT * FROM pathology_slide").fetchall() for v in row
        )
    assert rows[0][1:] == (1, 7001, "H&E", "generic-tiff", 1024, 2, pytest.approx(0.5), "linked")
    assert rows[1][1:3] == (None, None) and rows[1][8] == "no_match"
    sha = tifffile_sha(first)
    assert rows[0][0] == slide_id(node.key, sha) and rows[0][0].startswith("SL")
    assert len(paths) == 2  # the paths are the node's own table's
    for leaked in ("SMITH", "RXH1234567", "A.tif", "case-1"):
        assert leaked not in every_value
    assert report.links == {"linked": 1, "no_match": 1}

    # analyses read the slides through the view layer: an opted-out person's are gone
    from fivesafes.data.engines import open_omop
    from fivesafes.data.source import DuckDBSource

    with duckdb.connect(str(database)) as con:
        con.execute("CREATE TABLE fivesafes_opt_out (person_id BIGINT)")
        con.execute("INSERT INTO fivesafes_opt_out VALUES (1)")
    with open_omop(DuckDBSource(engine="duckdb", path=database)) as db:
        seen = db.table("pathology_slide").to_pandas()
        assert len(seen) == 1 and seen["person_id"].isna().all()
        with pytest.raises(Exception, match="pathology_slide_file"):
            db.table("pathology_slide_file")  # the paths are not a table analyses may open

    again = RegisterReport()
    with duckdb.connect(str(database)) as con:
        write_slides(con, read_slides([folder], node.key, None, again), lambda p: None, again)
        assert con.execute("SELECT count(*) FROM pathology_slide").fetchone()[0] == 2
    assert again.registered == 0 and again.already == 2


def tifffile_sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_bad_map_is_refused_in_words_and_a_bad_file_has_a_reason(tmp_path):
    bad = tmp_path / "map.csv"
    bad.write_text("name,who\nA.tif,SECRET-ID-1\n")
    with pytest.raises(InvalidRequest, match="needs the columns file and patient_id") as refused:
        read_map(bad)
    assert "SECRET-ID-1" not in str(refused.value)
    bad.write_text("file,patient_id\nA.tif,\n")
    with pytest.raises(InvalidRequest, match="Row 2"):
        read_map(bad)
    with pytest.raises(SlideUnreadable) as missing:
        open_slide(tmp_path / "nothing.svs")
    assert missing.value.reason == "not_found"
    slide = open_slide(write_pyramid(tmp_path / "s.tif", 3))
    with pytest.raises(ValueError, match="levels 0 to 1"):
        slide.read_region(2, 0, 0, 10, 10)
    with pytest.raises(ValueError, match="pixels"):
        slide.read_region(0, 0, 0, 5000, 5000)
    assert slide.read_region(1, 0, 0, 64, 32).size == (64, 32)
