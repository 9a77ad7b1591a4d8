"""Copy an OMOP CDM from a DuckDB file into a PostgreSQL schema.

Used by tests (to run one spec on both engines) and by operators moving a CDM to a server.
Every table of the DuckDB file's ``main`` schema is created in ``schema`` with column types
mapped from Arrow, then filled by ``COPY ... FROM STDIN (FORMAT csv)`` in chunks streamed from
DuckDB, and analysed. Everything happens in one transaction: the schema is loaded whole or
not at all. (DuckDB's own postgres extension is not used: it is downloaded at run time.)
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg import sql

from fivesafes.data.source import SCHEMA_NAME, libpq_url

_CSV = pa_csv.WriteOptions(include_header=False)


_TYPES: tuple[tuple[Callable[[pa.DataType], bool], str], ...] = (
    (pa.types.is_boolean, "boolean"),
    (pa.types.is_int8, "smallint"),
    (pa.types.is_int16, "smallint"),
    (pa.types.is_uint8, "smallint"),
    (pa.types.is_int32, "integer"),
    (pa.types.is_uint16, "integer"),
    (pa.types.is_int64, "bigint"),
    (pa.types.is_uint32, "bigint"),
    (pa.types.is_uint64, "numeric(20, 0)"),
    (pa.types.is_float32, "real"),
    (pa.types.is_float64, "double precision"),
    (pa.types.is_string, "text"),
    (pa.types.is_large_string, "text"),
    (pa.types.is_null, "text"),
    (pa.types.is_date, "date"),
    (pa.types.is_time, "time"),
)


def postgres_type(arrow_type: pa.DataType) -> str:
    """The PostgreSQL column type that holds ``arrow_type`` values without loss."""
    if pa.types.is_decimal(arrow_type):
        return f"numeric({arrow_type.precision}, {arrow_type.scale})"
    if pa.types.is_timestamp(arrow_type):
        return "timestamptz" if arrow_type.tz else "timestamp"
    for matches, name in _TYPES:
        if matches(arrow_type):
            return name
    raise TypeError(f"no PostgreSQL type for Arrow type {arrow_type}")


def _duckdb_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY table_name"
    ).fetchall()
    return [str(row[0]) for row in rows]


def _quoted_duckdb(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _copy_table(
    source: duckdb.DuckDBPyConnection,
    cursor: psycopg.Cursor[tuple[object, ...]],
    schema: str,
    name: str,
    chunk_rows: int,
) -> int:
    result = source.execute(f"SELECT * FROM {_quoted_duckdb(name)}")  # noqa: S608
    # duckdb 1.4 renamed fetch_record_batch to to_arrow_reader
    to_reader = getattr(result, "to_arrow_reader", None) or result.fetch_record_batch
    reader: pa.RecordBatchReader = to_reader(chunk_rows)
    target = sql.Identifier(schema, name)
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(field.name), sql.SQL(postgres_type(field.type)))
        for field in reader.schema
    )
    cursor.execute(sql.SQL("CREATE TABLE {} ({})").format(target, columns))
    names = sql.SQL(", ").join(sql.Identifier(field.name) for field in reader.schema)
    copy = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(target, names)
    rows = 0
    with cursor.copy(copy) as stream:
        for batch in reader:
            buffer = io.BytesIO()
            pa_csv.write_csv(batch, buffer, _CSV)
            stream.write(buffer.getbuffer())
            rows += batch.num_rows
    cursor.execute(sql.SQL("ANALYZE {}").format(target))
    return rows


def copy_omop_to_postgres(
    duckdb_path: Path,
    url: str,
    schema: str,
    *,
    replace: bool = False,
    chunk_rows: int = 100_000,
) -> dict[str, int]:
    """Copy every table of the DuckDB file at ``duckdb_path`` into ``schema`` at ``url``.

    Creates ``schema`` when absent. An existing table of the same name is an error unless
    ``replace`` is true, when it is dropped first. Returns the rows copied per table.
    """
    if not SCHEMA_NAME.fullmatch(schema):
        raise ValueError("schema must be a plain SQL identifier")
    if not Path(duckdb_path).is_file():
        raise FileNotFoundError(f"no DuckDB file at {duckdb_path}")
    copied: dict[str, int] = {}
    with (
        duckdb.connect(str(duckdb_path), read_only=True) as source,
        psycopg.connect(libpq_url(url)) as target,
        target.transaction(),
        target.cursor() as cursor,
    ):
        cursor.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        for name in _duckdb_tables(source):
            if replace:
                cursor.execute(
                    sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema, name))
                )
            copied[name] = _copy_table(source, cursor, schema, name, chunk_rows)
    return copied
