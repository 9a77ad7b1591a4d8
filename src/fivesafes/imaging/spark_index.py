"""The indexer as a Spark job (PySpark: ``local[N]`` on one machine, a cluster's master in
production), for an archive that outgrows one machine: the same reading, judging, rules and
roll-ups as the local indexer (:mod:`fivesafes.imaging.index`), the same tables, as Parquet.

A run, step by step (docs/imaging.md, "The indexer as a Spark job"):

1. **Find.** The driver walks the paths (:mod:`fivesafes.imaging.walk`, the same order) and
   streams the list, each file numbered in walk order, into a Parquet file of the run.
2. **Read.** Spark splits the list into ranges of the walk (a multiple of the cores, at most
   ``files_per_partition`` files each); a task (``mapInArrow``) reads its files with the local
   workers' own function (:func:`worker.read_files`: the lean walk or pydicom,
   :func:`project.instance_of`), turns each PatientID into its pseudonym there (so no
   PatientID ever enters a Spark row), keeps the headers in a restricted store of its
   partition, and returns one row per file. The rows are written once, as Parquet.
3. **Decide.** Duplicates as locally: of the files with one SOPInstanceUID, the first in walk
   order is indexed, the others are ``duplicate`` (``same_header`` or ``different_header``,
   naming the file kept), and their headers leave their partition's store.
4. **Roll up** (:mod:`fivesafes.imaging.spark_rollups`). The rules decide each distinct set
   of texts on the driver (as the local index does); series and studies are rolled up in
   Spark by exactly the rules of :data:`project.SERIES_SQL` and :data:`project.STUDY_SQL`
   (first text in instance order, contrast and burned-in ``yes`` before ``no`` before
   ``unknown``, medians, earliest dates), the pseudonyms linked to the node's ``person`` rows
   (:func:`publish.person_rows`).
5. **Publish.** ``imaging_study`` and ``imaging_series`` go into the node's data
   (:func:`publish.publish`); the instance and file tables (paths) stay in the job's folder.

**Resumable by whole run.** Every run reads every file. A run's tables are written under
``runs/<run id>/`` of the job's folder and become the index only when the run has finished
(the folder's ``current`` names it); a run killed at any point leaves the last finished run's
tables, and its own leftovers are removed by the next run, which starts over.

The job's folder holds only the job's tables; the restricted header stores (one SQLite file a
partition) are in a folder of their own beside the node's header store, created mode 700.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as pa_ds
import pyarrow.parquet as pq

from fivesafes.data.source import Source
from fivesafes.imaging import tables as t
from fivesafes.imaging.headers import HeaderStore
from fivesafes.imaging.index import Progress, Pseudonymise, Pseudonyms, new_run_id, now
from fivesafes.imaging.publish import PUBLISHED, arrow_schema, person_rows, publish
from fivesafes.imaging.reading import Unreadable
from fivesafes.imaging.report import MAX_EXAMPLES, IndexReport
from fivesafes.imaging.rules import Rules
from fivesafes.imaging.spark_rollups import omop_tables_of, series_of, spark_schema, studies_of
from fivesafes.imaging.store import chunks
from fivesafes.imaging.walk import WalkProblem, roots_of, walk
from fivesafes.imaging.worker import Read, read_files
from fivesafes.protocol.errors import Conflict

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

MAX_PARTITIONS = 100_000
_WALK_SCHEMA = pa.schema(
    [("k", pa.int64()), ("path", pa.string()), ("size", pa.int64()), ("mtime_ns", pa.int64())]
)
_FILE_FIELDS = (
    ("k", "BIGINT"),
    ("part", "INTEGER"),
    ("path", "VARCHAR"),
    ("size", "BIGINT"),
    ("mtime_ns", "BIGINT"),
    ("status", "VARCHAR"),  # read | unreadable | skipped
    ("reason", "VARCHAR"),
    ("detail", "VARCHAR"),
    ("header_kept", "BOOLEAN"),
)
OUTCOME_COLUMNS = _FILE_FIELDS + tuple(
    (c, kind.split()[0]) for c, kind in t.INSTANCE_COLUMNS if c not in ("path", "size")
)
"""One row per file read by a task: the file, what became of it, and its instance's columns
(null when it was not read as an image)."""
_INSTANCE_ONLY = [c for c, _ in OUTCOME_COLUMNS[len(_FILE_FIELDS) :]]
_OUTCOME_SCHEMA = t.arrow_schema(OUTCOME_COLUMNS)


@dataclass(frozen=True)
class SparkOptions:
    master: str = "local[2]"  # or a cluster's master URL (as [data] master)
    driver_memory: str = "2g"
    files_per_partition: int = 20_000  # at most, files a Spark task reads
    today: date | None = None  # dates after it are absurd (default: today, UTC)


def index_on_spark(
    paths: Sequence[Path],
    *,
    folder: Path,
    header_folder: Path,
    rules: Rules,
    pseudonym_of: Pseudonymise,
    source: Source,
    own: Sequence[Path] = (),
    options: SparkOptions = SparkOptions(),
    progress: Progress | None = None,
) -> IndexReport:
    """Index the DICOM files under ``paths`` as a Spark job: its tables in ``folder``, the
    headers in per-partition stores under ``header_folder``; then publish the study and series
    tables into the node's data ``source``. ``own``: files and folders never indexed (the
    node's own: its data, index, header store). ``pseudonym_of`` runs in the Spark tasks, so it
    must pickle (a function closing over the node's key does)."""
    tell = progress or (lambda stage, done, total: None)
    today = options.today or datetime.now(UTC).date()
    roots = roots_of(paths)
    report = IndexReport(run_id=new_run_id(), roots=roots, rules=rules.label)
    started = time.perf_counter()
    with _locked(folder):
        current = _current(folder)
        _remove_runs(folder / "runs", keep=current)
        _remove_runs(header_folder, keep=current)
        run = folder / "runs" / report.run_id
        headers = header_folder / report.run_id
        run.mkdir(parents=True)
        headers.mkdir(parents=True, mode=0o700)
        os.chmod(header_folder, 0o700)
        record = _begin(run, report, rules)
        try:
            _walk(run / "walk.parquet", roots, [folder, header_folder, *own], report, tell)
            session = index_session(options)
            _person_file(run / "person.parquet", source)
            reading = time.perf_counter()
            tell("reading headers", 0, report.found)
            job = _Job(session, run, report, options)
            with job.tuned():
                job.read(today, pseudonym_of, headers)
                report.reading_seconds = time.perf_counter() - reading
                tell("reading headers", report.read, report.found)
                tell("rolling up", 0, 1)
                job.decide(headers)
                job.roll_up(rules)
                omop_tables_of(run, source)
                job.count()
            job.clean()
            tell("rolling up", 1, 1)
            report.finished = True
            report.seconds = time.perf_counter() - started
            _end(run, record, "finished", report)
            _set_current(folder, report.run_id)
        except BaseException:
            report.seconds = time.perf_counter() - started
            with contextlib.suppress(Exception):  # never hide why the run failed
                _end(run, record, "failed", report)
            raise
        _remove_runs(folder / "runs", keep=report.run_id)
        _remove_runs(header_folder, keep=report.run_id)
        publish(source, readers(run))
    return report


def readers(run: Path) -> dict[str, Callable[[], pa.RecordBatchReader]]:
    """The published tables of the Spark run in ``run``, each as a stream of its rows."""

    def reader(name: str) -> Callable[[], pa.RecordBatchReader]:
        def rows() -> pa.RecordBatchReader:
            schema = arrow_schema(name)
            scanner = pa_ds.dataset(run / name, format="parquet").scanner(
                columns=schema.names, batch_size=50_000
            )
            batches = (batch.cast(schema) for batch in scanner.to_batches())
            return pa.RecordBatchReader.from_batches(schema, batches)

        return rows

    return {name: reader(name) for name in PUBLISHED}


def problems(folder: Path, run_id: str) -> list[tuple[str, str, str | None, str | None]]:
    """The files of the run ``run_id`` not indexed, and why (path, status, reason, detail)."""
    files = pa_ds.dataset(folder / "runs" / run_id / "imaging_files", format="parquet")
    table = files.to_table(
        columns=["path", "status", "reason", "detail"],
        filter=pa_ds.field("status") != "indexed",
    ).sort_by("path")
    return list(zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True))


