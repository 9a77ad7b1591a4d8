"""The de-identification engine (fivesafes.imaging.deid.engine, writing, keys, pixels) on
pydicom's own test files, on data sets with identifying values planted in them and on the
synthetic PHI archive's ultrasound: what the Basic Profile removes is gone at every depth,
private elements go (or only the allow-listed stay), UIDs are consistent within a project and
differ between projects, dates move by one keyed shift per person, the output is marked,
valid, readable and the same bytes on every run, known burned-in text is blanked, and files
that cannot be de-identified are refused in words."""

from __future__ import annotations

import copy
import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import data_manager, get_testdata_file
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import UID, JPEGLSLossless, generate_uid

from fivesafes.imaging.deid import engine, table, writing
from fivesafes.imaging.deid.engine import DeidError, deidentify, deidentify_file
from fivesafes.imaging.deid.keys import ProjectKeys, shift_dates
from fivesafes.imaging.deid.options import OPTION_NAMES, Options, options_of
from fivesafes.imaging.deid.phi_key import write_phi_archive
from fivesafes.imaging.deid.writing import part10

NODE_SECRET = bytes(range(32))
P1 = ProjectKeys.derive(NODE_SECRET, "project-one")
P2 = ProjectKeys.derive(NODE_SECRET, "project-two")
ALL = options_of(OPTION_NAMES)
FILES = [
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "rtplan.dcm",
    "rtstruct.dcm",
    "rtdose.dcm",
    "waveform_ecg.dcm",
    "test-SR.dcm",
    "reportsi.dcm",
    "MR-SIEMENS-DICOM-WithOverlays.dcm",
    "examples_overlay.dcm",
    "JPEG2000.dcm",
    "MR_small_RLE.dcm",
    "ExplVR_BigEndNoMeta.dcm",
]
PLANTED = ("DOE^JANE", "MRN-77012", "1 Acacia Avenue", "Dr NOSY", "St Elsewhere", "19630405")


def path(name: str) -> Path:
    return Path(get_testdata_file(name))


def everything(dataset: Dataset) -> Iterator[DataElement]:
    """Every element at every depth (pydicom's walk, sequences included)."""
    for element in dataset:
        yield element
        if element.VR == "SQ":
            for item in element.value:
                yield from everything(item)


def written(result: engine.Deidentified) -> bytes:
    return part10(result.dataset)


def read_back(result: engine.Deidentified) -> Dataset:
    return pydicom.dcmread(io.BytesIO(written(result)))


def planted() -> Dataset:
    """CT_small with identifying values planted at the top, in sequences two deep, and in
    private elements; and a reference to another image."""
    ds = pydicom.dcmread(path("CT_small.dcm"))
    ds.PatientName, ds.PatientID, ds.PatientAddress = PLANTED[0], PLANTED[1], PLANTED[2]
    ds.ReferringPhysicianName, ds.InstitutionName = PLANTED[3], PLANTED[4]
    ds.PatientBirthDate = PLANTED[5]
    other = Dataset()
    other.PatientID, other.IssuerOfPatientID = PLANTED[1], PLANTED[4]
    ds.OtherPatientIDsSequence = Sequence([other])
    inner = Dataset()
    inner.PatientAddress, inner.PerformingPhysicianName = PLANTED[2], PLANTED[3]
    inner.ReferencedSOPClassUID, inner.ReferencedSOPInstanceUID = ds.SOPClassUID, "1.2.3.4.5"
    outer = Dataset()
    outer.ReferencedSOPClassUID, outer.ReferencedSOPInstanceUID = ds.SOPClassUID, "1.2.3.4.6"
    outer.ReferencedImageSequence = Sequence([inner])
    ds.SourceImageSequence = Sequence([outer])
    block = ds.private_block(0x0033, "ACME PHI", create=True)
    block.add_new(0x01, "LO", PLANTED[0])
    nested = Dataset()
    nested.add_new(0x00100010, "PN", PLANTED[0])
    block.add_new(0x02, "SQ", Sequence([nested]))
    return ds


