"""The archive of the de-identification answer key (:mod:`.phi_key`): which studies, series and
files its invented people (:mod:`.phi_people`) have, and the writing of each file with its
protected health information planted in known places, each planted value reported to the key
as the check it calls for (:class:`KeyChecks`).

Each person has two or three studies at their hospital, months apart. Studies rotate through
CT (two series, with a secondary capture dose report, 512 x 512, in some), ultrasound (512 x
512, mostly with burned-in text), MR and CR, and every other study has a Basic Text SR report
whose evidence is the study's images. Every fourth study names the person in its description,
every fifth series their national number; a third of the images name them in ImageComments,
and half the images and every report carry an invented RIS vendor's private block.

Beside the patient's and the staff's names and numbers, a file holds: the request attributes,
two sequences deep, and references to the patient; private elements of two scanner vendors
(GE, Siemens) and the RIS; for an SR, history, findings and impression naming the person and
dating the last study; for a 512 x 512 image, speckle (ultrasound) or a dose table (secondary
capture), with the person's name and number drawn in a black band at the top when the series
is flagged BurnedInAnnotation YES; for any other image, 12-bit noise. UIDs are derived from
the seed with BLAKE2b under the 2.25 root, and the pixels from the instance's UID: the same
seed writes the same bytes.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import Tag
from pydicom.uid import UID, ExplicitVRLittleEndian

from fivesafes.imaging.deid.phi_people import Person, invent_doctor, invent_person, unique


def name_needles(pn: str) -> tuple[str, ...]:
    """A person name's needles: each of its name parts, so that ``Gantholt^Zelwyn``, ``Zelwyn
    Gantholt`` and ``GANTHOLT Z`` all betray the family name (as written: the key normalises
    every needle)."""
    return tuple(part for part in re.split(r"[\^ ]", pn)[:2] if part)


def words(day: date) -> str:
    """A date as a person writes it in text, 12/03/1961."""
    return day.strftime("%d/%m/%Y")


# ---- the plan: people, studies, series, files ------------------------------------------------


def uid(*parts: object) -> str:
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=15).digest()
    return "2.25." + str(int.from_bytes(digest, "big"))


_STUDY_KINDS = ("CT", "US", "MR", "CR")
_BASE = {"CT": "CT CHEST WITH CONTRAST", "US": "US ABDOMEN", "MR": "MR BRAIN", "CR": "XR CHEST"}


@dataclass(frozen=True)
class Study:
    person: Person
    kind: str
    day: date
    previous: date | None
    uid: str
    accession: str
    study_id: str
    request_id: str
    step_id: str
    staff: tuple[str, str, str, str]  # referring, performing, operator, requesting (PN)
    description: str
    phi_description: bool

    def identifiers(self) -> tuple[str, ...]:
        return (self.accession, self.study_id, self.request_id, self.step_id)


@dataclass(frozen=True)
class Series:
    modality: str
    uid: str
    number: int
    description: str
    phi_description: bool
    burned_in: bool = False
    size: int = 64
    station: str = ""
    serial: str = ""


@dataclass(frozen=True)
class Planned:
    path: str
    study: Study
    series: Series
    instance: int
    sop_uid: str
    comments: bool  # ImageComments naming the person
    ris_block: bool  # the invented RIS vendor's private block
    evidence: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()  # SR: series, images


@dataclass
class Plan:
    people: list[Person] = field(default_factory=list)
    staff: list[str] = field(default_factory=list)
    files: list[Planned] = field(default_factory=list)


def plan_archive(files: int, seed: int) -> Plan:
    """Who has which study, series and file: persons until ``files`` files are planned (the
    last study cut short when it overflows)."""
    rng = random.Random(f"{seed}/phi-key")
    plan, used = Plan(), set[str]()
    plan.staff = [invent_doctor(rng, used) for _ in range(9)]
    studies = series_count = 0
    while len(plan.files) < files:
        person = invent_person(rng, used)
        plan.people.append(person)
        day, previous = date(2012, 1, 1) + timedelta(days=rng.randint(0, 3000)), None
        for _ in range(rng.choice((2, 2, 3))):
            kind = _STUDY_KINDS[studies % len(_STUDY_KINDS)]
            phi = studies % 4 == 1
            description = _BASE[kind] + (f" {person.given} {person.family}" if phi else "")
            study = Study(
                person, kind, day, previous, uid(seed, "study", len(plan.people), studies),
                unique(used, lambda: f"ACC{rng.randint(0, 99_999_999):08d}"),
                unique(used, lambda: f"ST{rng.randint(0, 999_999):06d}"),
                unique(used, lambda: f"RP{rng.randint(0, 9_999_999):07d}"),
                unique(used, lambda: f"SPS{rng.randint(0, 9_999_999):07d}"),
                (rng.choice(plan.staff), rng.choice(plan.staff), rng.choice(plan.staff),
                 rng.choice(plan.staff)),
                description, phi,
            )  # fmt: skip
            planned: list[Planned] = []
            for number, (modality, count, burned, size) in enumerate(
                _series_of(kind, studies, rng), 1
            ):
                series_count += 1
                phi_series = series_count % 5 == 2
                text = f"{modality} SERIES {number}" + (
                    f" {person.site.scheme} {person.national}" if phi_series else ""
                )
                series = Series(
                    modality, uid(study.uid, number), number, text, phi_series, burned, size,
                    f"{person.site.code}-{modality}{number:02d}",
                    f"SN{person.site.code}{rng.randint(10_000, 99_999)}",
                )  # fmt: skip
                for instance in range(1, count + 1):
                    path = (
                        f"p{len(plan.people):04d}/s{studies:05d}/se{number:02d}/{instance:04d}.dcm"
                    )
                    n = len(plan.files) + len(planned)
                    planned.append(
                        Planned(path, study, series, instance, uid(series.uid, instance),
                                n % 3 == 0, n % 2 == 0)
                    )  # fmt: skip
            if studies % 2 == 0:
                planned.append(_report(study, planned, rng))
            plan.files.extend(planned)
            studies += 1
            previous, day = day, day + timedelta(days=rng.randint(60, 500))
    plan.files = plan.files[:files]
    return plan


def _series_of(kind: str, n: int, rng: random.Random) -> list[tuple[str, int, bool, int]]:
    """(modality, files, burned in, size) of each series of a study of this kind."""
    if kind == "CT":
        series = [("CT", rng.randint(3, 5), False, 64), ("CT", rng.randint(2, 4), False, 64)]
        return series + ([("SC", 1, True, 512)] if n // 4 % 2 == 0 else [])
    if kind == "MR":
        return [("MR", rng.randint(3, 4), False, 64), ("MR", rng.randint(2, 4), False, 64)]
    if kind == "US":
        return [("US", rng.randint(2, 4), rng.random() < 0.8, 512)]
    return [("CR", rng.randint(1, 2), False, 64)]


def _report(study: Study, images: list[Planned], rng: random.Random) -> Planned:
    """The study's Basic Text SR, its evidence the study's images series by series."""
    by_series: dict[str, list[tuple[str, str]]] = {}
    for p in images:
        by_series.setdefault(p.series.uid, []).append((SOP_CLASSES[p.series.modality], p.sop_uid))
    evidence = tuple((s, tuple(refs)) for s, refs in by_series.items())
    series = Series("SR", uid(study.uid, 99), 99, "REPORT", False)
    path = images[0].path.rsplit("/", 2)[0] + "/se99/0001.dcm"
    return Planned(path, study, series, 1, uid(series.uid, 1), False, True, evidence)


# ---- writing a file and its checks -----------------------------------------------------------

SOP_CLASSES = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "CR": "1.2.840.10008.5.1.4.1.1.1",
    "US": "1.2.840.10008.5.1.4.1.1.6.1",
    "SC": "1.2.840.10008.5.1.4.1.1.7",
    "SR": "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR
}
_MAKERS = {"CT": ("GE MEDICAL SYSTEMS", "Revolution CT"), "US": ("GE Healthcare", "LOGIQ E10"),
           "SC": ("GE MEDICAL SYSTEMS", "Revolution CT"), "MR": ("SIEMENS", "MAGNETOM Skyra"),
           "CR": ("SIEMENS", "Ysio Max"), "SR": ("ACME", "ACME RIS")}  # fmt: skip
_IMAGE_TYPE = {"SC": ["DERIVED", "SECONDARY", "OTHER"], "CT": ["ORIGINAL", "PRIMARY", "AXIAL"]}
_PATIENT_SOP = "1.2.840.10008.3.1.2.1.1"  # the retired Detached Patient Management SOP class


def tag_path(*parts: str | int) -> str:
    """A key's element path from keywords, item numbers and private tags:
    ``tag_path("RequestAttributesSequence", 0, "RequestingPhysician")`` is
    ``(0040,0275)[0].(0032,1032)``."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, int):
            out[-1] += f"[{part}]"
        elif part.startswith("("):
            out.append(part)
        else:
            tag = Tag(part)
            out.append(f"({tag.group:04X},{tag.element:04X})")
    return ".".join(out)