def index_session(options: SparkOptions) -> SparkSession:
    """The job's Spark session (the process's, if it has one). In local mode the tasks run in
    this Python, unless ``PYSPARK_PYTHON`` says otherwise; on a cluster, ``PYSPARK_PYTHON``
    must name a Python with fivesafes installed on every executor."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master(options.master)
        .appName("fivesafes-imaging-index")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", options.driver_memory)
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    context = session.sparkContext
    context.setLogLevel("ERROR")
    if "PYSPARK_PYTHON" not in os.environ and options.master.startswith("local"):
        context.pythonExec = sys.executable  # the tasks' Python: this one, with fivesafes
    return session


# ---- the run's folder ---------------------------------------------------------------------


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One Spark run of a node's index at a time."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise Conflict(
                f"Another Spark run of the imaging index holds {folder}; try again when it ends."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _current(folder: Path) -> str | None:
    try:
        return (folder / "current").read_text().strip() or None
    except FileNotFoundError:
        return None


def _set_current(folder: Path, run_id: str) -> None:
    part = folder / "current.part"
    part.write_text(run_id + "\n")
    os.replace(part, folder / "current")


def _remove_runs(folder: Path, keep: str | None) -> None:
    """Every run's leftovers under ``folder`` but ``keep``'s."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.name != keep and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)


