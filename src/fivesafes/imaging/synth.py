"""A synthetic DICOM archive consistent with a synthetic OMOP CDM (``fivesafes synth omop``),
with its planted ground truth written beside it.

Who is imaged (docs/imaging.md, "The synthetic archive"):

- every chest CT procedure in the CDM (``procedure_occurrence``, CT of chest) is a CT chest
  study on that date: a scout, plain and post-contrast axial series (with contrast in about
  half the studies), a lung reconstruction, often a dose report (a secondary capture with
  BurnedInAnnotation YES);
- every chest radiograph procedure is a CR (DX at one site) chest study;
- about one person in five also has one other study: CT head or abdomen-pelvis, MR head,
  spine or knee, ultrasound (mostly with burned-in annotation), mammography (women);
- a few studies belong to patients who are not in the CDM (referrals from elsewhere): the
  index must count them unlinked, never match them.

Each study happens at one of three sites (:mod:`fivesafes.imaging.synth_protocols`) whose
scanners spell things their own way; PatientID is the person's synthetic hospital number
(:func:`hospital_number`), written as each site writes it (``SYN00000042``, ``SYN-00000042``,
``syn 00000042``: one identifier once normalised). Some series are written without preamble and
file meta, a few are copied twice (an export folder), every file has private elements and a
tiny pixel payload.

The ground truth, in ``ground-truth/`` beside ``archive/``: ``series.csv`` (one row per series:
who, what, the body part and contrast its texts mean, whether contrast was given) and
``summary.json`` (counts, and per person the series that are chest CT with contrast).

Speed: each series is encoded once as a template (:mod:`fivesafes.imaging.encoding`) and each
file varies only its own elements; persons are written in chunks by ``workers`` processes.
"""

from __future__ import annotations

import csv
import hashlib
import json
import multiprocessing
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from fivesafes.imaging import encoding
from fivesafes.imaging.synth_protocols import (
    CHEST_RADIOGRAPH,
    CR_IMAGE,
    CT_CHEST,
    CT_IMAGE,
    DX_IMAGE,
    MG_IMAGE,
    MR_IMAGE,
    OTHER,
    OTHER_WEIGHTS,
    SECONDARY_CAPTURE,
    SITES,
    US_IMAGE,
    Protocol,
    SeriesPlan,
    Site,
)

CT_CHEST_CONCEPT = 4058335  # SNOMED "CT of chest" (fivesafes.data.synth.concepts.CT_CHEST)
CHEST_XRAY_CONCEPT = 4163872  # SNOMED "Plain chest X-ray"
OTHER_STUDY_SHARE = 0.2
OUTSIDE_SHARE = 0.02  # studies of patients who are not in the CDM, per person imaged
OUTSIDE_FROM = 90_000_000  # their hospital numbers start here (beyond any person_id)
COPY_SHARE = 0.02  # series also copied into exports/ (duplicates of the same header)
CHUNK_PERSONS = 100
TRUTH_COLUMNS = (
    "site",
    "patient_id",
    "person_id",
    "study_kind",
    "study_instance_uid",
    "series_instance_uid",
    "study_date",
    "modality",
    "sop_class_uid",
    "body_part",
    "contrast_used",
    "contrast_recorded",
    "burned_in",
    "n_instances",
    "file_meta",
    "copies",
)

Progress = Callable[[int, int, int], None]
"""``progress(persons_done, persons_total, files_written)``."""


def hospital_number(person_id: int) -> str:
    """A person's synthetic hospital number (the PatientID the archive's headers carry, in
    one spelling): never a real identifier's form."""
    return f"SYN{person_id:08d}"


@dataclass(frozen=True)
class Person:
    person_id: int  # OUTSIDE_FROM and beyond: a patient who is not in the CDM
    female: bool
    birth: date
    start: date  # observation period
    end: date
    ct_chest: tuple[date, ...] = ()
    chest_xray: tuple[date, ...] = ()

    @property
    def linked(self) -> bool:
        return self.person_id < OUTSIDE_FROM


