"""The lean walk of a header (fivesafes.imaging.part10) against pydicom's reading: a file the
walk answers for gives exactly the record pydicom gives (values, transfer syntax, file meta,
the stored header's bytes, its hash, the notes), and every other file is left to pydicom.
Differential over pydicom's own test files (real-world and malformed), the synthetic archive,
and files pydicom writes in every encoding the walk claims, or does not claim, to read."""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_files
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
)

from fivesafes.imaging import part10, reading
from fivesafes.imaging.reading import (
    TAGS,
    Header,
    Unreadable,
    quiet_pydicom,
    read_header,
    stat_file,
)
from imaging_data import synth_node

REAL_FILES = sorted(f for f in get_testdata_files() if os.path.isfile(f))


def lean_and_pydicom(path: str | Path) -> tuple[Header | Unreadable | None, Header | Unreadable]:
    """The lean walk's outcome (None: left to pydicom) and pydicom's, for one file."""
    found = stat_file(str(path))
    with quiet_pydicom():
        slow = read_header(found, lean=False)
        try:
            with open(path, "rb") as handle:
                lean = reading._lean(found, handle, True)
        except part10.Unsupported:
            lean = None
    return lean, slow


def record(outcome: Header | Unreadable) -> tuple:
    if isinstance(outcome, Unreadable):
        return (outcome.reason, outcome.detail)
    stored = zlib.decompress(outcome.stored) if outcome.stored is not None else None
    return (
        outcome.values,
        outcome.transfer_syntax_uid,
        outcome.file_meta,
        stored,
        outcome.header_bytes,
        outcome.sha256,
        outcome.notes,
    )


def test_the_tags_are_pydicoms():
    assert {keyword: tag_for_keyword(keyword) for keyword in TAGS} == TAGS


def test_every_real_world_file_reads_the_same_either_way():
    answered = 0
    for path in REAL_FILES:
        lean, slow = lean_and_pydicom(path)
        if lean is not None:
            answered += 1
            assert record(lean) == record(slow), path
    # most of pydicom's files are walked; the rest (big endian, deflated, other character
    # sets, malformed) are read by pydicom, as the numbers say
    assert answered > 0.75 * len(REAL_FILES), (answered, len(REAL_FILES))


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    return synth_node(tmp_path_factory.mktemp("part10"), persons=60, persons_limit=40).archive


def test_the_synthetic_archive_is_walked_alone(archive, monkeypatch):
    files = sorted(p for p in archive.rglob("*") if p.is_file())
    assert len(files) > 50
    for path in files:
        lean, slow = lean_and_pydicom(path)
        assert lean is not None and record(lean) == record(slow), path

    def refuse(*args, **kwargs):
        raise AssertionError("pydicom was asked to read a file the lean walk answers for")

    monkeypatch.setattr(pydicom, "dcmread", refuse)
    with quiet_pydicom():
        outcomes = [read_header(stat_file(str(p))) for p in files]
    assert all(isinstance(o, Header) for o in outcomes)


def written(
    path: Path, syntax: UID, *, meta: bool = True, undefined: bool = True, **options
) -> Path:
    """A CT image written by pydicom in ``syntax``, with nested sequences (of undefined
    length if ``undefined``), private elements, and ``options``: ``charset``, ``big`` (bytes
    of a private element before the pixels)."""
    ds = Dataset()
    ds.SpecificCharacterSet = options.get("charset", "ISO_IR 100")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = "2.25.1001"
    ds.StudyDate = "20200102"
    ds.Modality = "CT"
    ds.PatientID = "P0001"
    ds.StudyDescription = options.get("description", "CT CHEST")
    ds.StudyInstanceUID = "2.25.1"
    ds.SeriesInstanceUID = "2.25.11"
    ds.SliceThickness = "2.5"
    ds.KVP = "120"
    ds.InstanceNumber = "1"
    ds.BurnedInAnnotation = "NO"
    inner = Dataset()
    inner.CodeMeaning = "deep"
    item = Dataset()
    item.CodeValue = "X"
    item.ConceptNameCodeSequence = Sequence([inner])
    ds.ProcedureCodeSequence = Sequence([item])
    if undefined:
        ds["ProcedureCodeSequence"].is_undefined_length = True
        item["ConceptNameCodeSequence"].is_undefined_length = True
        item.is_undefined_length_sequence_item = True
        inner.is_undefined_length_sequence_item = True
    ds.add_new(0x00090010, "LO", "PRIVATE CREATOR")
    ds.add_new(0x00091010, "OB", bytes(options.get("big", 2)))
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 2, 2, 1
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    if syntax == JPEGBaseline8Bit:
        ds.PixelData = encapsulate([b"\xff\xd8\xff\xd9"])
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
    else:
        ds.PixelData = bytes(4)
    if meta:
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = syntax
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.preamble = b"\0" * 128
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
    else:
        pydicom.dcmwrite(
            path,
            ds,
            implicit_vr=syntax == ImplicitVRLittleEndian,
            little_endian=syntax != ExplicitVRBigEndian,
        )
    return path