# -- The Basic Profile -------------------------------------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_nothing_the_basic_profile_removes_is_left_at_any_depth(name):
    source = pydicom.dcmread(path(name), force=True)
    out = read_back(deidentify(source, P1, Options()))
    basic = table.table_for(Options())
    for element in everything(out):
        tag = int(element.tag)
        assert not element.tag.is_private, f"{name}: a private element is left"
        assert basic.actions.get(tag) != "X", f"{name}: {element.keyword} should be gone"
        assert basic.masked(tag) != "X", f"{name}: an overlay or curve element is left"
        if basic.actions.get(tag) == "Z" and tag != engine.PATIENT_NAME:
            assert element.is_empty or (element.VR == "SQ" and not element.value), element.keyword
    assert out.PatientIdentityRemoved == "YES"


def test_planted_identifiers_are_gone_from_every_depth_and_from_the_bytes():
    source = planted()
    result = deidentify(source, P1, Options())
    data = written(result)
    for value in PLANTED:
        assert value.encode() not in data, value
    out = pydicom.dcmread(io.BytesIO(data))
    assert "OtherPatientIDsSequence" not in out
    (outer,) = out.SourceImageSequence
    (inner,) = outer.ReferencedImageSequence
    assert "PatientAddress" not in inner and "PerformingPhysicianName" not in inner
    assert not any(e.tag.is_private for e in everything(out))
    assert out.PatientID == out.PatientName == P1.patient_id(PLANTED[1])
    assert out.PatientBirthDate == ""
    assert result.actions["private_removed"] >= 3 and result.actions["X"] >= 3


def test_the_input_is_left_as_it_was():
    source = planted()
    before = part10(_with_meta(copy.deepcopy(source)))
    deidentify(source, P1, ALL)
    assert part10(_with_meta(source)) == before


def _with_meta(ds: Dataset) -> Dataset:
    ds.file_meta = writing.file_meta(ds, ds.SOPClassUID, ds.SOPInstanceUID)
    return ds


def test_private_elements_go_but_the_allow_listed_ones_with_retain_safe_private():
    source = pydicom.dcmread(path("CT_small.dcm"))
    source.add_new(0x00191099, "LO", PLANTED[0])  # GEMS_ACQU_01's block, not on the list
    out = read_back(deidentify(source, P1, Options(retain_safe_private=True)))
    kept = {int(e.tag): e.value for e in out if e.tag.is_private}
    assert set(kept) == {0x00190010, 0x00191023, 0x00191024, 0x00191027, 0x00430010, 0x00431027}
    assert kept[0x00191023] == source[0x00191023].value and kept[0x00190010] == "GEMS_ACQU_01"
    assert not any(e.tag.is_private for e in read_back(deidentify(source, P1, Options())))


def test_an_allow_listed_element_under_another_creator_or_of_another_vr_is_removed():
    source = pydicom.dcmread(path("MR_small.dcm"))
    source.private_block(0x0019, "NOT GE", create=True).add_new(0x23, "DS", "5.0")
    source.private_block(0x0043, "GEMS_PARM_01", create=True).add_new(0x27, "LT", PLANTED[0])
    out = read_back(deidentify(source, P1, Options(retain_safe_private=True)))
    assert not any(e.tag.is_private for e in out)


def test_overlays_and_curves_are_removed_whole():
    source = pydicom.dcmread(path("MR-SIEMENS-DICOM-WithOverlays.dcm"))
    assert any(e.tag.group & 0xFF00 == 0x6000 for e in source)
    source.add_new(0x50000010, "US", 2)
    source.add_new(0x50003000, "OW", b"\0\0")
    out = read_back(deidentify(source, P1, Options()))
    assert not any(e.tag.group & 0xFF00 in (0x5000, 0x6000) for e in out)


# -- UIDs --------------------------------------------------------------------------------------


def uids(dataset: Dataset, where: tuple = ()) -> dict[tuple, str]:
    """Every UID value at every depth, by its place: (tag, item, tag, ..., value number)."""
    found: dict[tuple, str] = {}
    for element in dataset:
        place = (*where, int(element.tag))
        if element.VR == "SQ":
            for number, item in enumerate(element.value):
                found.update(uids(item, (*place, number)))
        elif element.VR == "UI" and element.value:
            values = element.value if element.VM > 1 else [element.value]
            found.update({(*place, n): str(v) for n, v in enumerate(values)})
    return found