class KeyChecks(Protocol):
    """Where the checks of a file go as its values are planted, one method for each kind of
    check (the answer key, :mod:`.phi_key`, records them). Needles are given as written: the
    key normalises them."""

    def removed(self, path: str, role: str, value: str, needles: Iterable[str], *,
                whole: bool = True) -> None: ...  # fmt: skip
    def retained(self, path: str, role: str, value: str | float | list[float]) -> None: ...
    def date_shifted(self, path: str, role: str, value: str) -> None: ...
    def uid_changed(self, path: str, role: str, value: str) -> None: ...
    def patient_id(self, path: str, role: str, value: str, needles: Iterable[str]) -> None: ...
    def pixels_hidden(self, path: str, role: str, rect: tuple[int, int, int, int]) -> None: ...
    def pixels_retained(self, path: str, role: str) -> None: ...


class _Planting:
    """Values set in a file and, as each is set, the check it calls for told to the key."""

    def __init__(self, key: KeyChecks) -> None:
        self.key = key

    def phi(self, ds: Dataset, keyword: str, value: str, role: str, needles: Sequence[str],
            *within: str | int) -> None:  # fmt: skip
        """Set ``keyword`` of ``ds`` (an item found at ``within``), to be removed."""
        setattr(ds, keyword, value)
        self.key.removed(tag_path(*within, keyword), role, value, needles)

    def uid(self, ds: Dataset, keyword: str, value: str, *within: str | int) -> None:
        setattr(ds, keyword, value)
        self.key.uid_changed(tag_path(*within, keyword), keyword, value)

    def phrase(self, path: str, role: str, value: str, needles: Sequence[str]) -> None:
        """A phrase planted in free text: only its needles must go."""
        self.key.removed(path, role, value, needles, whole=False)


