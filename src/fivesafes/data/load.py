"""Loading an OMOP CDM into a node's data source (``fivesafes node load-omop``).

>>> target = DuckDBSource(engine="duckdb", path=Path("cdm.duckdb"))
>>> load_omop("Synthea27Nj_5.4.zip", target).table("person").loaded
28

The source is a folder of CSV files, a .zip of them, a DuckDB file or a PostgreSQL schema
(:mod:`~fivesafes.data.load_sources`), in CDM v5.3 or v5.4 (:mod:`~fivesafes.data.cdm_v53`).
Every table is checked and converted in a DuckDB workspace in a temporary folder
(:mod:`~fivesafes.data.load_checks`); rows with a problem are left out and reported by
reason and row number, never by value. Then every CDM v5.4 table of the target is replaced
in one transaction (:mod:`~fivesafes.data.load_targets`): tables the source lacks are
created empty, and an error at any point leaves the target as it was.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from fivesafes.data.cdm_spec import CDM54_TABLES, quoted
from fivesafes.data.cdm_v53 import RENAMED_IN_54, CdmVersion, detect_version, v53_fills
from fivesafes.data.load_checks import ColumnSource, check_table, rejections
from fivesafes.data.load_report import LoadError, LoadReport, TableReport
from fivesafes.data.load_sources import OmopSource, SourceTable, is_postgres_url, open_source
from fivesafes.data.load_targets import write_duckdb, write_postgres
from fivesafes.data.source import DuckDBSource, PostgresSource

__all__ = ["LoadError", "LoadReport", "Progress", "describe_target", "load_omop"]

Progress = Callable[[str, int, int], None]
"""Called with (what is being done, steps done, steps in all)."""


def describe_target(target: DuckDBSource | PostgresSource) -> str:
    """The target in words, without a PostgreSQL URL (it may carry a password)."""
    if isinstance(target, DuckDBSource):
        schema = f", schema {target.schema_name}" if target.schema_name else ""
        return f"{target.path} (DuckDB{schema})"
    return f"PostgreSQL schema {target.schema_name}"


def _columns(source: SourceTable, version: CdmVersion) -> tuple[dict[str, ColumnSource], list[str]]:
    """Where each CDM column comes from; the v5.4 columns the source lacks and needs."""
    present = dict(source.columns)
    renamed = {
        new: old
        for new, old in RENAMED_IN_54.get(source.table, {}).items()
        if new not in present and old in present
    }
    if renamed:
        pairs = ", ".join(f"{old} as {new}" for new, old in renamed.items())
        source.notes.append(f"read the CDM 5.3 columns {pairs}")
    fills = v53_fills(source.table, version, set(present) | set(renamed))
    used: set[str] = set()
    columns: dict[str, ColumnSource] = {}
    missing: list[str] = []
    absent: list[str] = []
    for column in CDM54_TABLES[source.table]:
        name = column.name
        if name in fills:
            columns[name] = ColumnSource(fill=fills[name])
        elif name in present or name in renamed:
            origin = renamed.get(name, name)
            used.add(origin)
            columns[name] = ColumnSource(present[origin], source.types[origin])
        elif column.nullable:
            absent.append(name)
        else:
            missing.append(name)
    if fills:
        source.notes.append(f"set by the loader (CDM 5.3 source): {', '.join(fills)}")
    extra = [name for name in present if name not in used and name not in fills]
    if extra:
        source.notes.append(f"left out, not CDM 5.4 columns: {', '.join(extra)}")
    if absent:
        source.notes.append(f"not in the source, left empty: {', '.join(absent)}")
    return columns, missing


def _row_count(con: duckdb.DuckDBPyConnection, source: SourceTable) -> int:
    skip = ", ".join(str(r) for r in source.skip_rowids)
    where = f" WHERE rowid NOT IN ({skip})" if skip else ""
    row = con.execute(f"SELECT count(*) FROM {source.relation}{where}").fetchone()  # noqa: S608
    return int(row[0]) if row else 0


def _declared_version(con: duckdb.DuckDBPyConnection, source: SourceTable | None) -> str | None:
    if source is None or "cdm_version" not in source.columns:
        return None
    column = source.columns["cdm_version"]
    skip = "".join(f" AND rowid <> {r}" for r in source.skip_rowids)
    row = con.execute(
        f"SELECT CAST({column} AS VARCHAR) FROM {source.relation}"  # noqa: S608
        f" WHERE {column} IS NOT NULL{skip} LIMIT 1"
    ).fetchone()
    return str(row[0]) if row else None


def _check_all(
    con: duckdb.DuckDBPyConnection, source: OmopSource, progress: Progress
) -> tuple[CdmVersion, list[TableReport]]:
    if "person" not in source.tables:
        raise LoadError(f"{source.description} has no person table")
    staged: dict[str, SourceTable] = {}
    if "cdm_source" in source.tables:
        staged["cdm_source"] = source.stage(con, "cdm_source")
    columns = {table: set(names) for table, (_, names) in source.tables.items()}
    try:
        version = detect_version(_declared_version(con, staged.get("cdm_source")), columns)
    except ValueError as exc:
        raise LoadError(str(exc)) from None
    reports: dict[str, TableReport] = {}
    total = 2 * len(CDM54_TABLES)
    order = ["person", *(table for table in CDM54_TABLES if table != "person")]
    for done, table in enumerate(order):
        progress(f"checking {table}", done, total)
        if table not in source.tables:
            reports[table] = TableReport(table, None, notes=["not in the source: created empty"])
            continue
        staged_table = staged.pop(table, None) or source.stage(con, table)
        mapping, missing = _columns(staged_table, version)
        if missing and _row_count(con, staged_table):
            raise LoadError(
                f"{staged_table.label} has no column {missing[0]}, which CDM 5.4 requires"
                " (is its first line the header?)"
            )
        read, loaded = check_table(con, staged_table, mapping)
        con.execute(f"DROP TABLE IF EXISTS {quoted(f'raw_{table}')}")
        reports[table] = TableReport(
            table, staged_table.label, read, loaded, rejections(con, table), staged_table.notes
        )
    return version, [reports[table] for table in CDM54_TABLES]


def _same_file(location: str, target: DuckDBSource | PostgresSource) -> bool:
    if not isinstance(target, DuckDBSource) or is_postgres_url(location):
        return False
    source, into = Path(location).expanduser(), Path(target.path).expanduser()
    return source.exists() and into.exists() and source.resolve() == into.resolve()


def load_omop(
    source: str | Path,
    target: DuckDBSource | PostgresSource,
    *,
    source_schema: str | None = None,
    strict: bool = False,
    progress: Progress | None = None,
) -> LoadReport:
    """Load the CDM at ``source`` into ``target``, replacing its CDM tables in one go.

    With ``strict``, nothing is written when any row would be rejected (the report says what,
    with ``applied`` false). Raises :class:`LoadError` when the load cannot be done; the
    target is then as it was.
    """
    report_progress = progress or (lambda what, done, total: None)
    location = str(source)
    if _same_file(location, target):
        raise LoadError("the source and the target are the same DuckDB file")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fivesafes-load-") as work:
        con = duckdb.connect(str(Path(work) / "workspace.duckdb"))
        try:
            con.execute("SET enable_progress_bar = false")
            opened = open_source(location, source_schema, con, Path(work))
            try:
                version, tables = _check_all(con, opened, report_progress)
                report = LoadReport(
                    source=opened.description,
                    target=describe_target(target),
                    cdm=version,
                    tables=tables,
                    skipped=list(opened.skipped),
                    applied=not (strict and any(t.rejected for t in tables)),
                )
                if report.applied:
                    _write(con, target, report, report_progress)
            finally:
                opened.close()
        except duckdb.Error as exc:
            raise LoadError(
                f"the load failed ({type(exc).__name__}); nothing was changed"
            ) from None
        finally:
            con.close()
    report.seconds = time.perf_counter() - started
    return report


def _write(
    con: duckdb.DuckDBPyConnection,
    target: DuckDBSource | PostgresSource,
    report: LoadReport,
    progress: Progress,
) -> None:
    total = 2 * len(CDM54_TABLES)
    written = iter(range(len(CDM54_TABLES), total))

    def step(table: str) -> None:
        progress(f"writing {table}", next(written), total)

    checked = [t.table for t in report.tables if t.source is not None]
    if isinstance(target, DuckDBSource):
        write_duckdb(con, target, checked, step)
    else:
        write_postgres(con, target, checked, step)
    progress("done", total, total)