@dataclass
class SynthReport:
    archive: Path
    truth: Path
    persons: int = 0  # persons of the CDM imaged
    outside: int = 0  # patients not in the CDM
    studies: int = 0
    series: int = 0
    files: int = 0  # including copies
    copies: int = 0
    bare: int = 0  # files without preamble and file meta
    bytes: int = 0
    seconds: float = 0.0
    modalities: Counter[str] = field(default_factory=Counter)  # series per modality

    @property
    def files_per_second(self) -> float:
        return self.files / self.seconds if self.seconds > 0 else 0.0


# ---- the CDM's persons ------------------------------------------------------------------


def read_persons(omop: Path, persons_limit: int | None = None) -> list[Person]:
    """The persons of the CDM (the first ``persons_limit`` by person_id), with their chest CT
    and chest radiograph dates."""
    import duckdb

    with duckdb.connect(str(omop), read_only=True) as con:
        rows = con.execute(
            "SELECT p.person_id, p.gender_concept_id = 8532, p.year_of_birth,"
            " coalesce(p.month_of_birth, 1), coalesce(p.day_of_birth, 1),"
            " o.start_date, o.end_date FROM person AS p LEFT JOIN ("
            "  SELECT person_id, min(observation_period_start_date) AS start_date,"
            "  max(observation_period_end_date) AS end_date FROM observation_period GROUP BY 1"
            ") AS o USING (person_id) ORDER BY p.person_id LIMIT ?",
            [persons_limit or 2**62],
        ).fetchall()
        last = rows[-1][0] if rows else 0
        procedures: dict[int, dict[int, list[date]]] = {}
        for person_id, concept, day in con.execute(
            "SELECT person_id, procedure_concept_id, procedure_date FROM procedure_occurrence"
            " WHERE procedure_concept_id IN (?, ?) AND person_id <= ?"
            " ORDER BY person_id, procedure_date, procedure_concept_id",
            [CT_CHEST_CONCEPT, CHEST_XRAY_CONCEPT, last],
        ).fetchall():
            procedures.setdefault(person_id, {}).setdefault(concept, []).append(day)
    persons = []
    for person_id, female, year, month, day, start, end in rows:
        done = procedures.get(person_id, {})
        birth = _safe_date(year, month, day)
        persons.append(
            Person(
                int(person_id),
                bool(female),
                birth,
                start or date(2010, 1, 1),
                end or date(2024, 12, 31),
                tuple(done.get(CT_CHEST_CONCEPT, ())),
                tuple(done.get(CHEST_XRAY_CONCEPT, ())),
            )
        )
    return persons


def _safe_date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        return date(year, 1, 1)


def link_persons(omop: Path, pseudonym_of: Callable[[str], str]) -> int:
    """Write each person's pseudonym of their hospital number into the CDM's
    ``person.person_source_value``, as a TRE's loading pipeline would; returns how many."""
    import duckdb
    import pyarrow as pa

    with duckdb.connect(str(omop)) as con:
        ids = [row[0] for row in con.execute("SELECT person_id FROM person").fetchall()]
        values = pa.table(
            {
                "person_id": pa.array(ids, pa.int64()),
                "value": [pseudonym_of(hospital_number(i)) for i in ids],
            }
        )
        con.register("synth_pseudonyms", values)
        con.execute(
            "UPDATE person SET person_source_value = s.value FROM synth_pseudonyms AS s"
            " WHERE person.person_id = s.person_id"
        )
    return len(ids)


# ---- planning: who has which study ------------------------------------------------------


@dataclass(frozen=True)
class StudyPlan:
    person: Person
    protocol: Protocol
    site: Site
    day: date
    contrast: bool
    key: str  # what the study's UIDs are derived from