def _begin(run: Path, report: IndexReport, rules: Rules) -> dict[str, Any]:
    record: dict[str, Any] = {
        "run_id": report.run_id,
        "started_at": now().isoformat(),
        "finished_at": None,
        "status": "running",
        "paths": report.roots,
        "rules": rules.label,
        "rules_sha256": rules.sha256,
        "engine": "spark",
        "counts": None,
    }
    (run / "run.json").write_text(json.dumps(record, indent=1))
    return record


def _end(run: Path, record: dict[str, Any], status: str, report: IndexReport) -> None:
    record.update(status=status, finished_at=now().isoformat(), counts=report.to_dict())
    (run / "run.json").write_text(json.dumps(record, indent=1, default=str))


def _walk(
    target: Path, roots: list[str], own: list[Path], report: IndexReport, tell: Progress
) -> None:
    """The walk's list, numbered in walk order, streamed into ``target`` (never whole in
    memory), leaving out the node's ``own`` files (with their engines' companions: WAL,
    journal) and folders."""
    mine = [os.path.abspath(p) for p in own]
    found = 0
    with pq.ParquetWriter(target, _WALK_SCHEMA) as writer:
        for chunk in chunks(walk(roots), 100_000):
            rows: list[tuple[int, str, int, int]] = []
            for item in chunk:
                if isinstance(item, WalkProblem):
                    report.note_walk_problem(item.path, item.problem)
                elif not any(_within(item.path, p) for p in mine):
                    rows.append((found + len(rows), item.path, item.size, item.mtime_ns))
            found += len(rows)
            columns = list(zip(*rows, strict=True)) or [()] * len(_WALK_SCHEMA)
            arrays = [pa.array(c, f.type) for c, f in zip(columns, _WALK_SCHEMA, strict=True)]
            writer.write_table(pa.Table.from_arrays(arrays, schema=_WALK_SCHEMA))
            tell("finding files", found, None)
    report.found = report.new = found


def _within(path: str, own: str) -> bool:
    """``path`` is ``own``, a file its engine keeps beside it, or under it."""
    rest = path[len(own) :] if path.startswith(own) else None
    return rest is not None and (rest in _COMPANIONS or rest.startswith("/"))


_COMPANIONS = ("", ".wal", "-wal", "-shm", "-journal")


def _person_file(target: Path, source: Source) -> None:
    with person_rows(source) as rows, pq.ParquetWriter(target, rows.schema) as writer:
        for batch in rows:
            writer.write_batch(batch)


# ---- the tasks ----------------------------------------------------------------------------


