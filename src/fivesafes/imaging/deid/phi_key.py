"""An answer key for DICOM de-identification: a synthetic archive with protected health
information planted in known places, and beside it every check a scorer must make of a tool's
output, one check per required action, in the manner of the MIDI-B challenge (the scorer is
:mod:`fivesafes.imaging.deid.score`).

The key is written for ONE option set, :data:`KEY_OPTIONS`: the Basic Application Level
Confidentiality Profile of DICOM PS3.15 Annex E with the Retain Longitudinal Temporal
Information with Modified Dates, Clean Pixel Data, Clean Descriptors and Clean Structured
Content options, and no other (no patient characteristics, device or institution identity,
UIDs or safe private elements retained). Under another option set some checks would be wrong.

Who is in it: invented people (:mod:`.phi_people`: names made of invented syllables, NHS
numbers in the 999 test range and CHI numbers with valid modulus-11 check digits, UK postcodes,
addresses, telephone numbers from Ofcom's drama ranges, birth dates), each with two or three
studies at one of three invented hospitals, months apart (:mod:`.phi_archive`: CT, ultrasound,
MR, CR, secondary capture and Basic Text SR files, some with burned-in text). What each file
holds, and so what the key checks:

- ``removed``: each planted identifying value (the patient's and staff's names, IDs, birth
  date, address, telephone, accession number, study ID, institution, station, serial number,
  patient sex, age and weight, private elements of three vendors, values two sequences deep,
  names and numbers written into descriptions, SR text and a private comment). A check lists
  the value's *needles*, its normalised words that must appear nowhere in the output file; for
  a phrase in free text (``whole`` false) only the needles count, otherwise the element must
  also be absent, empty or a different (dummy) value;
- ``retained``: SOPClassUID, Modality, Rows, Columns, PixelSpacing, SliceThickness;
- ``date_shifted``: StudyDate, SeriesDate, AcquisitionDate, ContentDate;
- ``uid_changed_consistent``: the study, series, instance, frame of reference and file meta
  UIDs, and the SR's references to the images of its study;
- ``patient_id_consistent``: PatientID, whose original value is also PHI to be found nowhere;
- ``pixels_hidden``: the rectangle of burned-in text (``rect``: x0, y0, x1, y1, ends
  excluded) in images flagged BurnedInAnnotation YES;
- ``pixels_retained``: the pixel data of every other image.

``answer-key.json`` beside ``archive/`` holds the option set, the seed and per file (its path
relative to ``archive/``, and ``person``, the original PatientID that consistency is judged by)
its checks. The planted values are in the key, as they must be; a score never needs them.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fivesafes.imaging.deid.options import Options
from fivesafes.imaging.deid.phi_archive import plan_archive, write_file

KEY_OPTIONS = Options(
    retain_modified_dates=True,
    retain_patient_characteristics=False,
    retain_device_identity=False,
    clean_descriptors=True,
    clean_structured_content=True,
    retain_safe_private=False,
    clean_pixel_data=True,
)
"""The one option set the answer key is right for: the Basic Profile, modified dates, cleaned
descriptors, structured content and pixel data."""

KEY_FILE = "answer-key.json"
ARCHIVE = "archive"
FORMAT = "fivesafes-phi-answer-key/1"
REMOVED, RETAINED, DATE_SHIFTED = "removed", "retained", "date_shifted"
UID_CHANGED, PATIENT_ID, HIDDEN, PIXELS_KEPT = (
    "uid_changed_consistent",
    "patient_id_consistent",
    "pixels_hidden",
    "pixels_retained",
)
KINDS = (REMOVED, RETAINED, DATE_SHIFTED, UID_CHANGED, PATIENT_ID, HIDDEN, PIXELS_KEPT)

Value = str | float | list[Any] | None


@dataclass(frozen=True)
class Check:
    """One action the key requires of one element of one file."""

    kind: str
    path: str  # "(0010,0010)", "(0040,0275)[0].(0032,1032)", a private "(0009,1010)"
    role: str  # what the planted value is, e.g. "patient_name", "nhs_number_in_text"
    value: Value = None  # the original value (retained, dates, UIDs, PatientID, removed)
    needles: tuple[str, ...] = ()  # normalised PHI words that must appear nowhere
    whole: bool = True  # the value is the element's whole value, not a phrase in its text
    rect: tuple[int, int, int, int] | None = None  # pixels_hidden: x0, y0, x1, y1

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "path": self.path, "role": self.role}
        if self.value is not None:
            out["value"] = self.value
        if self.needles:
            out["needles"] = list(self.needles)
        if not self.whole:
            out["whole"] = False
        if self.rect is not None:
            out["rect"] = list(self.rect)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Check:
        rect = data.get("rect")
        return cls(
            data["kind"],
            data["path"],
            data.get("role", ""),
            data.get("value"),
            tuple(data.get("needles", ())),
            bool(data.get("whole", True)),
            (rect[0], rect[1], rect[2], rect[3]) if rect else None,
        )


@dataclass(frozen=True)
class FileKey:
    """The checks of one file: its path relative to the archive, and whose file it is."""

    file: str
    person: str  # the original PatientID: the unit of consistency for dates and IDs
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class AnswerKey:
    options: dict[str, bool]
    seed: int
    files: tuple[FileKey, ...]

    @property
    def checks(self) -> int:
        return sum(len(f.checks) for f in self.files)


@dataclass
class KeyReport:
    """What :func:`write_phi_archive` wrote; ``people`` and ``staff`` are the invented
    identities, for tests that look for planted values without a check."""

    archive: Path
    key: Path
    files: int = 0
    studies: int = 0
    burned_in: int = 0
    seconds: float = 0.0
    checks: Counter[str] = field(default_factory=Counter)
    modalities: Counter[str] = field(default_factory=Counter)
    people: list[dict[str, str]] = field(default_factory=list)
    staff: list[str] = field(default_factory=list)
    identifiers: list[str] = field(default_factory=list)  # accession, study and request IDs


_NOT_WORD = re.compile(r"[^A-Z0-9.]")


def normalise(text: str) -> str:
    """Text as the key's needles are written and the scorer searches: upper case, only letters,
    digits and dots kept (``Quenbury^Zelwyn`` -> ``QUENBURYZELWYN``, ``999 123 4567`` ->
    ``9991234567``); a dot is kept so that a UID's parts stay apart."""
    return _NOT_WORD.sub("", text.upper())


