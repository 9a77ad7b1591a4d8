"""Where a CDM is loaded from: a folder of CSV files, a .zip of them, a DuckDB file, or a
PostgreSQL schema.

Each source finds its CDM tables (file or table names in any case; anything else is listed
as skipped) and their column names when opened, and on :meth:`OmopSource.stage` makes one
table readable in the loader's DuckDB workspace. Reading CSV is DuckDB's own reader with
every value as text (the checks convert them); a PostgreSQL table is first copied out with
``COPY … TO STDOUT`` into a CSV file in the workspace folder.

Error messages name files, tables, columns and line numbers, never a value from the data.
"""

from __future__ import annotations

import csv
import gzip
import re
import zipfile
from abc import ABC, abstractmethod
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import psycopg
from psycopg import sql

from fivesafes.data.cdm_spec import CDM54_TABLES, quoted
from fivesafes.data.cdm_v53 import RENAMED_IN_54
from fivesafes.data.load_report import LoadError
from fivesafes.data.source import SCHEMA_NAME, libpq_url

__all__ = ["OmopSource", "SourceTable", "open_source", "pg_reason"]

_DELIMITERS = (",", "\t", ";", "|")
_GENERIC_NAME = re.compile(r"column\d+")
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
_DUCKDB_MAGIC = b"DUCK"


@dataclass
class SourceTable:
    """One CDM table of a source, readable in the workspace as ``relation``.

    ``columns`` maps each lower-case column name to its SQL identifier in ``relation`` and
    ``types`` to its DuckDB type. Rows whose ``rowid`` is in ``skip_rowids`` are not data.
    """

    table: str
    label: str
    relation: str
    columns: dict[str, str]
    types: dict[str, str]
    skip_rowids: tuple[int, ...] = ()
    notes: list[str] = field(default_factory=list)


class OmopSource(ABC):
    """A CDM to load. ``tables`` maps each CDM table found to its label and lower-case column
    names; ``skipped`` lists what is not a CDM v5.4 table."""

    description: str
    tables: dict[str, tuple[str, list[str]]]
    skipped: list[str]

    @abstractmethod
    def stage(self, con: duckdb.DuckDBPyConnection, table: str) -> SourceTable:
        """Make ``table`` readable in the workspace ``con``."""

    @abstractmethod
    def close(self) -> None:
        """Release what the source holds (connections)."""


def _known_names(table: str) -> set[str]:
    return {col.name for col in CDM54_TABLES[table]} | set(RENAMED_IN_54.get(table, {}).values())


def _unique(names: list[str], label: str) -> list[str]:
    seen = [name for i, name in enumerate(names) if name in names[:i]]
    if seen:
        raise LoadError(f"{label} has the column {seen[0]} twice")
    return names


# --- CSV files ------------------------------------------------------------------------------