def plan_studies(person: Person, seed: int) -> list[StudyPlan]:
    rng = random.Random(f"{seed}/plan/{person.person_id}")
    plans: list[StudyPlan] = []
    for n, day in enumerate(person.ct_chest):
        site = SITES[rng.choice(list(SITES))]
        protocol = CT_CHEST[site.name]
        contrast = rng.random() < protocol.contrast_share
        plans.append(StudyPlan(person, protocol, site, day, contrast, f"ct{n}"))
    for n, day in enumerate(person.chest_xray):
        site = SITES[rng.choice(list(SITES))]
        plans.append(StudyPlan(person, CHEST_RADIOGRAPH, site, day, False, f"cr{n}"))
    if not person.linked or rng.random() < OTHER_STUDY_SHARE:
        kinds = list(OTHER_WEIGHTS)
        kind = rng.choices(kinds, weights=[OTHER_WEIGHTS[k] for k in kinds])[0]
        protocol = rng.choice(OTHER[kind])
        if protocol.sex == "F" and not person.female:
            protocol = OTHER["ct_head"][0]
        site = SITES[rng.choice(protocol.sites)]
        span = max((person.end - person.start).days, 0)
        day = person.start + timedelta(days=rng.randint(0, span))
        contrast = rng.random() < protocol.contrast_share
        plans.append(StudyPlan(person, protocol, site, day, contrast, "other"))
    return plans


def outside_patients(count: int, seed: int) -> list[Person]:
    rng = random.Random(f"{seed}/outside")
    return [
        Person(
            OUTSIDE_FROM + n,
            rng.random() < 0.5,
            date(rng.randint(1940, 1990), 1, 1),
            date(2012, 1, 1),
            date(2024, 12, 31),
        )
        for n in range(1, count + 1)
    ]


# ---- writing ----------------------------------------------------------------------------


def uid(*parts: object) -> str:
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=15).digest()
    return "2.25." + str(int.from_bytes(digest, "big"))


_PIXELS = {
    "MONOCHROME2-16": bytes(range(128)),
    "MONOCHROME2-8": bytes(range(64)),
    "RGB-8": bytes(range(192)),
}


def _pixel_module(modality: str, secondary: bool) -> dict[str, encoding.Value]:
    if modality == "US":
        return {
            "SamplesPerPixel": 3,
            "PhotometricInterpretation": "RGB",
            "PlanarConfiguration": 0,
            "Rows": 8,
            "Columns": 8,
            "BitsAllocated": 8,
            "BitsStored": 8,
            "HighBit": 7,
            "PixelRepresentation": 0,
            "PixelData": _PIXELS["RGB-8"],
        }
    bits = 8 if secondary else 16
    return {
        "SamplesPerPixel": 1,
        "PhotometricInterpretation": "MONOCHROME2",
        "Rows": 8,
        "Columns": 8,
        "BitsAllocated": bits,
        "BitsStored": bits if secondary else 12,
        "HighBit": 7 if secondary else 11,
        "PixelRepresentation": 0,
        "PixelData": _PIXELS["MONOCHROME2-8" if secondary else "MONOCHROME2-16"],
    }


