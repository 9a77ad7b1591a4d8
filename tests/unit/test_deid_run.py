"""The de-identification pipeline over folders (fivesafes.imaging.deid.run): the PHI answer key
scored on what it writes, a file verification catches never written, the same bytes again, the
same files from a pool as from one process, OCR that cannot run failing files at risk, and
outputs named by the new UIDs only."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest

from fivesafes.imaging.deid.keys import ProjectKeys
from fivesafes.imaging.deid.options import Options
from fivesafes.imaging.deid.phi_key import KEY_OPTIONS, write_phi_archive
from fivesafes.imaging.deid.reject import load_rejectors
from fivesafes.imaging.deid.run import FileOutcome, Job, deidentify_tree
from fivesafes.imaging.deid.score import score
from imaging_data import synth_node

KEYS = ProjectKeys.derive(b"n" * 32, "study-1")


@pytest.fixture(scope="module")
def key_archive(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("phi")
    write_phi_archive(out, files=60, seed=9)
    return out


@pytest.fixture(scope="module")
def ct_archive(tmp_path_factory) -> Path:
    return synth_node(tmp_path_factory.mktemp("ct")).archive


def job(options: Options = KEY_OPTIONS, ocr: str | None = None) -> Job:
    return Job(KEYS, options, load_rejectors(), ocr)


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_the_answer_key_leaves_no_phi_in_anything_written(key_archive, tmp_path):
    """What the pipeline writes, put back at each source's path for the scorer: no planted
    value left anywhere, every file accounted for once."""
    out, scored = tmp_path / "out", tmp_path / "scored"
    archive = key_archive / "archive"

    def keep(path: str, outcome: FileOutcome) -> None:
        if outcome.target is not None:
            place = scored / Path(path).relative_to(archive)
            place.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(out / outcome.target, place)

    report = deidentify_tree([archive], out, job(), each=keep)
    found = score(archive, scored, key_archive / "answer-key.json")
    assert found.phi_values > 0 and found.phi_left == 0 and found.files_with_phi == 0
    assert (
        report.files
        == 60
        == report.written
        + sum(report.rejected.values())
        + sum(report.failed.values())
        + sum(report.unreadable.values())
    )
    assert report.written > 40 and not report.unreadable
    assert set(report.rejected) <= {"not_original_primary", "secondary_capture"}
    assert report.persons and all(p.startswith("FS") for p in report.persons)


def test_a_file_verification_catches_is_never_written(ct_archive, tmp_path):
    """An NHS number in an attribute the profile keeps: verification finds it, the file is
    not written, and the report names the rule and the element, never the value."""
    source = next(
        p for p in sorted(ct_archive.rglob("*.dcm"))
        if pydicom.dcmread(p, stop_before_pixels=True).Modality == "CT"
    )  # fmt: skip
    planted = tmp_path / "in" / "one.dcm"
    planted.parent.mkdir()
    dataset = pydicom.dcmread(source)
    dataset.BodyPartExamined = "943 476 5919"  # a valid NHS number (check digit 9)
    dataset.save_as(planted)
    report = deidentify_tree([planted.parent], tmp_path / "out", job())
    assert (report.written, dict(report.failed)) == (0, {"nhs_number": 1})
    assert report.rows == [(str(planted), "failed", "nhs_number", "(0018,0015)")]
    assert not any((tmp_path / "out").rglob("*.dcm"))
    assert "943" not in repr(report.to_dict())


def test_the_same_inputs_give_the_same_bytes_and_a_pool_the_same_files(ct_archive, tmp_path):
    count = sum(1 for p in ct_archive.rglob("*") if p.is_file())
    assert count >= 128  # enough for two workers to be started
    one = deidentify_tree([ct_archive], tmp_path / "one", job())
    again = deidentify_tree([ct_archive], tmp_path / "again", job())
    pooled = deidentify_tree([ct_archive], tmp_path / "pooled", job(), workers=2)
    written = files_under(tmp_path / "one")
    assert len(written) == one.written > 100
    assert one.duplicates["same_bytes"] > 0  # the archive's copies: one written
    assert files_under(tmp_path / "again") == written == files_under(tmp_path / "pooled")
    assert one.to_dict() | {"seconds": 0} == pooled.to_dict() | {"seconds": 0}
    assert again.to_dict() | {"seconds": 0} == one.to_dict() | {"seconds": 0}
    keys = ProjectKeys.derive(b"n" * 32, "study-2")
    other = deidentify_tree(
        [ct_archive], tmp_path / "other", Job(keys, KEY_OPTIONS, load_rejectors())
    )
    assert not set(files_under(tmp_path / "other")) & set(written)  # other UIDs, other names
    assert other.written == one.written


def test_outputs_are_named_by_their_new_uids_only(ct_archive, tmp_path):
    report = deidentify_tree([ct_archive], tmp_path / "out", job())
    sources = {part for p in ct_archive.rglob("*") for part in p.relative_to(ct_archive).parts}
    for path in (tmp_path / "out").rglob("*.dcm"):
        study, series, name = path.relative_to(tmp_path / "out").parts
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
        uids = (dataset.StudyInstanceUID, dataset.SeriesInstanceUID, dataset.SOPInstanceUID)
        assert (study, series, name) == (uids[0], uids[1], f"{uids[2]}.dcm")
        assert study.startswith("2.25.") and not {study, series, name} & sources
    assert report.written > 0


def test_without_ocr_files_at_risk_fail_and_others_pass(key_archive, tmp_path):
    """Tesseract that cannot be run: every ultrasound (at risk of burned-in text) fails
    verification with ocr_unavailable, never passes; CT and MR files are still written."""
    archive = key_archive / "archive"
    ultrasound = [
        p for p in archive.rglob("*.dcm")
        if pydicom.dcmread(p, stop_before_pixels=True).Modality == "US"
    ]  # fmt: skip
    assert ultrasound
    report = deidentify_tree([archive], tmp_path / "out", job(ocr=str(tmp_path / "no-tesseract")))
    assert report.failed["ocr_unavailable"] == len(ultrasound)
    assert report.written > 0
    out = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    written = [pydicom.dcmread(p, stop_before_pixels=True) for p in out]
    assert all(d.Modality != "US" for d in written)


def test_two_contents_under_one_uid_keep_neither(ct_archive, tmp_path):
    """One SOPInstanceUID, two different images: which a pool writes last is chance, so
    neither is kept; a copy with the same bytes is kept once."""
    source = next(
        p for p in sorted(ct_archive.rglob("*.dcm"))
        if pydicom.dcmread(p, stop_before_pixels=True).Modality == "CT"
    )  # fmt: skip
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(source, folder / "a.dcm")
    shutil.copy(source, folder / "b.dcm")  # a copy
    changed = pydicom.dcmread(source)
    changed.PixelData = bytes(255 - b for b in changed.PixelData)
    changed.save_as(folder / "c.dcm")  # the same UID, other pixels
    report = deidentify_tree([folder], tmp_path / "out", job())
    assert report.written == 0 and dict(report.duplicates) == {"same_bytes": 1, "conflicting": 1}
    assert not any((tmp_path / "out").rglob("*.dcm"))
    assert [row[1:3] for row in report.rows] == [
        ("duplicate", "same_bytes"),
        ("duplicate", "conflicting"),
    ]