def _csv_table_name(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in (".csv.gz", ".csv"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return None


def _is_junk(relative: Path) -> bool:
    return any(part == "__MACOSX" or part.startswith(".") for part in relative.parts)


def _first_line(path: Path) -> str:
    if path.name.lower().endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8-sig", newline="") as packed:
            return packed.readline()
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return handle.readline()


@dataclass(frozen=True)
class _CsvFile:
    path: Path
    label: str
    names: list[str]
    delimiter: str


def _read_header(path: Path, label: str) -> _CsvFile:
    """The column names (lower case) and delimiter, from the file's first line only."""
    try:
        line = _first_line(path)
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise LoadError(f"{label} could not be read as UTF-8 text ({type(exc).__name__})") from None
    line = line.rstrip("\r\n")
    if not line.strip():
        return _CsvFile(path, label, [], ",")
    delimiter = max(_DELIMITERS, key=line.count)  # ties go to the comma, listed first
    names = [name.strip().lower() for name in next(csv.reader([line], delimiter=delimiter))]
    return _CsvFile(path, label, _unique(names, label), delimiter)


_CSV_PROBLEMS = (
    (re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)"), "expected {} fields, found {}"),
    (re.compile(r"unterminated quote", re.I), "a quoted value is not closed"),
    (re.compile(r"unicode|utf-?8", re.I), "it is not UTF-8 text"),
    (re.compile(r"Maximum line size", re.I), "a line is longer than DuckDB's limit"),
)


def csv_problem(label: str, exc: duckdb.Error) -> LoadError:
    """A one-line error for a CSV file DuckDB could not read, without the offending line."""
    text = str(exc)
    line = re.search(r"Line: (\d+)", text)
    where = f" at line {line.group(1)}" if line else ""
    for pattern, template in _CSV_PROBLEMS:
        found = pattern.search(text)
        if found:
            return LoadError(
                f"{label} is not a valid CSV file{where}: {template.format(*found.groups())}"
            )
    return LoadError(f"{label} is not a valid CSV file{where} ({type(exc).__name__})")


def stage_csv(
    con: duckdb.DuckDBPyConnection, table: str, file: _CsvFile, *, header: bool
) -> SourceTable:
    """Read ``file`` into the workspace table ``raw_<table>``, every value as text, in file
    order (so ``rowid`` + 1 is the row number)."""
    raw = quoted(f"raw_{table}")
    con.execute(f"DROP TABLE IF EXISTS {raw}")
    if not file.names:
        con.execute(f"CREATE TABLE {raw} (c0 VARCHAR)")
        return SourceTable(table, file.label, raw, {}, {}, notes=["the file is empty"])
    generic = [f"c{i}" for i in range(len(file.names))]
    columns = "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in generic) + "}"
    try:
        con.execute(
            f"CREATE TABLE {raw} AS SELECT * FROM read_csv(?, header = {str(header).lower()}, "  # noqa: S608
            f"auto_detect = false, columns = {columns}, delim = ?, quote = '\"', escape = '\"')",
            [str(file.path), file.delimiter],
        )
    except duckdb.Error as exc:
        raise csv_problem(file.label, exc) from None
    names = dict(zip(file.names, (quoted(g) for g in generic), strict=True))
    return SourceTable(table, file.label, raw, names, dict.fromkeys(file.names, "VARCHAR"))


class CsvFolder(OmopSource):
    """A folder (searched at any depth) of ``<table>.csv`` or ``<table>.csv.gz`` files."""

    def __init__(self, folder: Path, description: str, label_base: Path | None = None) -> None:
        self.description = description
        self.tables = {}
        self.skipped = []
        self._files: dict[str, _CsvFile] = {}
        base = label_base or folder
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            relative = path.relative_to(folder)
            table = _csv_table_name(path)
            if _is_junk(relative) or table is None:
                continue
            label = str(path.relative_to(base))
            if table not in CDM54_TABLES:
                self.skipped.append(label)
                continue
            if table in self._files:
                raise LoadError(
                    f"two files for the table {table}: {self._files[table].label} and {label}"
                )
            self._files[table] = _read_header(path, label)
            self.tables[table] = (label, self._files[table].names)
        if not self.tables and not self.skipped:
            raise LoadError(f"{description} holds no CSV files")

    def stage(self, con: duckdb.DuckDBPyConnection, table: str) -> SourceTable:
        return stage_csv(con, table, self._files[table], header=True)

    def close(self) -> None:
        """Nothing to release: the files are read when staged."""


def open_zip(path: Path, into: Path) -> CsvFolder:
    """Extract the CSV files of a .zip (not ``__MACOSX/`` or hidden entries) and read them."""
    try:
        with zipfile.ZipFile(path) as archive:
            wanted = [
                info
                for info in archive.infolist()
                if not info.is_dir()
                and not _is_junk(Path(info.filename))
                and _csv_table_name(Path(info.filename)) is not None
            ]
            archive.extractall(into, members=wanted)
    except (zipfile.BadZipFile, OSError) as exc:
        raise LoadError(f"{path} is not a readable .zip file ({type(exc).__name__})") from None
    return CsvFolder(into, f"{path.name} (CSV files in a .zip)")


# --- a DuckDB file --------------------------------------------------------------------------


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DuckDBFile(OmopSource):
    """The CDM tables of one schema of a DuckDB file, attached read-only."""

    ALIAS = "load_source"

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, schema: str | None) -> None:
        self.description = f"{path} (DuckDB, schema {schema or 'main'})"
        self.skipped = []
        self.tables = {}
        self._con = con
        self._schema = schema or "main"
        try:
            con.execute(f"ATTACH {_literal(str(path))} AS {self.ALIAS} (READ_ONLY)")
        except duckdb.Error as exc:
            raise LoadError(
                f"{path} could not be opened as a DuckDB file ({type(exc).__name__})"
            ) from None
        rows = con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_catalog = ? AND table_schema = ? ORDER BY table_name, ordinal_position",
            [self.ALIAS, self._schema],
        ).fetchall()
        if not rows:
            raise LoadError(f"{path} has no tables in the schema {self._schema}")
        self._columns: dict[str, list[tuple[str, str]]] = {}
        self._names: dict[str, str] = {}
        for name, column, type_ in rows:
            table = str(name).lower()
            if table not in CDM54_TABLES:
                if f"{self._schema}.{name}" not in self.skipped:
                    self.skipped.append(f"{self._schema}.{name}")
                continue
            if self._names.setdefault(table, str(name)) != name:
                raise LoadError(f"{path} has two tables named {table} (in different cases)")
            self._columns.setdefault(table, []).append((str(column), str(type_)))
        for table, columns in self._columns.items():
            label = f"{self._schema}.{self._names[table]}"
            names = [column.lower() for column, _ in columns]
            header = self._header_row(table, columns) if self._generic(columns) else None
            self.tables[table] = (label, _unique(header[1] if header else names, label))

    def _relation(self, table: str) -> str:
        return f"{self.ALIAS}.{quoted(self._schema)}.{quoted(self._names[table])}"

    @staticmethod
    def _generic(columns: list[tuple[str, str]]) -> bool:
        return all(_GENERIC_NAME.fullmatch(column.lower()) for column, _ in columns)

    def _header_row(self, table: str, columns: list[tuple[str, str]]) -> tuple[int, list[str]]:
        """An empty table saved from a CSV file without reading its header (Eunomia's
        quirk) has columns ``column0``… and one row holding the names: find that row."""
        label = f"{self._schema}.{self._names[table]}"
        selected = ", ".join(quoted(column) for column, _ in columns)
        row = self._con.execute(
            f"SELECT rowid, {selected} FROM {self._relation(table)} ORDER BY rowid LIMIT 1"  # noqa: S608
        ).fetchone()
        values = [str(v).strip().lower() if v is not None else "" for v in (row or ())[1:]]
        known = _known_names(table)
        if (
            row is None
            or not all(_IDENTIFIER.fullmatch(v) for v in values)
            or not (set(values) & known)
        ):
            raise LoadError(f"{label} has no column names (only column0, column1, …)")
        return int(row[0]), values

    def stage(self, con: duckdb.DuckDBPyConnection, table: str) -> SourceTable:
        label, names = self.tables[table]
        columns = self._columns[table]
        source = SourceTable(
            table,
            label,
            self._relation(table),
            {name: quoted(column) for name, (column, _) in zip(names, columns, strict=True)},
            {name: type_ for name, (_, type_) in zip(names, columns, strict=True)},
        )
        if self._generic(columns):
            rowid, _ = self._header_row(table, columns)
            source.skip_rowids = (rowid,)
            source.notes.append(
                f"row {rowid + 1} held the column names (a table saved from CSV without its"
                " header); not read as data"
            )
        return source

    def close(self) -> None:
        with suppress(duckdb.Error):
            self._con.execute(f"DETACH {self.ALIAS}")


