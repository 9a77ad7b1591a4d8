"""The index in the node's DuckDB file: what the walk found against what was read before, each
batch written in one transaction, and the series and study tables rebuilt from the instances.

One read-write connection is held for a run (DuckDB allows one writer per file): while a run
goes on, a node process cannot open the file, as during ``fivesafes node load-omop``.
Working tables (``imaging_walk``, ``imaging_todo``, ``imaging_mapping``,
``imaging_person_link``) are temporary: they die with the connection, spill to disk beyond the
memory limit, and are never seen by anything else.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import pyarrow as pa

from fivesafes.imaging import omop_tables
from fivesafes.imaging import tables as t
from fivesafes.imaging.project import (
    SERIES_PART_INSTANCES,
    SERIES_SQL,
    STUDY_PART_SERIES,
    STUDY_SQL,
    Instance,
    in_parts,
)
from fivesafes.imaging.rules import FIELDS, Rules
from fivesafes.imaging.seen import SeenUids, hashes_of
from fivesafes.protocol.errors import ConfigError, Conflict

MAPPING_KEYS = (
    ("BodyPartExamined", "body_part_examined"),
    ("StudyDescription", "study_description"),
    ("SeriesDescription", "series_description"),
    ("ProtocolName", "protocol_name"),
    ("ContrastBolusAgent", "contrast_bolus_agent"),
    ("ContrastBolusRoute", "contrast_bolus_route"),
)
assert tuple(k for k, _ in MAPPING_KEYS) == FIELDS
_COMBO = ", ".join(f"coalesce({c}, '') AS {c}" for _, c in MAPPING_KEYS)
_INSTANCE_SCHEMA = t.arrow_schema(t.INSTANCE_COLUMNS)
_FILE_SCHEMA = t.arrow_schema(t.FILE_COLUMNS)
_WALK_SCHEMA = pa.schema(
    [("k", pa.int64()), ("path", pa.string()), ("size", pa.int64()), ("mtime_ns", pa.int64())]
)

CdmRows = Callable[[], AbstractContextManager[Mapping[str, pa.RecordBatchReader]]]
"""Where the OMOP imaging tables find the node's procedures, visits and the concepts they
use when the index is not in the node's data file: streams of those CDM tables' rows, by
name (:func:`fivesafes.imaging.publish.cdm_rows`)."""

PersonRows = Callable[[], AbstractContextManager[pa.RecordBatchReader]]
"""Where the link from pseudonym to person comes from when the index is not in the node's data
file: opens a stream of the node's ``person`` rows (``person_id``, ``person_source_value``),
closed when the link is made (:func:`fivesafes.imaging.publish.person_rows`)."""

_LINK_SQL = (
    "CREATE OR REPLACE TEMP TABLE imaging_person_link AS "
    "SELECT person_source_value AS pseudonym, min(person_id) AS person_id,"
    " count(DISTINCT person_id) AS persons "
    "FROM {rows} WHERE person_source_value IS NOT NULL GROUP BY 1"
)


@dataclass(frozen=True, slots=True)
class Todo:
    """A file to read: new, or changed since it was read (``known``)."""

    path: str
    size: int
    mtime_ns: int
    known: bool


class FileRow(NamedTuple):
    """A file's state (or a DICOMweb instance's: no size, no mtime)."""

    path: str
    size: int | None
    mtime_ns: int | None
    status: str
    reason: str | None
    detail: str | None
    sop_instance_uid: str | None
    run_id: str
    read_at: datetime


@dataclass(frozen=True)
class Plan:
    found: int
    new: int
    changed: int
    unchanged: int
    removed: list[str]

    @property
    def to_read(self) -> int:
        return self.new + self.changed


class IndexStore:
    """The index tables of the DuckDB file at ``path`` (in ``schema``, by default ``main``).

    The node's DuckDB data file, whose ``person`` table links pseudonyms to persons; or, on a
    node whose data is elsewhere, a file of the index's own (``create``: made if absent), and
    ``person_rows`` streams the node's ``person`` rows from its data source."""

    def __init__(
        self,
        path: Path,
        schema: str | None = None,
        memory_limit: str = "1GB",
        *,
        read_only: bool = False,
        create: bool = False,
        person_rows: PersonRows | None = None,
        cdm_rows: CdmRows | None = None,
    ) -> None:
        self.path = path
        self.schema = schema
        self.memory_limit = memory_limit
        self.read_only = read_only
        self.create = create and not read_only
        self.person_rows = person_rows
        self.cdm_rows = cdm_rows
        self.series_part_instances = SERIES_PART_INSTANCES  # roll-ups in parts beyond these
        self.study_part_series = STUDY_PART_SERIES
        self._con: duckdb.DuckDBPyConnection | None = None
        self.seen: SeenUids | None = None  # see remember_uids

    # ---- opening ------------------------------------------------------------------------

    def start(self) -> IndexStore:
        if not self.path.is_file() and not self.create:
            raise ConfigError(f"No DuckDB file at {self.path}: load the node's data first.")
        if self.create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(str(self.path), read_only=self.read_only)
        except duckdb.IOException:
            raise Conflict(
                f"{self.path} is in use (a running node or another index run holds it); "
                "try again when it is free."
            ) from None
        con.execute("SET enable_progress_bar = false")
        con.execute(f"SET memory_limit = '{_size(self.memory_limit)}'")
        if self.read_only:
            if self.schema:
                con.execute(f"SET schema = '{self.schema}'")
            self._con = con
            return self
        if self.schema:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            con.execute(f"SET schema = '{self.schema}'")
        for name, columns in (
            ("imaging_instance", t.INSTANCE_COLUMNS),
            ("imaging_files", t.FILE_COLUMNS),
            ("imaging_runs", t.RUN_COLUMNS),
            ("imaging_dicomweb_studies", t.DICOMWEB_STUDY_COLUMNS),
            ("imaging_dicomweb_series", t.DICOMWEB_SERIES_COLUMNS),
        ):
            con.execute(t.create_sql(name, columns))
        for name, column in t.NULLABLE_SINCE_DICOMWEB:  # tables made before DICOMweb
            if self._not_null(con, name, column):
                con.execute(f"ALTER TABLE {name} ALTER COLUMN {column} DROP NOT NULL")
        self._con = con
        return self

    def _not_null(self, con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
        found = con.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE table_name = ? AND column_name = ?"
            " AND schema_name = ? AND NOT is_nullable",
            [table, column, self.schema or "main"],
        ).fetchone()
        return bool(found and found[0])

    @contextmanager
    def writing_batches(self) -> Iterator[None]:
        """While batches are written: DuckDB on one thread (a batch of a thousand rows gains
        nothing from two, and the workers need the cores) and checkpointing every 64 MB of log
        rather than 16 (each checkpoint recompresses what was written). Not at the end alone
        either: checkpoints while batches are written overlap the reading (batches are written
        on a thread of their own), one at the end does not; measured on 55,000 files, 64 MB
        gave the shortest runs, against 16 and 256. The roll-ups after it have every thread
        again."""
        con = self.con
        con.execute("SET threads = 1")
        con.execute("SET checkpoint_threshold = '64MB'")
        try:
            yield
        finally:
            con.execute("RESET threads")
            con.execute("RESET checkpoint_threshold")

    def stop(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> IndexStore:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise RuntimeError("the index store is not started")
        return self._con

    @contextmanager
    def on_own_connection(self) -> Iterator[IndexStore]:
        """This store on a connection of its own, for another thread (a DuckDB connection
        serves one thread at a time); its temporary tables are not seen there."""
        cursor = self.con.cursor()
        try:
            if self.schema:
                cursor.execute(f"SET schema = '{self.schema}'")
            own = copy.copy(self)
            own._con = cursor
            yield own
        finally:
            cursor.close()

    def has_table(self, name: str) -> bool:
        found = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND schema_name = ?"
            " AND NOT temporary",
            [name, self.schema or "main"],
        ).fetchone()
        return bool(found and found[0])

    # ---- runs ---------------------------------------------------------------------------

    def unfinished_runs(self) -> int:
        found = self.con.execute("SELECT count(*) FROM imaging_runs WHERE status = 'running'")
        return int(found.fetchone()[0])  # type: ignore[index]

    def begin_run(self, run_id: str, paths: Sequence[str], rules: Rules, at: datetime) -> None:
        self.con.execute(
            "INSERT INTO imaging_runs VALUES (?, ?, NULL, 'running', ?, ?, ?, NULL)",
            [run_id, at, json.dumps(list(paths)), rules.label, rules.sha256],
        )

    def end_run(self, run_id: str, status: str, counts: dict[str, Any], at: datetime) -> None:
        self.con.execute(
            "UPDATE imaging_runs SET status = ?, finished_at = ?, counts = ? WHERE run_id = ?",
            [status, at, json.dumps(counts, default=str), run_id],
        )

    # ---- what to read -------------------------------------------------------------------

    def plan(self, found: Iterable[Sequence[Any]], roots: Sequence[str]) -> Plan:
        """Compare the files the walk ``found`` (path, size, mtime_ns; in walk order, streamed
        in chunks) with what was read before; remove from the index the files under ``roots``
        that are gone; the files to read wait in ``imaging_todo``."""
        con = self.con
        con.execute(
            "CREATE OR REPLACE TEMP TABLE imaging_walk "
            "(k BIGINT, path VARCHAR, size BIGINT, mtime_ns BIGINT)"
        )
        k = 0
        for chunk in chunks(found, 50_000):
            rows = list(chunk)
            batch = pa.table(
                {
                    "k": pa.array(range(k, k + len(rows)), pa.int64()),
                    "path": pa.array([r[0] for r in rows], pa.string()),
                    "size": pa.array([r[1] for r in rows], pa.int64()),
                    "mtime_ns": pa.array([r[2] for r in rows], pa.int64()),
                },
                schema=_WALK_SCHEMA,
            )
            k += len(rows)
            con.register("imaging_walk_chunk", batch)
            con.execute("INSERT INTO imaging_walk SELECT * FROM imaging_walk_chunk")
            con.unregister("imaging_walk_chunk")
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE imaging_todo AS
            WITH walk AS (
                SELECT * FROM imaging_walk
                QUALIFY row_number() OVER (PARTITION BY path ORDER BY k) = 1
            )
            SELECT row_number() OVER (ORDER BY w.k) AS k, w.path, w.size, w.mtime_ns,
                   f.path IS NOT NULL AS known
            FROM walk AS w LEFT JOIN imaging_files AS f ON f.path = w.path
            WHERE f.path IS NULL OR f.size <> w.size OR f.mtime_ns <> w.mtime_ns
            ORDER BY k
            """
        )
        con.register("imaging_roots", _roots_table(roots))
        removed = [
            row[0]
            for row in con.execute(
                """
                SELECT f.path FROM imaging_files AS f
                WHERE EXISTS (SELECT 1 FROM imaging_roots AS r
                              WHERE f.path = r.root OR starts_with(f.path, r.prefix))
                  AND NOT EXISTS (SELECT 1 FROM imaging_walk AS w WHERE w.path = f.path)
                ORDER BY f.path
                """
            ).fetchall()
        ]
        con.unregister("imaging_roots")
        counts = con.execute(
            "SELECT (SELECT count(DISTINCT path) FROM imaging_walk), count(*) FILTER (NOT known),"
            " count(*) FILTER (known) FROM imaging_todo"
        ).fetchone()
        assert counts is not None
        walked, new, changed = (int(c or 0) for c in counts)
        if removed:
            self._remove(removed)
        return Plan(walked, new, changed, walked - new - changed, removed)

    def knows_under(self, roots: Sequence[str]) -> bool:
        """Whether any file under ``roots`` was read (or tried) before: if none was, a run
        has nothing to compare or remove, and reads every file the walk finds as it finds
        it."""
        con = self.con
        con.register("imaging_roots", _roots_table(roots))
        try:
            found = con.execute(
                "SELECT EXISTS (SELECT 1 FROM imaging_files AS f, imaging_roots AS r"
                " WHERE f.path = r.root OR starts_with(f.path, r.prefix))"
            ).fetchone()
        finally:
            con.unregister("imaging_roots")
        return bool(found and found[0])

    def _remove(self, paths: list[str]) -> None:
        con = self.con
        con.register("imaging_gone", pa.table({"path": pa.array(paths, pa.string())}))
        con.execute("BEGIN")
        try:
            con.execute(
                "DELETE FROM imaging_instance WHERE path IN (SELECT path FROM imaging_gone)"
            )
            con.execute("DELETE FROM imaging_files WHERE path IN (SELECT path FROM imaging_gone)")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.unregister("imaging_gone")

    def todo(self, page: int = 10_000) -> Iterator[Todo]:
        """The files to read, in walk order, fetched a page at a time."""
        done = 0
        while True:
            rows = self.con.execute(
                "SELECT path, size, mtime_ns, known FROM imaging_todo WHERE k > ? AND k <= ?"
                " ORDER BY k",
                [done, done + page],
            ).fetchall()
            if not rows:
                return
            done += page
            for path, size, mtime_ns, known in rows:
                yield Todo(path, int(size), int(mtime_ns), bool(known))

    # ---- writing a batch ----------------------------------------------------------------

    def remember_uids(self) -> None:
        """Keep the hashes of the index's UIDs for :meth:`holders` (up to a limit:
        :mod:`fivesafes.imaging.seen`); only this store's writes may add instances after it."""
        self.seen = SeenUids.of(self.con)

    def holders(self, uids: Sequence[str], replaced: Sequence[str]) -> dict[str, tuple[str, str]]:
        """For each of ``uids`` already in the index (outside the files being read again,
        ``replaced``): the path and header hash of the instance that holds it."""
        if not uids:
            return {}
        con = self.con
        if self.seen is not None:  # only the UIDs the index may hold are looked up
            hashes = hashes_of(con, uids)
            maybe = self.seen.maybe(hashes)
            self.seen.add(hashes)  # all read: a superset of those the batch adds
            uids = [uid for uid, held in zip(uids, maybe.tolist(), strict=True) if held]
            if not uids:
                return {}
        con.register("imaging_uids", pa.table({"uid": pa.array(list(uids), pa.string())}))
        try:
            rows = con.execute(
                "SELECT sop_instance_uid, path, header_sha256 FROM imaging_instance"
                " WHERE sop_instance_uid IN (SELECT uid FROM imaging_uids)"
            ).fetchall()
        finally:
            con.unregister("imaging_uids")
        again = set(replaced)
        return {uid: (path, sha) for uid, path, sha in rows if path not in again}

    def write(
        self,
        instances: Sequence[tuple[Instance, str | None]],
        files: Sequence[FileRow],
        replaced: Sequence[str],
        also: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    ) -> None:
        """In one transaction: drop the rows of what is read again (``replaced``: files whose
        size or mtime changed, a DICOMweb series' instances), add the ``instances`` (each with
        its patient's pseudonym) and every file's state, and run ``also`` (a DICOMweb series'
        state). A file that is not ``replaced`` is new: it has no rows to drop."""
        con = self.con
        con.register("imaging_batch", _instance_table(instances))
        con.register("imaging_batch_files", _columns(files, FileRow._fields, _FILE_SCHEMA))
        if replaced:
            again = sorted(replaced)
            con.register("imaging_again", pa.table({"path": pa.array(again, pa.string())}))
        con.execute("BEGIN")
        try:
            if replaced:
                for name in ("imaging_instance", "imaging_files"):
                    con.execute(
                        f"DELETE FROM {name} WHERE path BETWEEN ? AND ?"  # noqa: S608
                        " AND path IN (SELECT path FROM imaging_again)",
                        [again[0], again[-1]],
                    )
            con.execute("INSERT INTO imaging_instance SELECT * FROM imaging_batch")
            con.execute("INSERT INTO imaging_files SELECT * FROM imaging_batch_files")
            if also is not None:
                also(con)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.unregister("imaging_batch")
            con.unregister("imaging_batch_files")
            if replaced:
                con.unregister("imaging_again")

    # ---- the roll-ups -------------------------------------------------------------------

    def combos(self) -> list[tuple[dict[str, str], int]]:
        """Each distinct set of mapped texts in the instances, and how many series carry it."""
        columns = ", ".join(c for _, c in MAPPING_KEYS)
        rows = self.con.execute(
            f"SELECT {columns}, count(DISTINCT series_instance_uid) FROM "  # noqa: S608
            f"(SELECT {_COMBO}, series_instance_uid FROM imaging_instance) GROUP BY ALL"
        ).fetchall()
        return [
            ({keyword: row[n] for n, (keyword, _) in enumerate(MAPPING_KEYS)}, int(row[-1]))
            for row in rows
        ]

    def project(self, rules: Rules) -> None:
        """Rebuild ``imaging_series`` and ``imaging_study`` from the instances, deciding each
        distinct set of texts with ``rules`` and linking pseudonyms to the person table."""
        con = self.con
        decided: dict[str, list[Any]] = {c: [] for _, c in MAPPING_KEYS}
        for extra in ("body_part", "body_part_rule", "contrast", "contrast_rule"):
            decided[extra] = []
        for texts, _series in self.combos():
            body_part, contrast = rules.classify({k: v or None for k, v in texts.items()})
            for keyword, column in MAPPING_KEYS:
                decided[column].append(texts[keyword])
            decided["body_part"].append(body_part.value)
            decided["body_part_rule"].append(body_part.rule)
            decided["contrast"].append(contrast.value)
            decided["contrast_rule"].append(contrast.rule)
        mapping = pa.table({k: pa.array(v, pa.string()) for k, v in decided.items()})
        con.register("imaging_mapping_rows", mapping)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE imaging_mapping AS SELECT * FROM imaging_mapping_rows"
        )
        con.unregister("imaging_mapping_rows")
        self._person_link()
        instances = self.scalar("SELECT count(*) FROM imaging_instance")
        con.execute("BEGIN")
        try:
            for sql in in_parts(
                SERIES_SQL, "imaging_series", "imaging_instance", "series_instance_uid",
                instances, self.series_part_instances,
            ):  # fmt: skip
                con.execute(sql, {"rules_version": rules.version})
            series = self.scalar("SELECT count(*) FROM imaging_series")
            for sql in in_parts(
                STUDY_SQL, "imaging_study", "imaging_series", "study_instance_uid",
                series, self.study_part_series,
            ):  # fmt: skip
                con.execute(sql)
            with self.cdm_rows() if self.cdm_rows is not None else nullcontext() as sources:
                omop_tables.build(con, self.schema, sources)  # image_occurrence, image_feature
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _person_link(self) -> None:
        """``imaging_person_link``: each pseudonym of the CDM's ``person_source_value``, its
        person, and how many persons carry it (more than one: ambiguous, linked to nobody).
        The ``person`` rows come from ``person_rows`` if given, else from this file."""
        con = self.con
        if self.person_rows is not None:
            with self.person_rows() as rows:
                con.register("imaging_person_rows", rows)
                try:
                    con.execute(_LINK_SQL.format(rows="imaging_person_rows"))
                finally:
                    con.unregister("imaging_person_rows")
            return
        columns = set()
        if self.has_table("person"):
            columns = {
                row[0].lower()
                for row in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE table_name = ?"
                    " AND schema_name = ?",
                    ["person", self.schema or "main"],
                ).fetchall()
            }
        if {"person_id", "person_source_value"} <= columns:
            con.execute(_LINK_SQL.format(rows="person"))
        else:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE imaging_person_link "
                "(pseudonym VARCHAR, person_id BIGINT, persons BIGINT)"
            )

    def person_link_size(self) -> int:
        found = self.con.execute("SELECT count(*) FROM imaging_person_link").fetchone()
        return int(found[0]) if found else 0

    # ---- reading back -------------------------------------------------------------------

    def scalar(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        found = self.con.execute(sql, list(parameters)).fetchone()
        return found[0] if found else None

    def rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, list(parameters)).fetchall()