def read_batches(
    files: Iterable[pa.RecordBatch],
    *,
    today: date,
    pseudonym_of: Pseudonymise,
    headers: str,
    part: int | None = None,
) -> Iterator[pa.RecordBatch]:
    """A Spark task (``mapInArrow``): read and judge the walk's ``files`` (batches of k, path,
    size, mtime_ns), keep their headers in the restricted store of the partition (``part``:
    the task's own), and yield :data:`OUTCOME_COLUMNS` batches, one row a file. A task run
    again (a retry) writes the same store rows again."""
    if part is None:
        from pyspark import TaskContext

        part = TaskContext.get().partitionId()  # type: ignore[union-attr]
    pseudonyms = Pseudonyms(pseudonym_of)
    blank = (None,) * len(_INSTANCE_ONLY)
    with HeaderStore(Path(headers) / f"part-{part:05d}.sqlite") as store:
        for batch in files:
            listed = batch.to_pydict()
            found = list(zip(*(listed[c] for c in _WALK_SCHEMA.names), strict=True))
            for chunk in chunks(found, 256):
                outcomes = read_files(
                    [(path, size, mtime) for _, path, size, mtime in chunk], today
                )
                rows: list[tuple[Any, ...]] = []
                kept = []
                for (k, path, size, mtime), outcome in zip(chunk, outcomes, strict=True):
                    if isinstance(outcome, Unreadable):
                        status = "skipped" if outcome.skipped else "unreadable"
                        said = (status, outcome.reason.value, outcome.detail, False)
                        rows.append((k, part, path, size, mtime, *said, *blank))
                        continue
                    stored = outcome.header is not None
                    instance = _instance(outcome, pseudonyms)
                    rows.append((k, part, path, size, mtime, "read", None, None, stored, *instance))
                    if outcome.header is not None:
                        kept.append(outcome.header)
                store.replace(kept)
                columns = zip(*rows, strict=True)
                yield pa.RecordBatch.from_arrays(
                    [pa.array(c, f.type) for c, f in zip(columns, _OUTCOME_SCHEMA, strict=True)],
                    schema=_OUTCOME_SCHEMA,
                )


def _instance(outcome: Read, pseudonyms: Pseudonyms) -> list[Any]:
    values = outcome.instance._asdict()
    values["patient_pseudonym"] = pseudonyms(values.pop("patient_id"))  # never the PatientID
    values["issues"] = ",".join(values["issues"]) or None
    return [values[c] for c in _INSTANCE_ONLY]


# ---- the job ------------------------------------------------------------------------------