def write_file(path: Path, planned: Planned, key: KeyChecks) -> None:
    """Write one planned file, telling ``key`` the checks its planted values call for."""
    k, ds = _Planting(key), Dataset()
    study, series, person = planned.study, planned.series, planned.study.person
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = _IMAGE_TYPE.get(series.modality, ["ORIGINAL", "PRIMARY"])
    ds.SOPClassUID = SOP_CLASSES[series.modality]
    k.key.retained(tag_path("SOPClassUID"), "sop_class_uid", ds.SOPClassUID)
    k.uid(ds, "SOPInstanceUID", planned.sop_uid)
    _patient(ds, k, person, study)
    _study(ds, k, study, series.modality != "SR")
    ds.Modality = series.modality
    k.key.retained(tag_path("Modality"), "modality", series.modality)
    ds.Manufacturer, ds.ManufacturerModelName = _MAKERS[series.modality]
    k.uid(ds, "SeriesInstanceUID", series.uid)
    ds.SeriesNumber, ds.InstanceNumber = series.number, planned.instance
    ds.SeriesDescription = series.description
    if series.phi_description:
        k.phrase(tag_path("SeriesDescription"), "national_number_in_description",
                 person.national, [person.national])  # fmt: skip
    if planned.comments:
        ds.ImageComments = f"Patient {person.given} {person.family}, {person.site.scheme} " + (
            person.national
        )
        k.phrase(tag_path("ImageComments"), "name_in_comments", person.pn, name_needles(person.pn))
        k.phrase(tag_path("ImageComments"), "national_number_in_comments", person.national,
                 [person.national])  # fmt: skip
    if series.modality == "SR":
        _report_content(ds, k, planned)
    else:
        k.phi(ds, "StationName", series.station, "station_name", [series.station])
        k.phi(ds, "DeviceSerialNumber", series.serial, "device_serial_number",
              [series.serial])  # fmt: skip
        k.phi(ds, "PerformingPhysicianName", study.staff[1], "performing_physician",
              name_needles(study.staff[1]))  # fmt: skip
        k.phi(ds, "OperatorsName", study.staff[2], "operator", name_needles(study.staff[2]))
        _pixels(ds, k, planned)
    _private(ds, k, planned)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(SOP_CLASSES[series.modality])
    ds.file_meta.MediaStorageSOPInstanceUID = UID(planned.sop_uid)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    k.key.uid_changed("(0002,0003)", "MediaStorageSOPInstanceUID", planned.sop_uid)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def _patient(ds: Dataset, k: _Planting, p: Person, study: Study) -> None:
    k.phi(ds, "PatientName", p.pn, "patient_name", name_needles(p.pn))
    ds.PatientID = p.patient_id
    k.key.patient_id(tag_path("PatientID"), "patient_id", p.patient_id, [p.patient_id])  # fmt: skip
    birth = p.birth.strftime("%Y%m%d")
    k.phi(ds, "PatientBirthDate", birth, "patient_birth_date", [birth])
    k.phi(ds, "PatientSex", "F" if p.female else "M", "patient_sex", [])
    age = (study.day - p.birth).days // 365
    k.phi(ds, "PatientAge", f"{age:03d}Y", "patient_age", [])
    k.phi(ds, "PatientWeight", f"{50 + int(p.patient_id[-2:]) / 2:.1f}", "patient_weight", [])
    street = p.address.split(",")[0]
    k.phi(ds, "PatientAddress", p.address, "patient_address",
          [street, p.postcode])  # fmt: skip
    k.phi(ds, "PatientTelephoneNumbers", p.phone, "patient_telephone", [p.phone])
    other = Dataset()
    other.IssuerOfPatientID, other.TypeOfPatientID = p.site.scheme, "TEXT"
    ds.OtherPatientIDsSequence = [other]
    k.phi(other, "PatientID", p.national_digits, "national_number",
          [p.national], "OtherPatientIDsSequence", 0)  # fmt: skip
    ds.ReferencedPatientSequence = [_patient_reference(k, p, "ReferencedPatientSequence", 0)]


