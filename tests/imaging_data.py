"""Test data for the imaging index: hand-made DICOM files with exactly the values a test needs,
and a small synthetic node (an OMOP CDM with pseudonyms, a pseudonym key, and the synthetic
archive consistent with it)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from fivesafes.data.synth import generate
from fivesafes.imaging import encoding
from fivesafes.imaging.index import IndexOptions, index_archive
from fivesafes.imaging.report import IndexReport
from fivesafes.imaging.rules import load_rules
from fivesafes.imaging.synth import SynthReport, link_persons, write_archive
from fivesafes.node.pseudonyms import create_key, load_key, pseudonym
from fivesafes.protocol.errors import InvalidRequest

TODAY = date(2025, 6, 1)  # "today" for the rule on future dates: tests do not depend on the clock
CT = "1.2.840.10008.5.1.4.1.1.2"


def image_values(**values: encoding.Value) -> dict[str, encoding.Value]:
    """A small CT image's elements; ``values`` replace or add (None leaves one out)."""
    base: dict[str, encoding.Value] = {
        "SpecificCharacterSet": "ISO_IR 100",
        "ImageType": "ORIGINAL\\PRIMARY\\AXIAL",
        "SOPClassUID": CT,
        "SOPInstanceUID": "2.25.1001",
        "StudyDate": "20200102",
        "SeriesDate": "20200102",
        "Modality": "CT",
        "Manufacturer": "TEST",
        "StudyDescription": "CT CHEST",
        "SeriesDescription": "AXIAL",
        "PatientName": "TEST^PATIENT",
        "PatientID": "P0001",
        "PatientBirthDate": "19600101",
        "SliceThickness": "2.5",
        "KVP": "120",
        "StudyInstanceUID": "2.25.1",
        "SeriesInstanceUID": "2.25.11",
        "SeriesNumber": "1",
        "InstanceNumber": "1",
        "BurnedInAnnotation": "NO",
        "Rows": 2,
        "Columns": 2,
        "BitsAllocated": 16,
        "BitsStored": 12,
        "HighBit": 11,
        "PixelRepresentation": 0,
        "SamplesPerPixel": 1,
        "PhotometricInterpretation": "MONOCHROME2",
        "PixelData": bytes(8),
    }
    base.update(values)
    return {k: v for k, v in base.items() if v is not None}


def write_image(path: Path, *, bare: bool = False, **values: encoding.Value) -> Path:
    """Write one DICOM file (a Part 10 file, or ``bare``: an implicit VR data set alone)."""
    elements = image_values(**values)
    data = encoding.Template.of(elements, implicit=bare).render()
    if not bare:
        sop = str(elements.get("SOPInstanceUID", "2.25.0"))
        data = encoding.file_meta(str(elements.get("SOPClassUID", CT)), sop) + data
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def pseudonymiser(key: bytes):
    def pseudonym_of(patient_id: str) -> str | None:
        try:
            return pseudonym(patient_id, key)
        except InvalidRequest:
            return None

    return pseudonym_of


@dataclass
class SynthNode:
    """A node's data made for a test: its CDM, key, archive and ground truth."""

    root: Path
    omop: Path  # the pristine CDM with pseudonyms: copy it before indexing into it
    key: bytes
    archive: Path
    truth: Path
    made: SynthReport

    def fresh_database(self, name: str) -> Path:
        target = self.root / f"{name}.duckdb"
        shutil.copy(self.omop, target)
        return target

    def index(
        self, database: Path, headers: Path, paths: list[Path] | None = None, **options
    ) -> IndexReport:
        return index_archive(
            paths or [self.archive],
            database=database,
            header_store=headers,
            rules=load_rules(),
            pseudonym_of=pseudonymiser(self.key),
            options=IndexOptions(today=TODAY, **options),
        )


def synth_node(
    root: Path, persons: int = 150, persons_limit: int | None = 90, seed: int = 7
) -> SynthNode:
    """An OMOP CDM of ``persons`` (``seed``) with pseudonyms, and the archive of the first
    ``persons_limit`` persons (a few hundred files)."""
    root.mkdir(parents=True, exist_ok=True)
    omop = root / "omop.duckdb"
    generate(omop, persons=persons, seed=seed)
    key_file = root / "pseudonym.key"
    create_key(key_file)
    key = load_key(key_file)
    link_persons(omop, lambda value: pseudonym(value, key))
    made = write_archive(omop, root / "dicom", seed=3, persons_limit=persons_limit)
    return SynthNode(root, omop, key, made.archive, made.truth, made)
