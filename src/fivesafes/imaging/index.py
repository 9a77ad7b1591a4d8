"""Indexing an archive: walk the paths, read the headers of new and changed files in a process
pool, write them a batch at a time, then roll the instances up into series and studies.

A run, step by step (docs/imaging.md, "Resumability"):

1. **Find.** The walk (:mod:`fivesafes.imaging.walk`) lists every file with its size and
   modification time; against ``imaging_files`` that splits them into new, changed and
   unchanged. Unchanged files are not read again; files indexed before and gone now leave the
   index (and the header store).
2. **Read.** The files to read go, in walk order, to ``workers`` processes in small tasks (at
   most a few per worker in flight, so memory stays bounded whatever the archive's size); each
   worker reads headers only (:mod:`fivesafes.imaging.reading`) and judges the values
   (:mod:`fivesafes.imaging.project`). Results come back in walk order.
3. **Write.** Every ``batch_files`` files: the kept headers go to the restricted store
   (:mod:`fivesafes.imaging.headers`), then one DuckDB transaction drops the rows of files read
   again and adds the new instance rows and every file's state. A killed run loses at most the
   batch in flight: the next run reads those files again, and only those.
4. **Roll up.** The series and study tables are rebuilt from all instances, the rules deciding
   body part and contrast, and each series' patient pseudonym linked to a ``person_id``.

Duplicates: a SOPInstanceUID already in the index (or earlier in the same batch) is not added
again; the file is recorded as a ``duplicate``, ``same_header`` (a copy) or
``different_header`` (a conflict: the first indexed is kept). Within a run, files are taken in
walk order, so "first" is the same whether a run was interrupted or not.

A PatientID never leaves this module: the caller's ``pseudonym_of`` (the node's keyed
pseudonym, :mod:`fivesafes.node.pseudonyms`) turns it into the value the CDM keeps in
``person.person_source_value``; a PatientID it cannot use (``None``) leaves the instance
unlinked. No person is ever guessed.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

from fivesafes.imaging.headers import HeaderStore, StoredHeader
from fivesafes.imaging.project import Instance
from fivesafes.imaging.reading import Unreadable
from fivesafes.imaging.report import IndexReport
from fivesafes.imaging.rules import Rules
from fivesafes.imaging.store import FileRow, IndexStore, Todo
from fivesafes.imaging.walk import WalkProblem, roots_of, walk
from fivesafes.imaging.worker import Outcome, Read, read_in_order

Progress = Callable[[str, int, int | None], None]
"""``progress(stage, done, total)``: ``finding files`` (total None), ``reading headers`` (after
each written batch), ``rolling up`` (0 then 1)."""

Pseudonymise = Callable[[str], str | None]
"""A PatientID's pseudonym under the node's key, or None if it is not an identifier."""


@dataclass(frozen=True)
class IndexOptions:
    workers: int = 1  # 1: read in this process
    batch_files: int = 1000  # files per written batch (what a crash can lose)
    today: date | None = None  # dates after it are absurd (default: today, UTC)
    memory_limit: str = "1GB"  # DuckDB's, for the run's working tables
    pool_from: int = 400  # files to read per worker below which this process reads them all


def index_archive(
    paths: Sequence[Path],
    *,
    database: Path,
    header_store: Path,
    rules: Rules,
    pseudonym_of: Pseudonymise,
    schema: str | None = None,
    options: IndexOptions = IndexOptions(),
    progress: Progress | None = None,
) -> IndexReport:
    """Index the DICOM files under ``paths`` into the DuckDB file ``database``, keeping full
    headers in ``header_store``. Reads only files new or changed since the last run."""
    tell = progress or (lambda stage, done, total: None)
    today = options.today or datetime.now(UTC).date()
    roots = roots_of(paths)
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    report = IndexReport(run_id=run_id, roots=roots, rules=rules.label)
    started = time.perf_counter()
    with (
        IndexStore(database, schema, options.memory_limit) as store,
        HeaderStore(header_store) as headers,
    ):
        store.begin_run(run_id, roots, rules, _now())
        try:
            own = {os.path.abspath(p) for f in (database, header_store) for p in _companions(f)}
            _find(store, headers, roots, own, report, tell)
            reading = time.perf_counter()
            _read(store, headers, report, run_id, today, options, pseudonym_of, tell)
            report.reading_seconds = time.perf_counter() - reading
            tell("rolling up", 0, 1)
            store.project(rules)
            _count(store, headers, report)
            tell("rolling up", 1, 1)
        except BaseException:
            report.seconds = time.perf_counter() - started
            with contextlib.suppress(Exception):  # never hide why the run failed
                store.end_run(run_id, "failed", report.to_dict(), _now())
            raise
        report.finished = True
        report.seconds = time.perf_counter() - started
        store.end_run(run_id, "finished", report.to_dict(), _now())
    return report


def _companions(path: Path) -> list[Path]:
    """A database file and the files its engine keeps beside it (WAL, journal)."""
    return [
        path,
        *(path.with_name(path.name + end) for end in (".wal", "-wal", "-shm", "-journal")),
    ]


def _find(
    store: IndexStore,
    headers: HeaderStore,
    roots: list[str],
    own: set[str],
    report: IndexReport,
    tell: Progress,
) -> None:
    """Walk ``roots`` (leaving out the run's ``own`` files: the index and the header store, if
    they sit under a walked folder) and plan what to read."""
    found = 0

    def files() -> Iterator[tuple[str, int, int]]:
        nonlocal found
        for item in walk(roots):
            if isinstance(item, WalkProblem):
                report.note_walk_problem(item.path, item.problem)
                continue
            if item.path in own:
                continue
            found += 1
            if found % 5000 == 0:
                tell("finding files", found, None)
            yield (item.path, item.size, item.mtime_ns)

    plan = store.plan(files(), roots)
    tell("finding files", found, None)
    if plan.removed:
        headers.replace((), drop=plan.removed)
    report.found, report.new, report.changed = plan.found, plan.new, plan.changed
    report.unchanged, report.removed = plan.unchanged, len(plan.removed)


def _read(
    store: IndexStore,
    headers: HeaderStore,
    report: IndexReport,
    run_id: str,
    today: date,
    options: IndexOptions,
    pseudonym_of: Pseudonymise,
    tell: Progress,
) -> None:
    total = report.new + report.changed
    workers = options.workers if total >= options.workers * options.pool_from else 1
    tell("reading headers", 0, total)
    batch: list[tuple[Todo, Outcome]] = []
    pseudonyms: dict[str, str | None] = {}
    for item in read_in_order(store.todo(), today, workers):
        batch.append(item)
        if len(batch) >= options.batch_files:
            _write(store, headers, batch, report, run_id, pseudonym_of, pseudonyms)
            batch = []
            tell("reading headers", report.read, total)
    if batch:
        _write(store, headers, batch, report, run_id, pseudonym_of, pseudonyms)
        tell("reading headers", report.read, total)


def _write(
    store: IndexStore,
    headers: HeaderStore,
    batch: list[tuple[Todo, Outcome]],
    report: IndexReport,
    run_id: str,
    pseudonym_of: Pseudonymise,
    pseudonyms: dict[str, str | None],
) -> None:
    """Write one batch: duplicates decided, headers stored, then the index in one transaction."""
    replaced = [todo.path for todo, _ in batch if todo.known]
    uids = [o.instance.sop_instance_uid for _, o in batch if isinstance(o, Read)]
    holders = store.holders(uids, replaced)
    at = _now()
    kept: list[tuple[Instance, str | None]] = []
    stored: list[StoredHeader] = []
    files: list[FileRow] = []
    for todo, outcome in batch:
        row = FileRow(todo.path, todo.size, todo.mtime_ns, "indexed", None, None, None, run_id, at)
        if isinstance(outcome, Unreadable):
            status = "skipped" if outcome.skipped else "unreadable"
            report.note_unreadable(
                todo.path, outcome.reason.value, outcome.detail, skipped=outcome.skipped
            )
            files.append(
                replace(row, status=status, reason=outcome.reason.value, detail=outcome.detail)
            )
            continue
        instance = outcome.instance
        uid = instance.sop_instance_uid
        holder = holders.get(uid)
        if holder is not None:
            same = holder[1] == instance.header_sha256
            reason = "same_header" if same else "different_header"
            detail = f"the same SOPInstanceUID as {holder[0]}, " + (
                "with the same header (a copy)"
                if same
                else "with a different header: the first indexed is kept"
            )
            report.duplicates[reason] += 1
            files.append(
                replace(row, status="duplicate", reason=reason, detail=detail, sop_instance_uid=uid)
            )
            continue
        holders[uid] = (todo.path, instance.header_sha256)
        patient = instance.patient_id
        if patient not in pseudonyms:
            if len(pseudonyms) > 100_000:
                pseudonyms.clear()
            pseudonyms[patient] = pseudonym_of(patient)
        kept.append((instance, pseudonyms[patient]))
        if outcome.header is not None:
            stored.append(outcome.header)
        report.issues.update(instance.issues)
        files.append(replace(row, sop_instance_uid=uid))
    headers.replace(stored, drop=replaced)
    store.write(kept, files, replaced)
    report.read += len(batch)
    report.indexed += len(kept)


def _count(store: IndexStore, headers: HeaderStore, report: IndexReport) -> None:
    report.instances = int(store.scalar("SELECT count(*) FROM imaging_instance"))
    report.series = int(store.scalar("SELECT count(*) FROM imaging_series"))
    report.studies = int(store.scalar("SELECT count(*) FROM imaging_study"))
    report.links.update(
        {
            link: int(n)
            for link, n in store.rows("SELECT link, count(*) FROM imaging_series GROUP BY link")
        }
    )
    report.persons = int(store.scalar("SELECT count(DISTINCT person_id) FROM imaging_series") or 0)
    report.headers_stored = headers.count()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
