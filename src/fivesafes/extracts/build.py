"""Building an imaging extract at the node (ADR 0028, point 4): what the node's job does with
an analysis's :class:`~fivesafes.analyses.jobs.ExtractOrder`.

1. **The custodian's word first.** The node's records must allow an extract of the project
   with the options asked for (``policy.check_extraction``); otherwise nothing is read.
2. **The files.** The series' instances are looked up in the index's instance table (paths
   are there, and only there); an instance indexed through DICOMweb has no file here and is
   counted ``not_local``, never fetched.
3. **What the node knows of each person.** For every person in the extract, one stored
   header of each of their series in the whole index (not only those extracted) is read from
   the restricted header store and their identifiers taken from it (names, IDs, birth date,
   address, telephone numbers, accession numbers: ``imaging.deid.identifiers``): verification
   looks for all of them in every file of that person, so a name that one study spells out
   and another does not is still caught.
4. **De-identified and verified** into the project's staging folder (``folders``), by the same
   pipeline as ``fivesafes node imaging deid`` (``imaging.deid.run``): rejected, de-identified
   by PS3.15 Annex E with the options, every written file verified, a failing file never
   written. A folder left by an earlier attempt at the same task is replaced.
5. **Held** for the node's output checkers: the extract's record (``Extracts.hold``, audited
   ``extract_held``) with its report in counts and the persons whose files were written (their
   ``person_id``, as text), recorded as released for the patient data account once an output
   checker releases the extract.

The report's ``findings`` count, per verification rule, the files that failed it at each
element (its tag, as the verifier names it): what the output checker reads
beside the sample, never sent to the hub.

Past the deadline the folder is removed and the job fails; so does any error, leaving nothing
half-built. What goes back to the analysis is counts only (:func:`build_extract`'s answer).
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fivesafes.analyses.jobs import ExtractOrder
from fivesafes.extracts.folders import staging_folder
from fivesafes.extracts.service import Extracts
from fivesafes.extracts.store import Extract, ExtractState
from fivesafes.imaging.deid.identifiers import PersonIdentifiers
from fivesafes.imaging.deid.keys import ProjectKeys, normal
from fivesafes.imaging.deid.options import options_of
from fivesafes.imaging.deid.reject import load_rejectors
from fivesafes.imaging.deid.run import FileOutcome, Job, deidentify_tree
from fivesafes.protocol.runs import ReasonCode
from fivesafes.storage.types import utcnow

MAX_SERIES = 100_000  # series in one order (the analysis's parameters bound it too)


class BuildFailed(Exception):
    """The extract was not built (nothing of it is left); ``reason`` is what the hub is told."""

    def __init__(self, reason: ReasonCode) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True)
class Place:
    """Where the node keeps what the job reads and writes (``[imaging]`` in ``node.toml``)."""

    index_file: Path  # the DuckDB file holding ``imaging_instance``
    schema: str | None
    header_store: Path
    root: Path  # the extracts' root
    rejectors_file: Path | None = None
    workers: int = 1
    memory_limit: str = "1GB"


@dataclass(frozen=True)
class Selected:
    """The order's files, and what else the node holds of their persons."""

    files: list[Path]
    person_of: dict[str, int]  # a file's path: its person (``person_id``), if linked
    not_local: int  # instances read through DICOMweb: no file here
    series: int  # series of the order found in the index
    known: dict[str, PersonIdentifiers]