# --- a PostgreSQL schema --------------------------------------------------------------------


class PostgresSchema(OmopSource):
    """The CDM tables of one PostgreSQL schema, read in a read-only session."""

    def __init__(self, url: str, schema: str, workdir: Path) -> None:
        if not SCHEMA_NAME.fullmatch(schema):
            raise LoadError("the source schema must be a plain SQL identifier")
        self.description = f"PostgreSQL schema {schema}"
        self.skipped = []
        self.tables = {}
        self._schema = schema
        self._workdir = workdir
        try:
            self._conn = psycopg.connect(
                libpq_url(url), autocommit=True, options="-c default_transaction_read_only=on"
            )
        except psycopg.Error as exc:
            raise LoadError(
                f"could not connect to the source PostgreSQL database: {pg_reason(exc)}"
            ) from None
        try:
            self._discover()
        except BaseException:
            self.close()
            raise

    def _discover(self) -> None:
        schema = self._schema
        rows = self._conn.execute(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c"
            " JOIN information_schema.tables t USING (table_schema, table_name)"
            " WHERE c.table_schema = %s AND t.table_type = 'BASE TABLE'"
            " ORDER BY c.table_name, c.ordinal_position",
            [schema],
        ).fetchall()
        if not rows:
            raise LoadError(f"the PostgreSQL schema {schema} has no tables (or does not exist)")
        self._names: dict[str, str] = {}
        columns: dict[str, list[str]] = {}
        for name, column in rows:
            table = str(name).lower()
            if table not in CDM54_TABLES:
                if f"{schema}.{name}" not in self.skipped:
                    self.skipped.append(f"{schema}.{name}")
                continue
            if self._names.setdefault(table, str(name)) != name:
                raise LoadError(f"the schema {schema} has two tables named {table}")
            columns.setdefault(table, []).append(str(column).lower())
        for table, names in columns.items():
            label = f"{schema}.{self._names[table]}"
            self.tables[table] = (label, _unique(names, label))

    def stage(self, con: duckdb.DuckDBPyConnection, table: str) -> SourceTable:
        label, names = self.tables[table]
        path = self._workdir / f"pg_{table}.csv"
        copy = sql.SQL("COPY (SELECT * FROM {}) TO STDOUT (FORMAT csv)").format(
            sql.Identifier(self._schema, self._names[table])
        )
        try:
            with self._conn.cursor() as cursor, path.open("wb") as out:
                cursor.execute("SET DateStyle = 'ISO, YMD'")
                with cursor.copy(copy) as stream:
                    for chunk in stream:
                        out.write(chunk)
        except psycopg.Error as exc:
            raise LoadError(f"could not read {label} from PostgreSQL: {pg_reason(exc)}") from None
        try:
            return stage_csv(con, table, _CsvFile(path, label, names, ","), header=False)
        finally:
            path.unlink(missing_ok=True)

    def close(self) -> None:
        self._conn.close()