def test_uids_are_one_mapping_within_a_project_and_differ_between_projects():
    names = ["CT_small.dcm", "rtplan.dcm", "rtstruct.dcm", "rtdose.dcm", "test-SR.dcm"]
    mapping: dict[str, str] = {}
    renewed = set(table.basic_profile()[0])
    for name in names:
        source = pydicom.dcmread(path(name), force=True)
        one, two = read_back(deidentify(source, P1, Options())), deidentify(source, P2, Options())
        after = uids(one)
        for place, before in uids(source).items():
            if place not in after:
                continue
            new = after[place]
            assert mapping.setdefault(before, new) == new, "one original, one new UID"
            if before in pydicom.uid.UID_dictionary:
                assert new == before, "a well-known UID is kept"
            elif place[-2] in renewed:
                assert new != before and UID(new).is_valid and len(new) <= 64
        assert one.SOPInstanceUID != two.dataset.SOPInstanceUID
        assert one.file_meta.MediaStorageSOPInstanceUID == one.SOPInstanceUID
        assert one.SOPClassUID == source.SOPClassUID
    assert len(mapping) > 30
    assert len(set(mapping.values())) == len(mapping), "no two UIDs become one"


def test_a_reference_to_another_image_points_at_its_new_uid():
    first = pydicom.dcmread(path("CT_small.dcm"))
    second = pydicom.dcmread(path("CT_small.dcm"))
    second.SOPInstanceUID = generate_uid(entropy_srcs=["second"])
    item = Dataset()
    item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = (
        first.SOPClassUID,
        first.SOPInstanceUID,
    )
    second.ReferencedImageSequence = Sequence([item])
    new_first = deidentify(first, P1, Options()).dataset
    new_second = deidentify(second, P1, Options()).dataset
    (reference,) = new_second.ReferencedImageSequence
    assert reference.ReferencedSOPInstanceUID == new_first.SOPInstanceUID
    assert new_second.StudyInstanceUID == new_first.StudyInstanceUID
    assert new_second.SOPInstanceUID != new_first.SOPInstanceUID


# -- Dates -------------------------------------------------------------------------------------


def test_dates_move_by_one_shift_per_person_across_files_with_the_option():
    options = Options(retain_modified_dates=True)
    ct, mr = pydicom.dcmread(path("CT_small.dcm")), pydicom.dcmread(path("MR_small.dcm"))
    mr.PatientID = ct.PatientID.lower() + " "  # the same person, written another way
    ct.add_new(0x0008041F, "DT", "20040119101500")  # Study Update DateTime: not in the table
    one, two = deidentify(ct, P1, options), deidentify(mr, P1, options)
    assert one.date_shift_days == two.date_shift_days == P1.date_shift_days(ct.PatientID)
    days = one.date_shift_days
    assert days is not None and -3650 <= days <= -1
    for source, result in ((ct, one), (mr, two)):
        out = result.dataset
        for keyword in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
            if source.get(keyword):
                assert out[keyword].value == shift_dates(source[keyword].value, "DA", days)
                assert out[keyword].value != source[keyword].value
        assert out.StudyTime == source.StudyTime, "times are kept"
        assert out.PatientBirthDate == "", "the birth date is not a longitudinal date"
        assert out.LongitudinalTemporalInformationModified == "MODIFIED"
    assert one.dataset[0x0008041F].value == shift_dates("20040119101500", "DT", days)
    other = deidentify(ct, P2, options).date_shift_days
    assert other != days, "another project, another shift (fixed keys: not by chance)"


def test_without_the_option_dates_are_emptied_dummied_or_removed():
    source = pydicom.dcmread(path("CT_small.dcm"))
    source.add_new(0x0008041F, "DT", "20040119101500")
    result = deidentify(source, P1, Options())
    out = result.dataset
    assert result.date_shift_days is None
    assert out.StudyDate == "" and out.ContentDate == "19000101" and "AcquisitionDate" in out
    assert out.AcquisitionDate == "" and out[0x0008041F].value == ""
    assert out.LongitudinalTemporalInformationModified == "REMOVED"
    real = {str(e.value) for e in everything(source) if e.VR in ("DA", "DT") and e.value}
    assert not real & {str(e.value) for e in everything(out) if e.VR in ("DA", "DT")}


@pytest.mark.parametrize(
    ("value", "vr", "days", "moved"),
    [
        ("20040119", "DA", -1, "20040118"),
        ("20040301", "DA", -1, "20040229"),
        ("2004.01.19", "DA", -19, "20031231"),
        ("20040119101500.123+0100", "DT", -30, "20031220101500.123+0100"),
        ("200401", "DT", -1, "200312"),
        ("2004", "DT", -400, "2002"),
        (["20040119", "20040120"], "DA", -1, ["20040118", "20040119"]),
        ("20041340", "DA", -1, None),
        ("not a date", "DA", -1, None),
        ("2004+0100", "DT", -1, None),
    ],
)
def test_shifting_a_date(value, vr, days, moved):
    assert shift_dates(value, vr, days) == moved