def write_study(
    root: Path, study: StudyPlan, seed: int
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """Write one study's files under ``root``; its truth rows, and counts of what was written."""
    person, protocol, site = study.person, study.protocol, study.site
    rng = random.Random(f"{seed}/study/{person.person_id}/{study.key}")
    study_uid = uid(seed, person.person_id, study.key)
    accession = f"A{int(study_uid[-10:]):010d}"
    patient_id = site.patient_id.format(person.person_id)
    day = study.day.strftime("%Y%m%d")
    study_values: dict[str, encoding.Value] = {
        "SpecificCharacterSet": "ISO_IR 100",
        "StudyDate": day,
        "SeriesDate": day,
        "ContentDate": day,
        "StudyTime": "101500",
        "AccessionNumber": accession,
        "InstitutionName": f"{site.name.title()} Synthetic Hospital",
        "ReferringPhysicianName": "",
        "StudyDescription": rng.choice(protocol.study),
        "PatientName": f"SYNTHETIC^PERSON{person.person_id}",
        "PatientID": patient_id,
        "PatientBirthDate": person.birth.strftime("%Y%m%d"),
        "PatientSex": "F" if person.female else "M",
        "StudyInstanceUID": study_uid,
        "StudyID": accession[-6:],
    }
    body_part = rng.choice(protocol.body_part_examined)
    protocol_name = rng.choice(protocol.protocol_name)
    rows: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    number = 0
    for plan in protocol.series:
        if plan.when == "contrast" and not study.contrast:
            continue
        if plan.share < 1 and rng.random() >= plan.share:
            continue
        number += 1
        row, written = _write_series(
            root, study, plan, number, rng, study_values, body_part, protocol_name, seed
        )
        row.update(
            site=site.name,
            patient_id=patient_id,
            study_kind=protocol.kind,
            study_instance_uid=study_uid,
            study_date=study.day.isoformat(),
            person_id=person.person_id if person.linked else "",
        )
        rows.append(row)
        counts.update(written)
    return rows, counts


def _write_series(
    root: Path,
    study: StudyPlan,
    plan: SeriesPlan,
    number: int,
    rng: random.Random,
    study_values: dict[str, encoding.Value],
    body_part: str | None,
    protocol_name: str,
    seed: int,
) -> tuple[dict[str, Any], Counter[str]]:
    protocol, site, person = study.protocol, study.site, study.person
    modality = plan.modality or (
        "DX" if protocol.modality == "CR" and "DX" in site.scanners else protocol.modality
    )
    scanner = site.scanners["DX" if modality == "DX" else protocol.modality]
    description, signal = rng.choice(plan.texts)
    used = study.contrast and plan.after_agent
    if used and scanner.agent == "never" and signal != "yes":
        description, signal = f"{description} C+".strip(), "yes"
    series_uid = uid(seed, person.person_id, study.key, number)
    sop_class = SECONDARY_CAPTURE if plan.secondary else _IMAGE_CLASS[modality]
    n = rng.randint(*plan.instances)
    agent = rng.choice(scanner.agents) if used and scanner.agents else None
    route = rng.choice(scanner.routes) if used else None
    values = dict(study_values)
    values.update(
        {
            "ImageType": plan.image_type,
            "SOPClassUID": sop_class,
            "SOPInstanceUID": "",
            "Modality": modality,
            "Manufacturer": scanner.manufacturer,
            "SeriesDescription": description or None,
            "ManufacturerModelName": scanner.model,
            "SeriesInstanceUID": series_uid,
            "SeriesNumber": number,
            "InstanceNumber": "",
            "ContrastBolusAgent": "",
            "ContrastBolusRoute": "",
            "BurnedInAnnotation": "",
        }
    )
    if not plan.secondary:
        values["BodyPartExamined"] = body_part
        values["ProtocolName"] = protocol_name
    else:
        values["ConversionType"] = "WSD"
    if modality in ("CT", "MR"):
        values.update(
            SliceThickness=rng.choice(("1.0", "2.5", "3", "5.0")),
            ImageOrientationPatient=["1", "0", "0", "0", "1", "0"],
            PixelSpacing=["0.7", "0.7"],
            FrameOfReferenceUID=uid(series_uid, "for"),
            ImagePositionPatient=["0", "0", "0"],
            SliceLocation="0",
        )
    if modality in ("CT", "CR", "DX", "MG"):
        values["KVP"] = {"CT": rng.choice(("100", "120", "80")), "MG": "28"}.get(modality, "125")
    if modality == "CT":
        values.update(RescaleIntercept="-1024", RescaleSlope="1")
    values.update(_pixel_module(modality, plan.secondary))
    values = {k: v for k, v in values.items() if v is not None}
    bare = rng.random() < site.bare_share
    template = encoding.Template.of(
        values,
        private=() if plan.secondary else scanner.private,
        sequences={
            "ProcedureCodeSequence": [
                {
                    "CodeValue": protocol.kind.upper()[:16],
                    "CodingSchemeDesignator": "99FIVESAFES",
                    "CodeMeaning": protocol.kind,
                }
            ]
        },
        implicit=bare,
    )
    copies = rng.random() < COPY_SHARE
    folder = _folder(root, study, series_uid, number, values)
    folder.mkdir(parents=True, exist_ok=True)
    recorded, burned, written = [], [], Counter[str]()
    for i in range(1, n + 1):
        sop = uid(series_uid, i)
        changes: dict[str, encoding.Value] = {"SOPInstanceUID": sop, "InstanceNumber": i}
        instance_agent = None
        if used and agent and (scanner.agent == "always" or i > min(2, n - 1)):
            instance_agent = agent
            changes["ContrastBolusAgent"] = agent
            changes["ContrastBolusRoute"] = route
        elif not used and site.no_agent and not plan.secondary and modality in ("CT", "MR"):
            instance_agent = site.no_agent
            changes["ContrastBolusAgent"] = site.no_agent
        if modality in ("CT", "MR"):
            changes["ImagePositionPatient"] = ["0", "0", f"{-5 * i}"]
            changes["SliceLocation"] = f"{-5 * i}"
        mark = _burned_in(plan, protocol, site, rng)
        changes["BurnedInAnnotation"] = mark
        burned.append(mark)
        recorded.append(_recorded(instance_agent, route if instance_agent else None, signal))
        data = template.render(changes)
        blob = data if bare else encoding.file_meta(sop_class, sop) + data
        name = _file_name(site, i, sop)
        (folder / name).write_bytes(blob)
        written["files"] += 1
        written["bytes"] += len(blob)
        written["bare"] += bare
        if copies:
            copy = root / "exports" / str(values["AccessionNumber"]) / f"{number:03d}"
            copy.mkdir(parents=True, exist_ok=True)
            (copy / f"{i:04d}.dcm").write_bytes(blob)
            written["files"] += 1
            written["copies"] += 1
            written["bytes"] += len(blob)
    row = {
        "series_instance_uid": series_uid,
        "modality": modality,
        "sop_class_uid": sop_class,
        "body_part": protocol.body_part or "",
        "contrast_used": used,
        "contrast_recorded": _roll_up(recorded),
        "burned_in": _roll_up([{"YES": "yes", "NO": "no"}.get(b or "", "unknown") for b in burned]),
        "n_instances": n,
        "file_meta": not bare,
        "copies": n if copies else 0,
    }
    return row, written


_IMAGE_CLASS = {
    "CT": CT_IMAGE,
    "MR": MR_IMAGE,
    "CR": CR_IMAGE,
    "DX": DX_IMAGE,
    "US": US_IMAGE,
    "MG": MG_IMAGE,
    "OT": SECONDARY_CAPTURE,
}


def _burned_in(plan: SeriesPlan, protocol: Protocol, site: Site, rng: random.Random) -> str | None:
    if plan.secondary:
        return "YES"
    if protocol.burned_in:
        return "YES" if rng.random() < protocol.burned_in else "NO"
    return None if site.name == "west" else "NO"


def _recorded(agent: str | None, route: str | None, signal: str) -> str:
    """What an image's texts say of contrast, as planted (not as the rules read them)."""
    if agent:
        return "no" if agent == "NONE" else "yes"
    if route:
        return "yes"
    return signal or "unknown"


def _roll_up(values: Sequence[str]) -> str:
    return "yes" if "yes" in values else "no" if "no" in values else "unknown"


def _folder(
    root: Path, study: StudyPlan, series_uid: str, number: int, values: dict[str, encoding.Value]
) -> Path:
    site, accession = study.site, str(values["AccessionNumber"])
    if site.layout == "nested":
        patient = str(values["PatientID"])
        return root / site.name / patient / f"{study.day:%Y%m%d}_{accession}" / f"{number:03d}"
    if site.layout == "pacs":
        return (
            root
            / site.name
            / "DICOM"
            / f"PA{study.person.person_id:08d}"
            / f"ST{accession[-6:]}"
            / f"SE{number:03d}"
        )
    return root / site.name / f"{study.day:%Y}" / f"{study.day:%m}" / accession / f"{number:03d}"


def _file_name(site: Site, number: int, sop: str) -> str:
    if site.layout == "pacs":
        return f"IM{number:06d}"
    if site.layout == "dated":
        return f"{sop}.dcm"
    return f"{number:04d}.dcm"


def _write_chunk(
    root: str, persons: list[Person], seed: int
) -> tuple[list[dict[str, Any]], Counter[str]]:
    rows: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    for person in persons:
        for study in plan_studies(person, seed):
            study_rows, written = write_study(Path(root), study, seed)
            rows.extend(study_rows)
            counts.update(written)
            counts["studies"] += 1
    return rows, counts


def write_archive(
    omop: Path,
    out: Path,
    *,
    seed: int = 0,
    persons_limit: int | None = None,
    workers: int = 1,
    progress: Progress | None = None,
) -> SynthReport:
    """Write ``out/archive`` (the DICOM files) and ``out/ground-truth`` for the CDM ``omop``."""
    started = time.perf_counter()
    archive, truth = out / "archive", out / "ground-truth"
    archive.mkdir(parents=True, exist_ok=True)
    truth.mkdir(parents=True, exist_ok=True)
    persons = read_persons(omop, persons_limit)
    outside = outside_patients(max(1, round(len(persons) * OUTSIDE_SHARE)), seed)
    everyone = persons + outside
    report = SynthReport(archive, truth, persons=len(persons), outside=len(outside))
    chunks = [everyone[i : i + CHUNK_PERSONS] for i in range(0, len(everyone), CHUNK_PERSONS)]
    rows: list[dict[str, Any]] = []
    done = 0
    for chunk, (chunk_rows, counts) in zip(
        chunks, _chunk_results(str(archive), chunks, seed, workers), strict=True
    ):
        rows.extend(chunk_rows)
        report.studies += counts["studies"]
        report.files += counts["files"]
        report.copies += counts["copies"]
        report.bare += counts["bare"]
        report.bytes += counts["bytes"]
        done += len(chunk)
        if progress:
            progress(done, len(everyone), report.files)
    report.series = len(rows)
    report.modalities.update(row["modality"] for row in rows)
    report.persons = len({r["person_id"] for r in rows if r["person_id"] != ""})
    _write_truth(truth, rows, report)
    report.seconds = time.perf_counter() - started
    return report


def _chunk_results(
    root: str, chunks: list[list[Person]], seed: int, workers: int
) -> Iterator[tuple[list[dict[str, Any]], Counter[str]]]:
    if workers <= 1:
        for chunk in chunks:
            yield _write_chunk(root, chunk, seed)
        return
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        yield from pool.map(_write_chunk, [root] * len(chunks), chunks, [seed] * len(chunks))


def _write_truth(folder: Path, rows: list[dict[str, Any]], report: SynthReport) -> None:
    with (folder / "series.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, TRUTH_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    chest_ct_contrast: dict[str, list[str]] = {}
    for row in rows:
        chest = (row["modality"], row["body_part"], row["contrast_used"]) == ("CT", "CHEST", True)
        if chest and row["person_id"] != "":
            chest_ct_contrast.setdefault(str(row["person_id"]), []).append(
                row["series_instance_uid"]
            )
    summary = {
        "persons_imaged": report.persons,
        "outside_patients": report.outside,
        "studies": report.studies,
        "series": len(rows),
        "files": report.files,
        "copies": report.copies,
        "files_without_file_meta": report.bare,
        "series_by_modality": dict(sorted(Counter(r["modality"] for r in rows).items())),
        "chest_ct_with_contrast": {
            "definition": "modality CT, body part CHEST, contrast given (series level)",
            "series": sum(len(v) for v in chest_ct_contrast.values()),
            "persons": dict(sorted(chest_ct_contrast.items(), key=lambda kv: int(kv[0]))),
        },
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def report_dict(report: SynthReport) -> dict[str, Any]:
    data = asdict(report)
    data["archive"], data["truth"] = str(report.archive), str(report.truth)
    data["modalities"] = dict(sorted(report.modalities.items()))
    data["files_per_second"] = round(report.files_per_second, 1)
    return data
