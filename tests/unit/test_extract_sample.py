"""The sample an output checker opens of a held extract (``extracts.sample``): which files
(the same for the same extract and seed, never more than the bound, never a file outside the
folder, a link or a write under way), each header as rows (long values cut, sequences nested
by item, binary values as their size), and thumbnails (a PNG at most 256 pixels on its longer
side for an image; none for a structured report or a file that is not DICOM)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from fivesafes.extracts.sample import (
    CUT,
    MAX_SAMPLE,
    MAX_VALUE,
    THUMBNAIL,
    choose,
    extract_files,
    file_at,
    header_rows,
    read_header,
    sample_files,
    sample_page,
    thumbnail_png,
)

PNG = b"\x89PNG\r\n\x1a\n"


def dicom_file(name: str) -> Path:
    return Path(get_testdata_file(name))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An extract's folder of 40 files in study/series folders, beside what is not its own: a
    write under way, a hidden folder, a link to a file outside it and a link to a folder."""
    root = tmp_path / "p_1" / "t_1.staging"
    for study in range(2):
        for n in range(20):
            path = root / f"2.25.{study}" / "2.25.9" / f"2.25.{n}.dcm"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x")
    (root / "2.25.0" / ".2.25.99.dcm.123.part").write_bytes(b"partial")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "a.dcm").write_bytes(b"x")
    outside = tmp_path / "secret.dcm"
    outside.write_bytes(b"not the extract's")
    (root / "2.25.1" / "link.dcm").symlink_to(outside)
    (root / "elsewhere").symlink_to(tmp_path, target_is_directory=True)
    return root


def test_the_files_are_the_folders_own_sorted_and_nothing_else(folder):
    files = extract_files(folder)
    assert len(files) == 40
    assert files == sorted(files)
    assert not [f for f in files if "part" in f or "hidden" in f or "link" in f or "else" in f]
    assert extract_files(folder.parent / "absent") == []
    assert file_at(folder, 0) == (folder / files[0]).resolve()
    for wrong in (-1, 40, 10**9):
        with pytest.raises(IndexError):
            file_at(folder, wrong)


def test_the_sample_is_the_same_for_an_extract_and_seed_and_bounded(folder):
    first = sample_files(folder, "t_1", 6, 0)
    assert first == sample_files(folder, "t_1", 6, 0)  # the same page, the same files
    assert len(first) == 6 and [s.index for s in first] == sorted(s.index for s in first)
    assert all(s.path.is_relative_to(folder.resolve()) for s in first)
    others = [sample_files(folder, "t_1", 6, seed) for seed in (1, 2, 3)]
    assert any(o != first for o in others)  # another seed, another sample
    assert sample_files(folder, "t_2", 6, 0) != first  # seeded by the extract too
    assert len(sample_files(folder, "t_1", 1000, 0)) == MAX_SAMPLE
    assert sample_files(folder, "t_1", 0, 0) == []
    assert [s.index for s in sample_files(folder, "t_1", 6, 0)] == choose(40, "t_1", 6, 0)
    assert choose(3, "t_1", 6, 0) == [0, 1, 2]  # fewer files than asked: all of them
    assert choose(0, "t_1", 6, 0) == []


def test_the_sample_does_not_depend_on_the_process():
    """A str seed (hashed with SHA-512 by ``random``), not ``hash()``: these numbers are the
    same in every process, whatever PYTHONHASHSEED."""
    assert choose(1000, "t_1", 6, 0) == choose(1000, "t_1", 6, 0)
    assert len(set(choose(1000, "t_1", 24, 7))) == 24


def test_header_rows_cut_long_values_nest_sequences_and_size_binary_values():
    inner = Dataset()
    inner.CodeValue = "T-D1100"
    inner.CodeMeaning = "Head"
    deeper = Dataset()
    deeper.ReferencedSOPInstanceUID = "2.25.1"
    inner.ReferencedSOPSequence = Sequence([deeper])
    second = Dataset()
    second.CodeValue = "T-D4000"
    ds = Dataset()
    ds.PatientName = "ANONYMOUS"
    ds.ImageComments = "y" * 500
    ds.AnatomicRegionSequence = Sequence([inner, second])
    ds.add_new(0x00091010, "LO", "a private value")
    ds.add_new(0x7FE00010, "OW", b"\x00\x01" * 2048)
    ds.add_new(0x60003000, "OW", b"\x00" * 64)

    rows = {r.keyword: r for r in header_rows(ds)}
    assert rows["PatientName"].tag == "(0010,0010)" and rows["PatientName"].vr == "PN"
    assert rows["PatientName"].value == "ANONYMOUS"
    comment = rows["ImageComments"].value
    assert comment == "y" * MAX_VALUE + CUT and len(comment) == MAX_VALUE + 1
    region = rows["AnatomicRegionSequence"]
    assert (region.vr, region.value, len(region.items)) == ("SQ", "2 items", 2)
    first = {r.keyword: r for r in region.items[0]}
    assert first["CodeMeaning"].value == "Head"
    nested = first["ReferencedSOPSequence"]
    assert nested.value == "1 item" and nested.items[0][0].value == "2.25.1"
    assert [r.value for r in region.items[1]] == ["T-D4000"]
    assert rows["PixelData"].value == "(4096 bytes)"
    assert rows["OverlayData"].value == "(64 bytes)"
    assert rows["(private)"].tag == "(0009,1010)"


def test_a_real_header_shows_its_pixel_data_by_size_only():
    ds = read_header(dicom_file("CT_small.dcm"))
    assert ds is not None
    rows = header_rows(ds)
    [pixels] = [r for r in rows if r.tag == "(7FE0,0010)"]
    assert pixels.value == "(32768 bytes)" and pixels.keyword == "PixelData"
    assert all(len(r.value) <= MAX_VALUE + 1 for r in rows)


def test_a_ct_thumbnail_is_a_png_of_at_most_256_pixels():
    png = thumbnail_png(dicom_file("CT_small.dcm"))
    assert png is not None and png.startswith(PNG)
    image = Image.open(io.BytesIO(png))
    assert image.size == (128, 128) and image.mode == "L"  # small images are not enlarged
    assert image.getextrema()[0] < image.getextrema()[1]  # windowed: not one grey


def test_a_large_image_is_reduced_to_256_pixels_on_its_longer_side():
    png = thumbnail_png(dicom_file("MR2_UNCR.dcm"))  # 1024 x 1024 (pydicom-data)
    assert png is not None
    assert max(Image.open(io.BytesIO(png)).size) == THUMBNAIL


def test_a_structured_report_and_a_file_that_is_not_dicom_have_no_thumbnail(tmp_path):
    assert thumbnail_png(dicom_file("test-SR.dcm")) is None
    text = tmp_path / "notes.dcm"
    text.write_text("not DICOM")
    assert thumbnail_png(text) is None
    assert thumbnail_png(tmp_path / "absent.dcm") is None
    assert read_header(text) is None


def test_the_sample_page_shows_headers_and_which_files_have_an_image(tmp_path):
    root = tmp_path / "t.staging"
    root.mkdir()
    for name in ("CT_small.dcm", "test-SR.dcm"):
        (root / name).write_bytes(dicom_file(name).read_bytes())
    (root / "zz.dcm").write_text("not DICOM")
    total, files = sample_page(root, "t", 6, 0)
    assert total == 3
    ct, sr, other = files
    assert ct.image == (128, 128) and ct.modality == "CT" and ct.rows
    assert sr.image is None and sr.modality == "SR" and sr.rows
    assert other.rows is None and other.image is None