# -- Marking, options, validity, determinism ---------------------------------------------------


METHODS = [
    (Options(), ["113100"]),
    (Options(clean_descriptors=True, retain_safe_private=True), ["113100", "113105", "113111"]),
    (ALL, ["113100", "113107", "113108", "113109", "113105", "113104", "113111", "113101"]),
]


@pytest.mark.parametrize(("options", "codes"), METHODS)
def test_the_output_says_how_it_was_de_identified(options, codes):
    out = read_back(deidentify(pydicom.dcmread(path("CT_small.dcm")), P1, options))
    assert out.PatientIdentityRemoved == "YES"
    said = [(i.CodeValue, i.CodingSchemeDesignator) for i in out.DeidentificationMethodCodeSequence]
    assert said == [(code, "DCM") for code in codes]
    method = out["DeidentificationMethod"]
    lines = list(method.value) if method.VM > 1 else [method.value]
    assert lines == list(options.method_text()) and "2024b" in lines[0]
    assert len(lines) == len(codes)
    meta = out.file_meta
    assert meta.ImplementationClassUID == writing.IMPLEMENTATION_CLASS_UID
    assert "SourceApplicationEntityTitle" not in meta


def test_the_implementation_uid_is_the_documented_one():
    name = uuid.uuid5(uuid.NAMESPACE_URL, "urn:fivesafes:dicom:implementation")
    assert f"2.25.{name.int}" == writing.IMPLEMENTATION_CLASS_UID


def test_options_keep_and_clean_what_they_say():
    source = pydicom.dcmread(path("CT_small.dcm"))
    source.PatientAge, source.SeriesDescription, source.StationName = "042Y", PLANTED[4], "CT01"
    basic = deidentify(source, P1, Options()).dataset
    assert "PatientAge" not in basic and "SeriesDescription" not in basic
    assert basic.StationName == "ANONYMOUS"
    chosen = Options(
        retain_patient_characteristics=True, clean_descriptors=True, retain_device_identity=True
    )
    out = deidentify(source, P1, chosen).dataset
    assert out.PatientAge == "042Y" and out.PatientSex == source.PatientSex
    assert out.SeriesDescription == ""
    assert out.StationName == "CT01"


def test_clean_structured_content_keeps_codes_and_numbers_and_drops_words():
    source = pydicom.dcmread(path("test-SR.dcm"))
    cleaned = deidentify(source, P1, Options(clean_structured_content=True)).dataset
    dummied = deidentify(source, P1, Options()).dataset
    before, after = content(source), content(cleaned)
    texts = [e for e in after if e.keyword == "TextValue"]
    assert texts and all(t.value == "" for t in texts)
    codes_before = [e.value for e in before if e.keyword in ("CodeValue", "CodeMeaning")]
    assert [e.value for e in after if e.keyword in ("CodeValue", "CodeMeaning")] == codes_before
    numbers = [e.value for e in before if e.keyword == "NumericValue"]
    assert [e.value for e in after if e.keyword == "NumericValue"] == numbers
    in_dummy = [e for e in content(dummied) if e.keyword in ("TextValue", "CodeValue")]
    assert in_dummy and all(e.value == "ANONYMOUS" for e in in_dummy)
    relations = [e.value for e in before if e.keyword == "RelationshipType"]
    assert [e.value for e in content(dummied) if e.keyword == "RelationshipType"] == relations


def content(report: Dataset) -> list[DataElement]:
    """Every element of an SR document's content tree."""
    return [e for item in report.ContentSequence for e in everything(item)]


@pytest.mark.parametrize("name", ["CT_small.dcm", "test-SR.dcm", "rtplan.dcm"])
def test_a_second_run_writes_the_same_bytes(tmp_path, name):
    first, second = tmp_path / "first.dcm", tmp_path / "second.dcm"
    deidentify_file(path(name), first, P1, ALL)
    deidentify_file(path(name), second, P1, ALL)
    assert first.read_bytes() == second.read_bytes()
    assert not list(tmp_path.glob(".*.part"))