ENCODINGS = [
    # transfer syntax, file meta, sequences of undefined length -> walked (else: pydicom)
    (ImplicitVRLittleEndian, True, True, True),
    (ImplicitVRLittleEndian, True, False, True),
    (ImplicitVRLittleEndian, False, True, True),
    (ExplicitVRLittleEndian, True, True, True),
    (ExplicitVRLittleEndian, True, False, True),
    (ExplicitVRLittleEndian, False, True, True),
    (JPEGBaseline8Bit, True, True, True),
    (ExplicitVRBigEndian, True, True, False),
    (ExplicitVRBigEndian, False, False, False),
    (DeflatedExplicitVRLittleEndian, True, True, False),
]


@pytest.mark.parametrize(("syntax", "meta", "undefined", "walked"), ENCODINGS)
def test_each_encoding_is_walked_or_left_to_pydicom(tmp_path, syntax, meta, undefined, walked):
    path = written(tmp_path / "a.dcm", syntax, meta=meta, undefined=undefined)
    lean, slow = lean_and_pydicom(path)
    assert isinstance(slow, Header) and slow["StudyDescription"] == "CT CHEST"
    assert (lean is not None) is walked
    if lean is not None:
        assert record(lean) == record(slow)
        assert lean.file_meta is meta


def test_a_header_longer_than_the_first_read(tmp_path):
    path = written(tmp_path / "a.dcm", ExplicitVRLittleEndian, big=3 * reading.FIRST_READ)
    lean, slow = lean_and_pydicom(path)
    assert lean is not None and record(lean) == record(slow)
    assert lean.header_bytes > 3 * reading.FIRST_READ


def test_another_character_set_is_left_to_pydicom(tmp_path):
    path = written(
        tmp_path / "a.dcm",
        ExplicitVRLittleEndian,
        charset="ISO_IR 144",
        description="Грудь",
    )
    lean, slow = lean_and_pydicom(path)
    assert lean is None and slow["StudyDescription"] == "Грудь"  # type: ignore[index]


def test_elements_out_of_order_are_left_to_pydicom(tmp_path):
    path = written(tmp_path / "a.dcm", ExplicitVRLittleEndian, meta=False)
    data = bytearray(path.read_bytes())
    # swap the first two elements of the data set: (0008,0005) and (0008,0008)
    first = 8 + int.from_bytes(data[6:8], "little")
    second = first + 8 + int.from_bytes(data[first + 6 : first + 8], "little")
    swapped = data[first:second] + data[:first] + data[second:]
    path.write_bytes(bytes(swapped))
    with pytest.raises(part10.Unsupported):
        part10.walk(bytes(swapped), len(swapped), frozenset(TAGS.values()))


def test_the_walk_asks_for_more_and_never_reads_past_the_end():
    # an explicit VR element whose value runs past the bytes given
    head = (0x0008).to_bytes(2, "little") + (0x1030).to_bytes(2, "little") + b"LO"
    data = head + (300).to_bytes(2, "little") + b"x" * 150
    with pytest.raises(part10.NeedMore) as more:
        part10.walk(data, 1000, frozenset(TAGS.values()))
    assert more.value.upto == len(head) + 2 + 300
    with pytest.raises(part10.Unsupported):  # the whole file, and still short: pydicom's call
        part10.walk(data, len(data), frozenset(TAGS.values()))


def test_a_fault_in_the_walk_leaves_the_file_to_pydicom(tmp_path, monkeypatch):
    path = written(tmp_path / "a.dcm", ExplicitVRLittleEndian)
    _, slow = lean_and_pydicom(path)

    def broken(*args, **kwargs):
        raise IndexError("a fault in the walk")

    monkeypatch.setattr(part10, "walk", broken)
    with quiet_pydicom():
        outcome = read_header(stat_file(str(path)))
    assert record(outcome) == record(slow)


def test_a_worker_starts_without_pydicom_or_duckdb():
    """A worker is a fresh interpreter: what it imports is what every pool start costs."""
    code = (
        "import sys, fivesafes.imaging.worker; "
        "print(sorted(m for m in ('pydicom', 'duckdb', 'pyarrow') if m in sys.modules))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"


def test_the_stored_header_is_zlib():
    raw = b"DICM" * 1000
    assert zlib.decompress(reading.compress(raw)) == raw
