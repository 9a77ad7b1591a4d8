"""De-identifying files into a folder, as the airlock's reviewers and SMI's packager expect: each
file is either rejected before anything is copied (``reject``), or de-identified (``engine``)
and its written bytes verified (``verify``) before it is kept; a file that fails verification
is never written. What a run did is counted, by reason and by rule, never with a value.

Files go, in a sorted walk, to worker processes (``imaging.pool``); each worker reads, judges,
de-identifies, verifies and writes its files itself, so the run's own process only counts. A
file is written under the new UIDs only (``<study>/<series>/<instance>.dcm``): nothing of the
source's path, which may name a patient, reaches the output. Writing is atomic (a temporary
name, then a rename), and the same inputs give the same bytes, so a run done again leaves the
same folder.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from fivesafes.imaging.deid.identifiers import PersonIdentifiers
from fivesafes.imaging.deid.keys import ProjectKeys, normal
from fivesafes.imaging.deid.options import Options
from fivesafes.imaging.deid.reject import Rejectors

Progress = Callable[[int, int], None]
"""``progress(done, total)``: files handled so far, of all."""


class FileOutcome(NamedTuple):
    """One file: ``status`` is ``written``, ``rejected`` (``reason``: the rejector's),
    ``failed`` (verification: ``findings``, each (rule, element)), ``unreadable``
    (``reason``: why, as the engine words it) or ``duplicate`` (its SOPInstanceUID written
    already: ``same_bytes``, or ``conflicting``); ``target`` the written file, relative to the
    output folder; ``person`` the project's pseudonym of the patient (for the patient data
    account), when the file was written."""

    status: str
    reason: str | None
    findings: tuple[tuple[str, str], ...]
    target: str | None
    person: str | None
    actions: dict[str, int]
    sha256: str | None = None  # of the bytes written


@dataclass(frozen=True)
class Job:
    """What every worker needs: the project's keys, the custodian's options, the rejectors,
    where Tesseract is (None: the one on the PATH), and what else is known of each person
    (``known``, by their Patient ID written one way, ``keys.normal``: the identifiers of
    every header the node holds of them, looked for too in each file of theirs)."""

    keys: ProjectKeys
    options: Options
    rejectors: Rejectors
    ocr_command: str | None = None
    known: Mapping[str, PersonIdentifiers] = field(default_factory=dict)


@dataclass
class DeidReport:
    """What a run did, in counts (and, per file, the source's path with its outcome: the
    operator's own paths, inside the TRE)."""

    files: int = 0
    written: int = 0
    rejected: Counter[str] = field(default_factory=Counter)  # by reason
    failed: Counter[str] = field(default_factory=Counter)  # files by the rules that fired
    unreadable: Counter[str] = field(default_factory=Counter)  # by reason
    duplicates: Counter[str] = field(default_factory=Counter)  # same_bytes | conflicting
    actions: Counter[str] = field(default_factory=Counter)  # of the written files
    persons: set[str] = field(default_factory=set)  # pseudonyms of the written files' patients
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)  # path, status, why, where
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "written": self.written,
            "rejected": dict(sorted(self.rejected.items())),
            "failed_verification": dict(sorted(self.failed.items())),
            "unreadable": dict(sorted(self.unreadable.items())),
            "duplicates": dict(sorted(self.duplicates.items())),
            "actions": dict(sorted(self.actions.items())),
            "persons": len(self.persons),
            "seconds": round(self.seconds, 3),
        }


def deidentify_tree(
    sources: Sequence[Path],
    out: Path,
    job: Job,
    *,
    workers: int = 1,
    progress: Progress | None = None,
    each: Callable[[str, FileOutcome], None] | None = None,
) -> DeidReport:
    """De-identify every file under ``sources`` (files or folders) into ``out``; ``each`` is
    told every file's outcome, in sorted order."""
    started = time.perf_counter()
    files = sorted(_files(sources))
    out.mkdir(parents=True, exist_ok=True)
    report = DeidReport(files=len(files))
    work = partial(deidentify_files, out=str(out), job=job)
    written: dict[str, str | None] = {}  # target: its bytes' hash (None: conflicting)
    for done, (path, outcome) in enumerate(_in_order(files, work, workers), start=1):
        _count(report, path, _duplicate(outcome, written, report))
        if each is not None:
            each(path, outcome)
        if progress is not None and (done % 100 == 0 or done == len(files)):
            progress(done, len(files))
    for target in sorted(t for t, sha in written.items() if sha is None):
        (out / target).unlink(missing_ok=True)
        report.written -= 1
    report.seconds = time.perf_counter() - started
    return report