def _instance_table(instances: Sequence[tuple[Instance, str | None]]) -> pa.Table:
    """The instance rows as an Arrow table, built column by column from the named tuples."""
    columns = list(zip(*(i for i, _ in instances), strict=True)) or [()] * len(Instance._fields)
    by_name = dict(zip(Instance._fields, columns, strict=True))
    by_name["patient_pseudonym"] = tuple(p for _, p in instances)  # never the PatientID
    by_name["issues"] = tuple(",".join(issues) or None for issues in by_name["issues"])
    return pa.Table.from_arrays(
        [pa.array(by_name[f.name], f.type) for f in _INSTANCE_SCHEMA], schema=_INSTANCE_SCHEMA
    )


def _columns(
    rows: Sequence[tuple[Any, ...]], fields: tuple[str, ...], schema: pa.Schema
) -> pa.Table:
    columns = list(zip(*rows, strict=True)) or [()] * len(fields)
    by_name = dict(zip(fields, columns, strict=True))
    return pa.Table.from_arrays([pa.array(by_name[f.name], f.type) for f in schema], schema=schema)


def _roots_table(roots: Sequence[str]) -> pa.Table:
    """Each walked root, and the prefix of the paths under it."""
    return pa.table(
        {"prefix": [r if r.endswith("/") else r + "/" for r in roots], "root": list(roots)},
        schema=pa.schema([("prefix", pa.string()), ("root", pa.string())]),
    )


def chunks(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """``rows`` in lists of ``size`` (the last may be shorter)."""
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _size(text: str) -> str:
    """A DuckDB memory size (``512MB``, ``2GB``), checked: it goes into a SET statement."""
    import re

    if not re.fullmatch(r"\d{1,6}(\.\d{1,3})?\s?(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", text):
        raise ConfigError(f"{text!r} is not a memory size such as 512MB or 2GB.")
    return text