def write_key(path: Path, options: Options, seed: int, files: list[FileKey]) -> None:
    document = {
        "format": FORMAT,
        "options": asdict(options),
        "seed": seed,
        "files": [
            {"file": f.file, "person": f.person, "checks": [c.as_json() for c in f.checks]}
            for f in files
        ],
    }
    path.write_text(json.dumps(document, separators=(",", ":")), encoding="utf-8")


def load_key(path: Path) -> AnswerKey:
    """An answer key written by :func:`write_phi_archive` (the file, or the folder holding
    it); raises ValueError, in words, when it is not one."""
    if path.is_dir():
        path = path / KEY_FILE
    document = json.loads(path.read_text(encoding="utf-8"))
    if document.get("format") != FORMAT:
        raise ValueError(f"{path} is not a fivesafes answer key (format {FORMAT})")
    files = tuple(
        FileKey(f["file"], f["person"], tuple(Check.from_json(c) for c in f["checks"]))
        for f in document["files"]
    )
    return AnswerKey(dict(document["options"]), int(document["seed"]), files)


class _FileChecks:
    """The checks of one file in the order its values were planted (the
    :class:`~.phi_archive.KeyChecks` a file is written with), needles normalised."""

    def __init__(self) -> None:
        self.checks: list[Check] = []

    def _add(self, kind: str, path: str, role: str, value: Value = None,
             needles: Iterable[str] = (), whole: bool = True,
             rect: tuple[int, int, int, int] | None = None) -> None:  # fmt: skip
        self.checks.append(
            Check(kind, path, role, value, tuple(normalise(n) for n in needles), whole, rect)
        )

    def removed(self, path: str, role: str, value: str, needles: Iterable[str], *,
                whole: bool = True) -> None:  # fmt: skip
        self._add(REMOVED, path, role, value, needles, whole)

    def retained(self, path: str, role: str, value: str | float | list[float]) -> None:
        self._add(RETAINED, path, role, value)

    def date_shifted(self, path: str, role: str, value: str) -> None:
        self._add(DATE_SHIFTED, path, role, value)

    def uid_changed(self, path: str, role: str, value: str) -> None:
        self._add(UID_CHANGED, path, role, value)

    def patient_id(self, path: str, role: str, value: str, needles: Iterable[str]) -> None:
        self._add(PATIENT_ID, path, role, value, needles)

    def pixels_hidden(self, path: str, role: str, rect: tuple[int, int, int, int]) -> None:
        self._add(HIDDEN, path, role, rect=rect)

    def pixels_retained(self, path: str, role: str) -> None:
        self._add(PIXELS_KEPT, path, role)


def write_phi_archive(out: Path, *, files: int, seed: int) -> KeyReport:
    """Write ``files`` DICOM files with planted PHI under ``out/archive`` and their answer key
    to ``out/answer-key.json``; the same seed writes the same archive and key."""
    if files < 1:
        raise ValueError("an answer-key archive needs at least one file")
    started = time.perf_counter()
    archive = out / ARCHIVE
    archive.mkdir(parents=True, exist_ok=True)
    report = KeyReport(archive, out / KEY_FILE)
    plan = plan_archive(files, seed)
    keys: list[FileKey] = []
    for planned in plan.files:
        planted = _FileChecks()
        write_file(archive / planned.path, planned, planted)
        checks = planted.checks
        keys.append(FileKey(planned.path, planned.study.person.patient_id, tuple(checks)))
        report.checks.update(c.kind for c in checks)
        report.modalities[planned.series.modality] += 1
        report.burned_in += planned.series.burned_in
    write_key(report.key, KEY_OPTIONS, seed, keys)
    report.files = len(keys)
    report.studies = len({p.study.uid for p in plan.files})
    report.people = [p.identity() for p in plan.people]
    report.staff = list(plan.staff)
    report.identifiers = sorted({i for p in plan.files for i in p.study.identifiers()})
    report.seconds = time.perf_counter() - started
    return report