def _duplicate(
    outcome: FileOutcome, written: dict[str, str | None], report: DeidReport
) -> FileOutcome:
    """Two files with one SOPInstanceUID are written to one name: a copy (the same bytes) is
    counted once; different content under one UID is a conflict, and neither is kept (which
    was written last depends on the workers, so no choice between them would be repeatable)."""
    if outcome.status != "written" or outcome.target is None:
        return outcome
    if outcome.target not in written:
        written[outcome.target] = outcome.sha256
        return outcome
    same = written[outcome.target] == outcome.sha256
    report.duplicates["same_bytes" if same else "conflicting"] += 1
    if not same:
        written[outcome.target] = None
    return outcome._replace(status="duplicate", reason="same_bytes" if same else "conflicting")


def _in_order(
    files: list[str], work: Callable[[list[str]], list[FileOutcome]], workers: int
) -> Iterator[tuple[str, FileOutcome]]:
    from fivesafes.imaging.pool import in_order

    return in_order(files, work, workers if len(files) >= 64 * workers else 1, task_files=16)


def _files(sources: Sequence[Path]) -> Iterator[str]:
    for source in sources:
        if source.is_dir():
            for folder, _, names in os.walk(source):
                yield from (os.path.join(folder, name) for name in names)
        else:
            yield str(source)


def _count(report: DeidReport, path: str, outcome: FileOutcome) -> None:
    if outcome.status == "written":
        report.written += 1
        report.actions.update(outcome.actions)
        if outcome.person:
            report.persons.add(outcome.person)
        return
    if outcome.status == "rejected":
        report.rejected[outcome.reason or ""] += 1
        report.rows.append((path, "rejected", outcome.reason or "", ""))
    elif outcome.status == "failed":
        report.failed.update({rule for rule, _ in outcome.findings})
        report.rows.extend((path, "failed", rule, where) for rule, where in outcome.findings)
    elif outcome.status == "duplicate":
        report.rows.append((path, "duplicate", outcome.reason or "", ""))
    else:
        report.unreadable[outcome.reason or ""] += 1
        report.rows.append((path, "unreadable", outcome.reason or "", ""))


# ---- in a worker ------------------------------------------------------------------------------


def deidentify_files(paths: list[str], *, out: str, job: Job) -> list[FileOutcome]:
    """A worker's task: each of ``paths`` rejected, or de-identified, verified and written."""
    from fivesafes.imaging.deid.ocr import Ocr

    os.environ["OMP_THREAD_LIMIT"] = "1"  # Tesseract on one thread: the pool is the parallelism
    ocr = Ocr(job.ocr_command)
    return [_one(Path(path), Path(out), job, ocr) for path in paths]


def _one(source: Path, out: Path, job: Job, ocr: Any) -> FileOutcome:
    import pydicom

    from fivesafes.imaging.deid.engine import DeidError, deidentify
    from fivesafes.imaging.deid.pixels import covered
    from fivesafes.imaging.deid.reject import rejection
    from fivesafes.imaging.deid.verify import burned_in_risk, verify
    from fivesafes.imaging.deid.writing import part10

    try:
        original = pydicom.dcmread(source, force=True)
        rejected = rejection(
            original,
            job.rejectors,
            clean_pixel_data=job.options.clean_pixel_data,
            cleanable=covered,
        )
        if rejected is not None:
            return FileOutcome("rejected", rejected.reason, (), None, None, {})
        done = deidentify(original, job.keys, job.options)
        data = part10(done.dataset)
        written = pydicom.dcmread(io.BytesIO(data))
    except DeidError as exc:
        return FileOutcome("unreadable", exc.reason, (), None, None, {})
    except Exception:  # noqa: BLE001 - a file pydicom cannot read is the file's outcome
        return FileOutcome("unreadable", "unreadable", (), None, None, {})
    findings = verify(
        written,
        original=original,
        identifiers=_identifiers(original, job.known),
        at_risk=burned_in_risk(original),
        ocr=ocr,
        dates_expected_shifted=True,  # shifted or removed: an original date never survives
    )
    if findings:
        return FileOutcome(
            "failed", None, tuple((f.rule, f.element) for f in findings), None, None, {}
        )
    target = Path(
        str(written.StudyInstanceUID),
        str(written.SeriesInstanceUID),
        f"{written.SOPInstanceUID}.dcm",
    )
    _write(out / target, data)
    person = str(written.get("PatientID", "") or "") or None
    sha = hashlib.sha256(data).hexdigest()
    return FileOutcome("written", None, (), str(target), person, dict(done.actions), sha)


def _identifiers(original: Any, known: Mapping[str, PersonIdentifiers]) -> PersonIdentifiers:
    """The person's identifiers in this file, and what else is known of them."""
    from fivesafes.imaging.deid.identifiers import identifiers_of

    own = identifiers_of(original)
    try:
        patient_id = str(original.get("PatientID", "") or "")
    except Exception:  # noqa: BLE001 - an unreadable ID: identifiers_of has named it
        patient_id = ""
    more = known.get(normal(patient_id)) if patient_id and known else None
    return own if more is None else own.merged(more)


def _write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial_file = target.with_name(f".{target.name}.{os.getpid()}.part")
    partial_file.write_bytes(data)
    os.replace(partial_file, target)