def _patient_reference(k: _Planting, p: Person, *within: str | int) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = _PATIENT_SOP
    k.phi(item, "ReferencedSOPInstanceUID", uid(p.patient_id, "patient"), "patient_record_uid",
          [], *within)  # fmt: skip
    k.phi(item, "PatientName", p.pn, "patient_name_nested", name_needles(p.pn), *within)
    k.phi(item, "PatientID", p.patient_id, "patient_id_nested", [p.patient_id],
          *within)  # fmt: skip
    return item


def _study(ds: Dataset, k: _Planting, study: Study, image: bool) -> None:
    p, site = study.person, study.person.site
    k.uid(ds, "StudyInstanceUID", study.uid)
    day = study.day.strftime("%Y%m%d")
    for keyword in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
        if image or keyword != "AcquisitionDate":
            setattr(ds, keyword, day)
            k.key.date_shifted(tag_path(keyword), keyword, day)
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "101500"
    k.phi(ds, "AccessionNumber", study.accession, "accession_number", [study.accession])
    k.phi(ds, "StudyID", study.study_id, "study_id", [study.study_id])
    k.phi(ds, "InstitutionName", site.name, "institution_name", [site.name])
    k.phi(ds, "InstitutionAddress", f"{site.address}, {site.town}, {site.postcode}",
          "institution_address", [site.address, site.postcode])  # fmt: skip
    k.phi(ds, "ReferringPhysicianName", study.staff[0], "referring_physician",
          name_needles(study.staff[0]))  # fmt: skip
    ds.StudyDescription = study.description
    if study.phi_description:
        k.phrase(tag_path("StudyDescription"), "name_in_description", p.pn, name_needles(p.pn))
    request, where = Dataset(), ("RequestAttributesSequence", 0)
    ds.RequestAttributesSequence = [request]
    request.RequestedProcedureDescription = _BASE[study.kind]
    _request(request, k, study, *where)
    k.phi(request, "ScheduledProcedureStepID", study.step_id, "scheduled_step_id",
          [study.step_id], *where)  # fmt: skip
    request.ReferencedPatientSequence = [
        _patient_reference(k, p, *where, "ReferencedPatientSequence", 0)
    ]


def _request(item: Dataset, k: _Planting, study: Study, *where: str | int) -> None:
    k.phi(item, "AccessionNumber", study.accession, "accession_number_nested",
          [study.accession], *where)  # fmt: skip
    k.phi(item, "RequestedProcedureID", study.request_id, "requested_procedure_id",
          [study.request_id], *where)  # fmt: skip
    k.phi(item, "RequestingPhysician", study.staff[3], "requesting_physician",
          name_needles(study.staff[3]), *where)  # fmt: skip