def build_extract(
    order: ExtractOrder,
    place: Place,
    *,
    extracts: Extracts,
    node_secret: Callable[[], bytes],
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Build and hold the extract of ``order`` (see the module's steps); its report in counts.
    ``node_secret`` gives the node's secret (read only once the extract is allowed). Raises
    ``policy.ExtractionRefused`` or :class:`BuildFailed`."""
    options = options_of(order.options)
    extracts.check(order.project_id, options)
    if len(order.series) > MAX_SERIES:
        raise BuildFailed(ReasonCode.INVALID_PARAMETERS)
    staging = staging_folder(place.root, order.project_id, order.task_id)
    selected = select(order.series, place)
    keys = ProjectKeys.derive(node_secret(), order.project_id)
    job = Job(keys, options, load_rejectors(place.rejectors_file), known=selected.known)

    persons: set[int] = set()
    findings: dict[str, Counter[str]] = {}

    def each(path: str, outcome: FileOutcome) -> None:
        if clock() > order.deadline:
            raise BuildFailed(ReasonCode.RESOURCE_LIMIT)
        if outcome.status == "written" and path in selected.person_of:
            persons.add(selected.person_of[path])
        for rule, element in dict.fromkeys(outcome.findings):
            findings.setdefault(rule, Counter())[element] += 1

    if staging.exists():
        shutil.rmtree(staging)
    try:
        report = deidentify_tree(selected.files, staging, job, workers=place.workers, each=each)
        counts = {
            **report.to_dict(),
            "series": selected.series,
            "not_local": selected.not_local,
            "findings": {rule: dict(sorted(c.items())) for rule, c in sorted(findings.items())},
        }
        counts.pop("seconds", None)  # not the same twice: the report is the extract's, not a run's
        extracts.hold(
            Extract(
                extract_id=order.task_id,
                project_id=order.project_id,
                task_id=order.task_id,
                requester=order.requester,
                state=ExtractState.HELD,
                options=tuple(order.options),
                folder=str(staging.relative_to(place.root)),
                report=counts,
                persons=tuple(str(p) for p in sorted(persons)),
                created_at=utcnow(),
            )
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return counts


def select(series: Sequence[str], place: Place) -> Selected:
    """The files of ``series`` (sorted) and the identifiers the node holds of their persons."""
    from fivesafes.imaging.store import IndexStore

    with IndexStore(place.index_file, place.schema, place.memory_limit, read_only=True) as store:
        if not store.has_table("imaging_instance"):
            raise BuildFailed(ReasonCode.DATA_SOURCE_UNAVAILABLE)
        wanted = sorted(set(series))
        rows = store.rows(
            "SELECT i.path, i.patient_pseudonym, i.series_instance_uid, s.person_id"
            " FROM imaging_instance AS i LEFT JOIN imaging_series AS s USING (series_instance_uid)"
            " WHERE i.series_instance_uid IN (SELECT unnest(?::VARCHAR[]))",
            [wanted],
        )
        persons = sorted({p for _, p, _, _ in rows if p is not None})
        headers = store.rows(
            "SELECT patient_pseudonym, min(path) FROM imaging_instance"
            " WHERE patient_pseudonym IN (SELECT unnest(?::VARCHAR[]))"
            " GROUP BY patient_pseudonym, series_instance_uid ORDER BY 1, 2",
            [persons],
        )
    local = sorted(Path(path) for path, *_ in rows if not _remote(path))
    return Selected(
        files=local,
        person_of={path: int(person) for path, _, _, person in rows if person is not None},
        not_local=len(rows) - len(local),
        series=len({uid for _, _, uid, _ in rows}),
        known=known_identifiers(place.header_store, headers),
    )


def known_identifiers(
    header_store: Path, headers: Sequence[tuple[Any, ...]]
) -> dict[str, PersonIdentifiers]:
    """Each person's identifiers from their stored ``headers`` ((pseudonym, path) rows), merged
    per person, under every spelling of their Patient ID the headers use (``keys.normal``)."""
    from fivesafes.imaging.deid.identifiers import identifiers_of
    from fivesafes.imaging.headers import HeaderStore, dataset_of

    if not headers:
        return {}
    if not header_store.is_file():  # never made here: the index's store is missing
        raise BuildFailed(ReasonCode.DATA_SOURCE_UNAVAILABLE)
    merged: dict[str, PersonIdentifiers] = {}
    spellings: dict[str, set[str]] = {}
    with HeaderStore(header_store) as store:
        for person, path in headers:
            stored = store.get(path)
            if stored is None:
                continue
            try:
                header = dataset_of(stored)
                patient_id = str(header.get("PatientID", "") or "")
                found = identifiers_of(header)
            except Exception:  # noqa: BLE001, S112 - a header that cannot be read adds nothing
                continue
            merged[person] = merged[person].merged(found) if person in merged else found
            if patient_id:
                spellings.setdefault(person, set()).add(normal(patient_id))
    return {spelling: merged[person] for person, names in spellings.items() for spelling in names}


def _remote(path: str) -> bool:
    return path.startswith(("http://", "https://"))