def local_test_files() -> list[Path]:
    """pydicom's test files and pydicom-data's, as installed (``get_testdata_files`` would try
    to download the rest, which takes seconds and needs a network)."""
    sources = data_manager.external_data_sources().values()
    roots = [Path(data_manager.DATA_ROOT), *(Path(s.data_path) for s in sources)]
    return sorted({p for root in roots for p in root.rglob("*.dcm")})


@pytest.mark.parametrize("options", [Options(), ALL], ids=["basic", "all options"])
def test_every_pydicom_test_file_is_de_identified_or_refused_in_words(tmp_path, options):
    """A file is written, valid and readable, or refused for what it lacks: never refused
    because the engine could not write what it made."""
    done, refused = 0, {}
    for name in local_test_files():
        try:
            result = deidentify_file(name, tmp_path / "out.dcm", P1, options)
        except DeidError as error:
            refused[name.name] = (error.reason, error.message)
            continue
        out = pydicom.dcmread(tmp_path / "out.dcm")
        source = pydicom.dcmread(name, force=True)
        if not result.actions["pixels_cleaned"]:
            assert out.file_meta.TransferSyntaxUID == writing._transfer_syntax(source)
        for keyword in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "Modality"):
            if source.get(keyword):
                assert out[keyword].value, f"{name.name}: {keyword}"
        assert result.dataset.SOPInstanceUID == out.SOPInstanceUID
        theirs = io.BytesIO()  # the engine's writer against pydicom's, element by element
        pydicom.dcmwrite(theirs, result.dataset, enforce_file_format=True)
        assert pydicom.dcmread(io.BytesIO(theirs.getvalue())) == out, name.name
        done += 1
    assert done > 140
    assert {reason for reason, _ in refused.values()} == {"no_sop_instance_uid"}
    assert all(message == engine.REASONS[reason] for reason, message in refused.values())
    assert "no_meta.dcm" in refused and len(refused) < 20


def test_a_file_that_is_not_dicom_or_has_no_sop_instance_uid_is_refused(tmp_path):
    noise = tmp_path / "noise.dcm"
    noise.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(DeidError) as refused:
        deidentify_file(noise, tmp_path / "out.dcm", P1, Options())
    assert refused.value.reason in ("unreadable", "no_sop_instance_uid")
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    with pytest.raises(DeidError):
        deidentify_file(empty, tmp_path / "out.dcm", P1, Options())
    source = planted()
    del source.SOPInstanceUID
    with pytest.raises(DeidError) as refused:
        deidentify(source, P1, Options())
    assert refused.value.reason == "no_sop_instance_uid"
    assert not any(value in refused.value.message for value in PLANTED)
    assert not (tmp_path / "out.dcm").exists()


# -- Keys --------------------------------------------------------------------------------------


def test_project_keys_are_keyed_per_project_and_never_shown():
    assert P1.secret != P2.secret and len(P1.secret) == 32
    assert P1.uid("1.2.3") == P1.uid("1.2.3") != P2.uid("1.2.3")
    assert (
        P1.patient_id("SYN-00000042")
        == P1.patient_id("syn 00000042")
        != P2.patient_id("SYN00000042")
    )
    shifts = {P1.date_shift_days(f"SYN{i:08d}") for i in range(2000)}
    assert min(shifts) >= -3650 and max(shifts) <= -1 and len(shifts) > 1000
    assert NODE_SECRET.hex() not in repr(P1) and P1.secret.hex() not in repr(P1)
    for original in ("1.2.3", "9" * 64):
        made = UID(P1.uid(original))
        assert made.startswith("2.25.") and made.is_valid and len(made) <= 64
    with pytest.raises(Exception, match="32 bytes"):
        ProjectKeys.derive(b"short", "p")


# -- Pixels ------------------------------------------------------------------------------------


def synthetic_ultrasound(burned_in: str = "YES") -> Dataset:
    """An image like the synthetic archive's ultrasound: 8x8 RGB, burned-in header band."""
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.6.1", "1.2.3.9"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3.7", "1.2.3.8"
    ds.Modality, ds.Manufacturer, ds.PatientID = "US", "GE Healthcare", "SYN00000042"
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 8, 8, 7
    ds.PixelRepresentation, ds.BurnedInAnnotation = 0, burned_in
    ds.PixelData = bytes(range(1, 193))
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    return ds