def _report_content(ds: Dataset, k: _Planting, planned: Planned) -> None:
    """A Basic Text SR: history naming the person, findings, an impression dating the last
    study; its evidence (the study's images) and the request it answers."""
    study, p = planned.study, planned.study.person
    ds.ValueType, ds.ContinuityOfContent = "CONTAINER", "SEPARATE"
    ds.CompletionFlag, ds.VerificationFlag = "COMPLETE", "UNVERIFIED"
    ds.ConceptNameCodeSequence = [_code("18748-4", "LN", "Diagnostic imaging report")]
    referrer = study.staff[0].split("^")
    history = (
        f"{p.given} {p.family} ({p.site.scheme} {p.national}, DOB {words(p.birth)}) "
        f"referred by Dr {referrer[1]} {referrer[0]}."
    )
    impression = (
        f"Compared with the study of {words(study.previous)}: no change."
        if study.previous
        else "No previous imaging for comparison."
    )
    texts = (("121060", "History", history), ("121071", "Finding", "No focal abnormality."),
             ("121073", "Impression", impression))  # fmt: skip
    ds.ContentSequence = [_text_item(*t) for t in texts]
    where = tag_path("ContentSequence", 0, "TextValue")
    k.phrase(where, "name_in_text", p.pn, name_needles(p.pn))
    k.phrase(where, "national_number_in_text", p.national, [p.national])
    k.phrase(where, "birth_date_in_text", words(p.birth), [words(p.birth)])
    k.phrase(where, "referrer_in_text", study.staff[0], name_needles(study.staff[0]))
    if study.previous:
        k.phrase(tag_path("ContentSequence", 2, "TextValue"), "date_in_text",
                 words(study.previous), [words(study.previous)])  # fmt: skip
    evidence = Dataset()
    ds.CurrentRequestedProcedureEvidenceSequence = [evidence]
    top = ("CurrentRequestedProcedureEvidenceSequence", 0)
    k.uid(evidence, "StudyInstanceUID", study.uid, *top)
    evidence.ReferencedSeriesSequence = []
    for i, (series_uid, images) in enumerate(planned.evidence):
        series = Dataset()
        evidence.ReferencedSeriesSequence.append(series)
        k.uid(series, "SeriesInstanceUID", series_uid, *top, "ReferencedSeriesSequence", i)
        series.ReferencedSOPSequence = []
        for j, (sop_class, sop_uid) in enumerate(images):
            image = Dataset()
            series.ReferencedSOPSequence.append(image)
            image.ReferencedSOPClassUID = sop_class
            k.uid(image, "ReferencedSOPInstanceUID", sop_uid, *top, "ReferencedSeriesSequence",
                  i, "ReferencedSOPSequence", j)  # fmt: skip
    request = Dataset()
    ds.ReferencedRequestSequence = [request]
    k.uid(request, "StudyInstanceUID", study.uid, "ReferencedRequestSequence", 0)
    request.RequestedProcedureDescription = _BASE[study.kind]
    _request(request, k, study, "ReferencedRequestSequence", 0)


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = value, scheme, meaning
    return code


def _text_item(value: str, meaning: str, text: str) -> Dataset:
    item = Dataset()
    item.RelationshipType, item.ValueType = "CONTAINS", "TEXT"
    item.ConceptNameCodeSequence = [_code(value, "DCM", meaning)]
    item.TextValue = text
    return item


