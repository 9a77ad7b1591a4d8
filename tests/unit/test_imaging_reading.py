"""Reading one DICOM header (fivesafes.imaging.reading): what a file says, or why not in words,
never an exception; the header is read up to Pixel Data and kept whole for the restricted store.
Real-world files come from pydicom's own test data and pydicom-data (261, some malformed)."""

from __future__ import annotations

import logging
import os
import warnings
import zlib
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_files

from fivesafes.imaging.reading import (
    SAID,
    TAGS,
    Header,
    Reason,
    Unreadable,
    quiet_pydicom,
    read_header,
    stat_file,
)
from imaging_data import write_image

REAL_FILES = sorted(f for f in get_testdata_files() if os.path.isfile(f))


def read(path: Path | str) -> Header | Unreadable:
    with quiet_pydicom():
        return read_header(stat_file(str(path)))


def test_every_real_world_file_is_read_or_refused_with_a_reason():
    assert len(REAL_FILES) > 200
    outcomes = {f: read(f) for f in REAL_FILES}
    refused = {f: o for f, o in outcomes.items() if isinstance(o, Unreadable)}
    read_ok = [o for o in outcomes.values() if isinstance(o, Header)]
    assert all(o.detail.startswith(SAID[o.reason]) for o in refused.values())
    reasons = {o.reason for o in refused.values()}
    # the malformed and foreign files pydicom ships are each told apart, not lumped together
    assert {
        Reason.NOT_DICOM,
        Reason.TRUNCATED,
        Reason.DICOMDIR,
        Reason.MISSING_PATIENT_ID,
    } <= reasons
    assert len(read_ok) > 150
    for header in read_ok:
        assert header["SOPInstanceUID"] and header["PatientID"] and len(header.sha256) == 64


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("rtplan_truncated.dcm", Reason.TRUNCATED),
        ("README.txt", Reason.NOT_DICOM),
        ("crayons.icc", Reason.NOT_DICOM),
        ("DICOMDIR", Reason.DICOMDIR),
    ],
)
def test_known_bad_real_files(name, reason):
    found = [f for f in REAL_FILES if os.path.basename(f) == name]
    assert found, name
    assert all(read(f).reason is reason for f in found)  # type: ignore[union-attr]


def test_a_dicomdir_is_skipped_not_an_error():
    dicomdir = next(f for f in REAL_FILES if os.path.basename(f) == "DICOMDIR")
    outcome = read(dicomdir)
    assert isinstance(outcome, Unreadable) and outcome.skipped


def test_the_values_the_index_needs(tmp_path):
    path = write_image(
        tmp_path / "a.dcm",
        BodyPartExamined="CHEST",
        ContrastBolusAgent="Omnipaque",
        ImageType="ORIGINAL\\PRIMARY\\AXIAL",
    )
    header = read(path)
    assert isinstance(header, Header) and header.file_meta
    assert header["BodyPartExamined"] == "CHEST" and header["ContrastBolusAgent"] == "Omnipaque"
    assert header["ImageType"] == "ORIGINAL\\PRIMARY\\AXIAL" and header["SliceThickness"] == "2.5"
    assert header.transfer_syntax_uid == "1.2.840.10008.1.2.1"
    assert set(header.values) == set(TAGS)


def test_the_header_kept_is_every_byte_before_pixel_data(tmp_path):
    path = write_image(tmp_path / "a.dcm", PixelData=b"\x07" * 4096)
    header = read(path)
    assert isinstance(header, Header) and header.stored is not None
    raw = zlib.decompress(header.stored)
    data = path.read_bytes()
    assert data.startswith(raw) and len(data) - len(raw) == 12 + 4096  # element head + pixels
    assert b"TEST^PATIENT" in raw  # the whole header, names too: hence the restricted store
    full = pydicom.dcmread(path)
    assert "PixelData" in full and b"\x07" not in raw


def test_a_data_set_without_preamble_or_file_meta_is_read(tmp_path):
    header = read(write_image(tmp_path / "bare", bare=True))
    assert isinstance(header, Header) and not header.file_meta
    assert header["SOPInstanceUID"] == "2.25.1001" and header.transfer_syntax_uid is None


def test_an_empty_file(tmp_path):
    (tmp_path / "empty.dcm").write_bytes(b"")
    assert read(tmp_path / "empty.dcm").reason is Reason.EMPTY  # type: ignore[union-attr]


def test_a_text_file_is_not_dicom(tmp_path):
    (tmp_path / "notes.txt").write_text("Patient notes\n" * 100)
    assert read(tmp_path / "notes.txt").reason is Reason.NOT_DICOM  # type: ignore[union-attr]


def test_a_file_cut_inside_its_header_is_truncated(tmp_path):
    whole = write_image(tmp_path / "a.dcm", StudyDescription="X" * 200).read_bytes()
    cut = whole.index(b"XXXX") + 50
    (tmp_path / "cut.dcm").write_bytes(whole[:cut])
    assert read(tmp_path / "cut.dcm").reason is Reason.TRUNCATED  # type: ignore[union-attr]


def test_a_file_cut_inside_its_pixels_is_indexed_and_noted(tmp_path):
    whole = write_image(tmp_path / "a.dcm", PixelData=bytes(1000)).read_bytes()
    (tmp_path / "cut.dcm").write_bytes(whole[:-300])
    header = read(tmp_path / "cut.dcm")
    assert isinstance(header, Header) and header.notes == ("pixel_data_truncated",)
    assert read(tmp_path / "a.dcm").notes == ()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("missing", "reason"),
    [
        ("PatientID", Reason.MISSING_PATIENT_ID),
        ("SOPInstanceUID", Reason.MISSING_SOP_INSTANCE_UID),
        ("StudyInstanceUID", Reason.MISSING_STUDY_INSTANCE_UID),
        ("SeriesInstanceUID", Reason.MISSING_SERIES_INSTANCE_UID),
    ],
)
def test_a_file_without_an_identity_is_refused(tmp_path, missing, reason):
    assert read(write_image(tmp_path / "a.dcm", **{missing: None})).reason is reason  # type: ignore[union-attr]
    assert read(write_image(tmp_path / "b.dcm", **{missing: "  "})).reason is reason  # type: ignore[union-attr]


def test_a_file_gone_between_the_walk_and_the_read(tmp_path):
    path = write_image(tmp_path / "a.dcm")
    found = stat_file(str(path))
    path.unlink()
    with quiet_pydicom():
        outcome = read_header(found)
    assert outcome.reason is Reason.CANNOT_OPEN and "FileNotFoundError" in outcome.detail  # type: ignore[union-attr]


def test_text_in_another_character_set_is_decoded(tmp_path):
    path = write_image(
        tmp_path / "a.dcm",
        SpecificCharacterSet="ISO_IR 192",
        StudyDescription="Thorax Übersicht".encode(),
    )
    assert read(path)["StudyDescription"] == "Thorax Übersicht"  # type: ignore[index]
    path = write_image(
        tmp_path / "b.dcm",
        SpecificCharacterSet="ISO_IR 144",
        StudyDescription="Грудь".encode("iso8859_5"),
    )
    assert read(path)["StudyDescription"] == "Грудь"  # type: ignore[index]


def test_pydicom_says_nothing_while_reading(tmp_path, caplog):
    """pydicom's log messages and warnings can quote a value: none get out."""
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        for f in REAL_FILES:
            read(f)
    assert [r for r in caplog.records if r.name.startswith("pydicom")] == []
    assert warned == []
    assert logging.getLogger("pydicom").filters == []  # and the silence ends with the read
