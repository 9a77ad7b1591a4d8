"""Indexing an archive: walk the paths, read the headers of new and changed files in a process
pool, write them a batch at a time, then roll the instances up into series and studies.

A run, step by step (docs/imaging.md, "Resumability"):

1. **Find.** The walk (:mod:`fivesafes.imaging.walk`) lists every file with its size and
   modification time; against ``imaging_files`` that splits them into new, changed and
   unchanged. Unchanged files are not read again; files indexed before and gone now leave the
   index (and the header store). On a first run (nothing known under the walked paths) there
   is nothing to compare or remove: every file is new, and is read as the walk finds it.
2. **Read.** The files to read go, in walk order, to ``workers`` processes in small tasks (at
   most a few per worker in flight, so memory stays bounded whatever the archive's size); each
   worker reads headers only (:mod:`fivesafes.imaging.reading`) and judges the values
   (:mod:`fivesafes.imaging.project`). Results come back in walk order.
3. **Write.** Every ``batch_files`` files, on a thread of its own while the results of the next
   batch come in: the kept headers go to the restricted store
   (:mod:`fivesafes.imaging.headers`), then one DuckDB transaction drops the rows of files read
   again and adds the new instance rows and every file's state. A killed run loses at most the
   batch in flight: the next run reads those files again, and only those.
4. **Roll up.** The series and study tables are rebuilt from all instances, the rules deciding
   body part and contrast, and each series' patient pseudonym linked to a ``person_id``.

Duplicates: a SOPInstanceUID already in the index (or earlier in the same batch) is not added
again (whether the index holds it is answered from the hashes of its UIDs the run keeps,
:mod:`fivesafes.imaging.seen`, without a scan of the index each batch); the file is recorded
as a ``duplicate``, ``same_header`` (a copy) or ``different_header`` (a conflict: the first
indexed is kept). Within a run, files are taken in
walk order, so "first" is the same whether a run was interrupted or not.

A PatientID never leaves this module: the caller's ``pseudonym_of`` (the node's keyed
pseudonym, :mod:`fivesafes.node.pseudonyms`) turns it into the value the CDM keeps in
``person.person_source_value``; a PatientID it cannot use (``None``) leaves the instance
unlinked. No person is ever guessed.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from fivesafes.imaging.headers import HeaderStore, StoredHeader
from fivesafes.imaging.project import Instance
from fivesafes.imaging.reading import FileStat, Unreadable
from fivesafes.imaging.report import IndexReport
from fivesafes.imaging.rules import Rules
from fivesafes.imaging.store import CdmRows, FileRow, IndexStore, PersonRows, Todo
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
    pool_from: int = 5000  # files to read per worker below which this process reads them all:
    # starting the workers (a fresh interpreter each) costs as much as reading a few thousand


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
    person_rows: PersonRows | None = None,
    cdm_rows: CdmRows | None = None,
) -> IndexReport:
    """Index the DICOM files under ``paths`` into the DuckDB file ``database``, keeping full
    headers in ``header_store``. Reads only files new or changed since the last run.

    ``database`` is the node's DuckDB data file (its ``person`` table links persons), or, with
    ``person_rows`` (the node's data is on PostgreSQL or Spark), the index's own file, made if
    absent, the ``person`` rows streamed from the node's data source."""
    tell = progress or _silent
    today = options.today or datetime.now(UTC).date()
    roots = roots_of(paths)
    report = IndexReport(run_id=new_run_id(), roots=roots, rules=rules.label)
    own = {os.path.abspath(p) for f in (database, header_store) for p in _companions(f)}

    def read(store: IndexStore, headers: HeaderStore) -> None:
        walking = _Walking()
        if store.knows_under(roots):
            _find(store, headers, roots, own, report, tell)
            todo: Iterator[Todo] = store.todo()
            walking.finished = True
        else:  # a first run: every file found is new, read while the walk goes on
            todo = (
                Todo(f.path, f.size, f.mtime_ns, False) for f in _walk(roots, own, report, walking)
            )

        def total() -> int | None:
            return report.new + report.changed if walking.finished else None

        reading = time.perf_counter()
        _read(store, headers, report, todo, total, today, options, pseudonym_of, tell)
        report.reading_seconds = time.perf_counter() - reading

    with (
        IndexStore(
            database,
            schema,
            options.memory_limit,
            create=person_rows is not None,
            person_rows=person_rows,
            cdm_rows=cdm_rows,
        ) as store,
        HeaderStore(header_store) as headers,
    ):
        run(store, headers, report, rules, read, tell)
    return report


def run(
    store: IndexStore,
    headers: HeaderStore,
    report: IndexReport,
    rules: Rules,
    read: Callable[[IndexStore, HeaderStore], None],
    tell: Progress,
) -> None:
    """One run of the index, whatever it reads: recorded in ``imaging_runs`` (``failed`` if it
    raises, ``running`` if it is killed), ``read``, then the roll-ups and the counts."""
    started = time.perf_counter()
    store.begin_run(report.run_id, report.roots, rules, now())
    try:
        read(store, headers)
        tell("rolling up", 0, 1)
        store.project(rules)
        count_index(store, headers, report)
        tell("rolling up", 1, 1)
    except BaseException:
        report.seconds = time.perf_counter() - started
        with contextlib.suppress(Exception):  # never hide why the run failed
            store.end_run(report.run_id, "failed", report.to_dict(), now())
        raise
    report.finished = True
    report.seconds = time.perf_counter() - started
    store.end_run(report.run_id, "finished", report.to_dict(), now())


def _silent(stage: str, done: int, total: int | None) -> None:
    return None


def _companions(path: Path) -> list[Path]:
    """A database file and the files its engine keeps beside it (WAL, journal)."""
    return [
        path,
        *(path.with_name(path.name + end) for end in (".wal", "-wal", "-shm", "-journal")),
    ]


@dataclass
class _Walking:
    finished: bool = False


def _walk(
    roots: list[str], own: set[str], report: IndexReport, walking: _Walking | None = None
) -> Iterator[FileStat]:
    """The files under ``roots`` but the run's ``own`` (the index and the header store, if
    they sit under a walked folder), counted in ``report.found``. With ``walking`` (a first
    run: nothing known under ``roots``, so the caller reads the files as they come) each is
    new, and ``walking.finished`` is set at the end."""
    for item in walk(roots):
        if isinstance(item, WalkProblem):
            report.note_walk_problem(item.path, item.problem)
            continue
        if item.path in own:
            continue
        report.found += 1
        yield item
    if walking is not None:
        report.new = report.found
        walking.finished = True


def _find(
    store: IndexStore,
    headers: HeaderStore,
    roots: list[str],
    own: set[str],
    report: IndexReport,
    tell: Progress,
) -> None:
    """Walk ``roots`` and plan what to read against what was read before."""

    def files() -> Iterator[tuple[str, int, int]]:
        for item in _walk(roots, own, report):
            if report.found % 5000 == 0:
                tell("finding files", report.found, None)
            yield (item.path, item.size, item.mtime_ns)

    plan = store.plan(files(), roots)
    tell("finding files", report.found, None)
    if plan.removed:
        headers.replace((), drop=plan.removed)
    report.found, report.new, report.changed = plan.found, plan.new, plan.changed
    report.unchanged, report.removed = plan.unchanged, len(plan.removed)


def _read(
    store: IndexStore,
    headers: HeaderStore,
    report: IndexReport,
    todo: Iterator[Todo],
    total: Callable[[], int | None],
    today: date,
    options: IndexOptions,
    pseudonym_of: Pseudonymise,
    tell: Progress,
) -> None:
    """Read ``todo`` (``total()``: how many, None while a first run's walk goes on), the
    batches written on a thread of their own while this one collects what the workers read."""
    least = options.workers * options.pool_from  # files to read before workers pay
    head = list(itertools.islice(todo, least))
    workers = options.workers if len(head) >= least else 1
    tell("reading headers", 0, total())
    batch: list[tuple[Todo, Outcome]] = []
    pseudonyms = Pseudonyms(pseudonym_of)
    run_id = report.run_id
    with store.writing_batches(), store.on_own_connection() as own:
        own.remember_uids()

        def write(batch: list[tuple[Todo, Outcome]]) -> None:
            _write_files(own, headers, batch, report, run_id, pseudonyms)

        with _Writer(write) as writer:
            for item in read_in_order(itertools.chain(head, todo), today, workers):
                batch.append(item)
                if len(batch) >= options.batch_files:
                    writer.put(batch)
                    batch = []
                    tell("reading headers", report.read, total())
            if batch:
                writer.put(batch)
    tell("reading headers", report.read, total())


class _Writer:
    """Writes batches, in the order given, on a thread of its own: DuckDB and SQLite let go of
    the interpreter while they write and commit, so the thread that hands them over goes on
    collecting the workers' results meanwhile. At most one batch waits; the first failure
    stops the writing and is raised in the handing thread. Leaving waits for the batch being
    written: a batch is written whole or not at all."""

    def __init__(self, write: Callable[[list[tuple[Todo, Outcome]]], None]) -> None:
        self.write = write
        self.waiting: queue.Queue[list[tuple[Todo, Outcome]] | None] = queue.Queue(maxsize=1)
        self.failed: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="imaging-index-writer")

    def __enter__(self) -> _Writer:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self.waiting.put(None)
        self.thread.join()
        if kind is None and self.failed is not None:
            raise self.failed

    def put(self, batch: list[tuple[Todo, Outcome]]) -> None:
        if self.failed is not None:
            raise self.failed
        self.waiting.put(batch)

    def _run(self) -> None:
        while (batch := self.waiting.get()) is not None:
            if self.failed is None:
                try:
                    self.write(batch)
                except BaseException as exc:  # noqa: BLE001 - raised in the handing thread
                    self.failed = exc