def _private(ds: Dataset, k: _Planting, planned: Planned) -> None:
    """Private elements of two scanner vendors and an invented RIS, some naming the person."""
    p, modality = planned.study.person, planned.series.modality

    def put(group: int, creator: str, offset: int, vr: str, value: str, role: str,
            needles: Sequence[str]) -> None:  # fmt: skip
        ds.private_block(group, creator, create=True).add_new(offset, vr, value)
        k.key.removed(f"({group:04X},{0x1000 + offset:04X})", role, value, needles)  # fmt: skip

    if modality in ("CT", "US", "SC"):
        put(0x0009, "GEMS_IDEN_01", 0x10, "LO", f"{p.family}, {p.given}", "private_name",
            name_needles(p.pn))  # fmt: skip
        put(0x0009, "GEMS_IDEN_01", 0x11, "LO", p.patient_id, "private_patient_id",
            [p.patient_id])  # fmt: skip
        put(0x0009, "GEMS_IDEN_01", 0x20, "LO", "SUITE 4", "private_other", [])
    elif modality in ("MR", "CR"):
        put(0x0019, "SIEMENS MED", 0x08, "LO", "IMAGE NUM 4", "private_other", [])
        put(0x0019, "SIEMENS MED", 0x10, "LO", p.national_digits, "private_national_number",
            [p.national])  # fmt: skip
    if planned.ris_block:
        referrer = planned.study.staff[0]
        put(0x0029, "ACME RIS 2.0", 0x10, "LO", "Dr " + " ".join(referrer.split("^")[1::-1]),
            "private_referrer", name_needles(referrer))  # fmt: skip
        note = f"Booked for {p.given} {p.family}, DOB {words(p.birth)}"
        put(0x0029, "ACME RIS 2.0", 0x20, "LT", note, "private_note_name", name_needles(p.pn))
        k.key.removed("(0029,1020)", "private_note_birth_date", words(p.birth),
                      [words(p.birth)])  # fmt: skip


def _pixels(ds: Dataset, k: _Planting, planned: Planned) -> None:
    series = planned.series
    rng = np.random.default_rng(int(planned.sop_uid.rsplit(".", 1)[1]) % 2**63)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows = ds.Columns = series.size
    ds.PixelRepresentation = 0
    k.key.retained(tag_path("Rows"), "rows", series.size)
    k.key.retained(tag_path("Columns"), "columns", series.size)
    ds.BurnedInAnnotation = "YES" if series.burned_in else "NO"
    if series.size == 512:
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit = 7
        pixels, rect = _picture(planned, rng)
        ds.PixelData = pixels.tobytes()
        if rect:
            k.key.pixels_hidden("(7FE0,0010)", "burned_in_text", rect)
        else:
            k.key.pixels_retained("(7FE0,0010)", "pixel_data")
        return
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelData = rng.integers(0, 4096, (series.size, series.size), dtype=np.uint16).tobytes()
    k.key.pixels_retained("(7FE0,0010)", "pixel_data")
    if series.modality in ("CT", "MR"):
        spacing = [0.7, 0.7] if series.modality == "CT" else [0.9375, 0.9375]
        thickness = 1.25 if series.modality == "CT" else 5.0
        ds.PixelSpacing, ds.SliceThickness = spacing, thickness
        k.key.retained(tag_path("PixelSpacing"), "pixel_spacing", spacing)
        k.key.retained(tag_path("SliceThickness"), "slice_thickness", thickness)
        k.uid(ds, "FrameOfReferenceUID", uid(planned.study.uid, "frame", series.number))


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _picture(
    planned: Planned, rng: np.random.Generator
) -> tuple[np.ndarray[Any, Any], tuple[int, int, int, int] | None]:
    """A 512 x 512 picture: speckle (ultrasound) or a dose table (secondary capture), and when
    the series has burned-in text, the person's name and number in a black band at the top;
    the text's rectangle, padded by 3 pixels."""
    p = planned.study.person
    pixels = rng.integers(10, 200, (512, 512), dtype=np.uint8)
    if planned.series.modality == "SC":
        pixels[:] = 30
    if not planned.series.burned_in:
        return pixels, None
    pixels[:64] = 0
    image = Image.fromarray(pixels, "L")
    draw, font = ImageDraw.Draw(image), _font(22)
    boxes = []
    for y, line in ((8, f"{p.given} {p.family}".upper()), (34, f"{p.site.scheme} {p.national}")):
        draw.text((12, y), line, fill=255, font=font)
        boxes.append(draw.textbbox((12, y), line, font=font))
    if planned.series.modality == "SC":
        for n, line in enumerate(("Total DLP 412 mGy.cm", "CTDIvol 8.1 mGy")):
            draw.text((40, 120 + 40 * n), line, fill=220, font=font)
    x0, y0 = int(min(b[0] for b in boxes)) - 3, int(min(b[1] for b in boxes)) - 3
    x1, y1 = int(max(b[2] for b in boxes)) + 3, int(max(b[3] for b in boxes)) + 3
    return np.asarray(image), (max(x0, 0), max(y0, 0), min(x1, 512), min(y1, 61))