def pg_reason(exc: psycopg.Error) -> str:
    """What went wrong, from PostgreSQL's primary message (never a data value: DataError and
    IntegrityError messages can quote one, so only their kind is given)."""
    if isinstance(exc, psycopg.DataError | psycopg.IntegrityError):
        return type(exc).__name__
    primary = exc.diag.message_primary
    if primary:
        return primary
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__


# --- choosing one ---------------------------------------------------------------------------


def is_postgres_url(text: str) -> bool:
    return re.match(r"^postgres(ql)?(\+\w+)?://", text) is not None


def open_source(
    location: str, schema: str | None, con: duckdb.DuckDBPyConnection, workdir: Path
) -> OmopSource:
    """The source at ``location``: a ``postgresql://`` URL (with ``schema``), a folder, a
    ``.zip`` or a DuckDB file."""
    if is_postgres_url(location):
        if schema is None:
            raise LoadError("a PostgreSQL source needs --source-schema, the schema of its CDM")
        return PostgresSchema(location, schema, workdir)
    path = Path(location).expanduser()
    if path.is_dir():
        if schema is not None:
            raise LoadError("--source-schema is for a DuckDB or PostgreSQL source, not a folder")
        return CsvFolder(path, f"{path} (CSV files)")
    if not path.is_file():
        raise LoadError(f"no file or folder at {path}")
    with path.open("rb") as handle:
        head = handle.read(12)
    if head[8:12] == _DUCKDB_MAGIC:
        return DuckDBFile(con, path, schema)
    if zipfile.is_zipfile(path):
        return open_zip(path, workdir / "zip")
    raise LoadError(
        f"{path} is not a folder of CSV files, a .zip of them, a DuckDB file or a PostgreSQL URL"
    )