class _Job:
    """The Spark side of one run: each step reads the last one's Parquet and writes its own."""

    def __init__(
        self, session: SparkSession, run: Path, report: IndexReport, options: SparkOptions
    ) -> None:
        self.session = session
        self.run = run
        self.report = report
        self.options = options
        self.read_at = now()

    def path(self, name: str) -> str:
        return str(self.run / name)

    def table(self, name: str) -> DataFrame:
        return self.session.read.parquet(self.path(name))

    @property
    def partitions(self) -> int:
        """How many tasks read the files: a multiple of the cores, each task at most
        ``files_per_partition`` files (a task costs a few tenths of a second to start: its
        Python, its header store), and no more tasks than lists of 32 files."""
        found = self.report.found
        cores = self.session.sparkContext.defaultParallelism
        rounds = math.ceil(found / (cores * self.options.files_per_partition))
        return max(1, min(MAX_PARTITIONS, cores * rounds, math.ceil(found / 32)))

    @contextmanager
    def tuned(self) -> Iterator[None]:
        """Spark settings for the job's own steps, put back afterwards: shuffles sized to the
        run (Spark's default, 200, costs more than it reads on a small archive), and no
        whole-stage code generation: the roll-ups' aggregations are wide (some thirty
        functions), compiling them costs seconds a run, interpreting them a few microseconds a
        row (docs/imaging.md, "The indexer as a Spark job")."""
        conf = self.session.conf
        parallel = self.session.sparkContext.defaultParallelism
        wanted = {
            "spark.sql.shuffle.partitions": str(max(2 * parallel, min(self.partitions, 4000))),
            "spark.sql.codegen.wholeStage": "false",
        }
        before = {name: conf.get(name) for name in wanted}
        for name, value in wanted.items():
            conf.set(name, value)
        try:
            yield
        finally:
            for name, old in before.items():
                conf.set(name, str(old))

    def read(self, today: date, pseudonym_of: Pseudonymise, headers: Path) -> None:
        found = self.report.found
        parts = self.partitions
        task = functools.partial(
            read_batches, today=today, pseudonym_of=pseudonym_of, headers=str(headers)
        )
        files = self.table("walk.parquet").repartitionByRange(parts, "k")
        outcomes = files.mapInArrow(task, spark_schema(OUTCOME_COLUMNS))
        outcomes.write.parquet(self.path("read"))
        self.report.read = found

    def decide(self, headers: Path) -> None:
        """The instance and file tables: the first file of each SOPInstanceUID (walk order)
        is indexed, the others are duplicates; their headers leave the stores."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        read = self.table("read")
        first = Window.partitionBy("sop_instance_uid").orderBy("k")
        images = read.where(F.col("status") == "read").select(
            "*",
            F.row_number().over(first).alias("rank"),
            F.first("path").over(first).alias("holder"),
            F.first("header_sha256").over(first).alias("holder_sha256"),
        )
        images.write.parquet(self.path("images"))
        images = self.table("images")
        kept = images.where(F.col("rank") == 1)
        kept.select(*(c for c, _ in t.INSTANCE_COLUMNS)).write.parquet(
            self.path("imaging_instance")
        )
        same = F.col("holder_sha256") == F.col("header_sha256")
        copies = images.where(F.col("rank") > 1).select(
            "path",
            "size",
            "mtime_ns",
            F.lit("duplicate").alias("status"),
            F.when(same, "same_header").otherwise("different_header").alias("reason"),
            F.concat(
                F.lit("the same SOPInstanceUID as "),
                F.col("holder"),
                F.when(same, F.lit(", with the same header (a copy)")).otherwise(
                    F.lit(", with a different header: the first indexed is kept")
                ),
            ).alias("detail"),
            "sop_instance_uid",
        )
        indexed = kept.select(
            "path",
            "size",
            "mtime_ns",
            F.lit("indexed").alias("status"),
            F.lit(None).cast("string").alias("reason"),
            F.lit(None).cast("string").alias("detail"),
            "sop_instance_uid",
        )
        others = read.where(F.col("status") != "read").select(
            "path", "size", "mtime_ns", "status", "reason", "detail", "sop_instance_uid"
        )
        files = indexed.unionByName(copies).unionByName(others)
        files.select(
            *files.columns,
            F.lit(self.report.run_id).alias("run_id"),
            F.lit(self.read_at.isoformat(sep=" ")).cast("timestamp_ntz").alias("read_at"),
        ).write.parquet(self.path("imaging_files"))
        self._drop_headers(images.where((F.col("rank") > 1) & F.col("header_kept")), headers)
        self.report.headers_stored = kept.where(F.col("header_kept")).count()

    def _drop_headers(self, copies: DataFrame, headers: Path) -> None:
        """The headers of duplicates out of their partitions' stores, a partition at a time."""
        part: int | None = None
        paths: list[str] = []
        for row in copies.select("part", "path").orderBy("part").toLocalIterator():
            if row.part != part and paths:
                _drop(headers, part, paths)
                paths = []
            part = row.part
            paths.append(row.path)
        if paths:
            _drop(headers, part, paths)

    def roll_up(self, rules: Rules) -> None:
        """The series and study tables (:mod:`fivesafes.imaging.spark_rollups`)."""
        instances, persons = self.table("imaging_instance"), self.table("person.parquet")
        series = series_of(self.session, instances, persons, rules)
        series.write.parquet(self.path("imaging_series"))
        studies_of(self.table("imaging_series")).write.parquet(self.path("imaging_study"))

    def count(self) -> None:
        from pyspark.sql import functions as F

        report = self.report
        files = self.table("imaging_files")
        for status, reason, n in files.groupBy("status", "reason").count().collect():
            if status == "unreadable":
                report.unreadable[reason] += n
            elif status == "skipped":
                report.skipped[reason] += n
            elif status == "duplicate":
                report.duplicates[reason] += n
            else:
                report.indexed += n
        bad = self.table("read").where(F.col("status") == "unreadable")
        report.examples = [
            (row.path, row.reason, row.detail)
            for row in bad.orderBy("k")
            .limit(MAX_EXAMPLES)
            .select("path", "reason", "detail")
            .collect()
        ]
        instances = self.table("imaging_instance")
        issues = instances.select(F.explode(F.split("issues", ",")).alias("issue"))
        report.issues.update(
            {row.issue: row["count"] for row in issues.groupBy("issue").count().collect()}
        )
        report.instances = report.indexed
        series = self.table("imaging_series")
        report.series = series.count()
        report.studies = self.table("imaging_study").count()
        report.links.update(
            {row.link: row["count"] for row in series.groupBy("link").count().collect()}
        )
        report.persons = series.select(F.count_distinct("person_id")).collect()[0][0]

    def clean(self) -> None:
        """The run's working files out (the outcomes, the duplicates' ranks)."""
        for name in ("read", "images"):
            shutil.rmtree(self.run / name)


def _drop(headers: Path, part: int | None, paths: list[str]) -> None:
    with HeaderStore(headers / f"part-{part:05d}.sqlite") as store:
        store.replace((), drop=paths)