def test_a_known_burned_in_region_is_blanked_and_the_image_said_clean():
    source = synthetic_ultrasound()
    result = deidentify(source, P1, Options(clean_pixel_data=True))
    pixels = read_back(result).pixel_array
    assert (pixels[:2] == 0).all() and (pixels[2:] == source.pixel_array[2:]).all()
    assert result.dataset.BurnedInAnnotation == "NO" and result.actions["pixels_cleaned"] == 1
    untouched = deidentify(source, P1, Options()).dataset
    assert untouched.BurnedInAnnotation == "YES" and untouched.PixelData == source.PixelData


def test_the_phi_answer_keys_ultrasound_has_its_name_band_blanked(tmp_path):
    """The synthetic PHI archive's 512x512 ultrasound (phi_key) burns the patient's name and
    national number into rows 0-63: its rule blanks that band, and nothing else."""
    archive = write_phi_archive(tmp_path, files=12, seed=1).archive
    source = next(
        ds
        for ds in map(pydicom.dcmread, sorted(archive.rglob("*.dcm")))
        if ds.Modality == "US" and ds.BurnedInAnnotation == "YES"
    )
    before = source.pixel_array
    assert len(np.unique(before[:64])) > 1, "the band holds text to blank"
    result = deidentify(source, P1, Options(clean_pixel_data=True))
    out = read_back(result)
    after = out.pixel_array
    assert after.shape == (512, 512) and len(np.unique(after[:64])) == 1
    assert (after[64:] == before[64:]).all()
    assert out.BurnedInAnnotation == "NO" and result.actions["pixels_cleaned"] == 1


def test_an_image_flagged_burned_in_that_no_rule_knows_is_not_claimed_clean():
    source = pydicom.dcmread(path("CT_small.dcm"))
    source.BurnedInAnnotation = "YES"
    result = deidentify(source, P1, Options(clean_pixel_data=True))
    assert result.dataset.BurnedInAnnotation == "YES"
    assert result.actions["pixels_unmatched"] == 1 and not result.actions["pixels_cleaned"]
    assert result.dataset.PixelData == source.PixelData


def test_compressed_pixels_are_blanked_and_written_uncompressed(tmp_path):
    name = path("US1_J2KR.dcm")  # GE ultrasound, 640x480, JPEG 2000
    deidentify_file(name, tmp_path / "out.dcm", P1, Options(clean_pixel_data=True))
    out, original = pydicom.dcmread(tmp_path / "out.dcm"), pydicom.dcmread(name)
    assert out.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert out.PhotometricInterpretation == "RGB" and out.BurnedInAnnotation == "NO"
    pixels, before = out.pixel_array, original.pixel_array
    assert (pixels[:48] == 0).all() and (pixels[48:] == before[48:]).all()
    kept = deidentify_file(name, tmp_path / "kept.dcm", P1, Options())
    assert kept.dataset.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID


def test_every_frame_is_blanked():
    source = pydicom.dcmread(path("OBXXXX1A_2frame.dcm"))  # ultrasound 800x600, 2 frames
    out = read_back(deidentify(source, P1, Options(clean_pixel_data=True)))
    assert out.pixel_array.shape[0] == 2 and (out.pixel_array[:, :60] == 0).all()
    assert (out.pixel_array[:, 60:] == source.pixel_array[:, 60:]).all()


def test_pixels_that_cannot_be_decoded_are_refused_not_passed_on():
    source = synthetic_ultrasound()
    source.Rows, source.Columns = 480, 640
    source.file_meta.TransferSyntaxUID = JPEGLSLossless
    source.PixelData = encapsulate([b"\xff\xd8 not JPEG-LS \xff\xd9"])
    source["PixelData"].VR = "OB"
    with pytest.raises(DeidError) as refused:
        deidentify(source, P1, Options(clean_pixel_data=True))
    assert refused.value.reason == "pixels_not_decodable"
    assert deidentify(source, P1, Options()).dataset.BurnedInAnnotation == "YES"


def test_the_shipped_region_rules_lie_inside_their_images():
    from fivesafes.imaging.deid.pixels import shipped_rules

    rules = shipped_rules()
    assert any(r.modality == "US" and r.rows == 8 for r in rules)
    assert sum(r.rows in (480, 600) and r.manufacturer is None for r in rules) == 2
    assert all(r.source for r in rules)