def _write_files(
    store: IndexStore,
    headers: HeaderStore,
    batch: list[tuple[Todo, Outcome]],
    report: IndexReport,
    run_id: str,
    pseudonyms: Pseudonyms,
) -> None:
    replaced = [todo.path for todo, _ in batch if todo.known]
    found = [(todo.path, todo.size, todo.mtime_ns, outcome) for todo, outcome in batch]
    write_batch(store, headers, found, report, run_id, pseudonyms, replaced)


class Pseudonyms:
    """Each PatientID's pseudonym, remembered for a while (a series' images share one)."""

    def __init__(self, pseudonym_of: Pseudonymise, keep: int = 100_000) -> None:
        self.pseudonym_of = pseudonym_of
        self.keep = keep
        self.known: dict[str, str | None] = {}

    def __call__(self, patient_id: str) -> str | None:
        known = self.known
        if patient_id not in known:
            if len(known) >= self.keep:
                known.clear()
            known[patient_id] = self.pseudonym_of(patient_id)
        return known[patient_id]


Found = tuple[str, int | None, int | None, Outcome]
"""What was read at a location (a path, or a DICOMweb instance's URL), its size and mtime
(None through DICOMweb), and the outcome."""


def write_batch(
    store: IndexStore,
    headers: HeaderStore,
    batch: Sequence[Found],
    report: IndexReport,
    run_id: str,
    pseudonyms: Pseudonyms,
    replaced: Sequence[str],
    also: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> None:
    """Write one batch: duplicates decided, headers stored, then the index in one transaction
    (with ``also``, a DICOMweb series' state). ``replaced``: the locations whose earlier rows
    this batch replaces."""
    uids = [o.instance.sop_instance_uid for *_, o in batch if isinstance(o, Read)]
    holders = store.holders(uids, replaced)
    at = now()
    kept: list[tuple[Instance, str | None]] = []
    stored: list[StoredHeader] = []
    files: list[FileRow] = []
    for path, size, mtime_ns, outcome in batch:
        if isinstance(outcome, Unreadable):
            status = "skipped" if outcome.skipped else "unreadable"
            reason = outcome.reason.value
            report.note_unreadable(path, reason, outcome.detail, skipped=outcome.skipped)
            files.append(
                FileRow(path, size, mtime_ns, status, reason, outcome.detail, None, run_id, at)
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
                FileRow(path, size, mtime_ns, "duplicate", reason, detail, uid, run_id, at)
            )
            continue
        holders[uid] = (path, instance.header_sha256)
        kept.append((instance, pseudonyms(instance.patient_id)))
        if outcome.header is not None:
            stored.append(outcome.header)
        if instance.issues:
            report.issues.update(instance.issues)
        files.append(FileRow(path, size, mtime_ns, "indexed", None, None, uid, run_id, at))
    headers.replace(stored, drop=replaced)
    store.write(kept, files, replaced, also)
    report.read += len(batch)
    report.indexed += len(kept)


def count_index(store: IndexStore, headers: HeaderStore, report: IndexReport) -> None:
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


def now() -> datetime:
    """Now, as the index's timestamps keep it (UTC, naive)."""
    return datetime.now(UTC).replace(tzinfo=None)


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
