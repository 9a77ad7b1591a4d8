"""Writing checked CDM tables into a node's data source, all or nothing.

* **DuckDB**: the file is attached to the loader's workspace and every table is dropped,
  created and filled in one transaction; an error rolls it back, and a file the load created
  is removed. A running node holds the file open, so the load then stops with a clear message
  (DuckDB lets one process write a file, and none while another has it open).
* **PostgreSQL**: in one transaction, the tables are created and filled (``COPY``) in a new
  staging schema, then each old table is dropped and the new one moved into the target schema
  (``ALTER TABLE … SET SCHEMA``) with the old table's grants, and analysed. Readers keep the
  old tables until the commit; nothing is half-replaced if anything fails.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg import sql

from fivesafes.data.cdm_spec import CDM54_TABLES, duckdb_table_ddl, postgres_column_type, quoted
from fivesafes.data.load_checks import check_relation
from fivesafes.data.load_report import LoadError
from fivesafes.data.load_sources import pg_reason
from fivesafes.data.source import DuckDBSource, PostgresSource, libpq_url

__all__ = ["write_duckdb", "write_postgres"]

Step = Callable[[str], None]
_CSV = pa_csv.WriteOptions(include_header=False)
_CHUNK_ROWS = 100_000
_PRIVILEGES = frozenset(
    {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"}
)


def _checked_rows(table: str) -> str:
    columns = ", ".join(quoted(col.name) for col in CDM54_TABLES[table])
    return f"SELECT {columns} FROM {check_relation(table)} WHERE len(_reasons) = 0"  # noqa: S608


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def write_duckdb(
    con: duckdb.DuckDBPyConnection,
    target: DuckDBSource,
    checked: Sequence[str],
    step: Step,
) -> None:
    """Replace every CDM table in ``target`` (those not in ``checked`` are created empty)."""
    path = Path(target.path)
    if not path.parent.is_dir():
        raise LoadError(f"the folder {path.parent} does not exist")
    existed = path.exists()
    try:
        con.execute(f"ATTACH {_literal(str(path))} AS load_target")
    except duckdb.Error as exc:
        if "lock" in str(exc).lower():
            raise LoadError(
                f"{path} is in use by another process (a running node?): stop it, load, and "
                "start it again"
            ) from None
        raise LoadError(
            f"{path} could not be opened as a DuckDB file ({type(exc).__name__})"
        ) from None
    schema = f"load_target.{quoted(target.schema_name or 'main')}"
    done = False
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for table in CDM54_TABLES:
            step(table)
            name = f"{schema}.{quoted(table)}"
            con.execute(f"DROP TABLE IF EXISTS {name}")
            con.execute(duckdb_table_ddl(table, name))
            if table in checked:
                con.execute(f"INSERT INTO {name} {_checked_rows(table)}")
        con.execute("COMMIT")
        done = True
    finally:
        if not done:
            with suppress(duckdb.Error):
                con.execute("ROLLBACK")
        con.execute("DETACH load_target")
        if not done and not existed:
            for leftover in (path, path.with_name(path.name + ".wal")):
                leftover.unlink(missing_ok=True)


def _copy_rows(
    con: duckdb.DuckDBPyConnection, cursor: psycopg.Cursor[tuple[object, ...]], table: str,
    target: sql.Composable,
) -> None:  # fmt: skip
    result = con.execute(_checked_rows(table))
    # duckdb 1.4 renamed fetch_record_batch to to_arrow_reader
    to_reader = getattr(result, "to_arrow_reader", None) or result.fetch_record_batch
    reader: pa.RecordBatchReader = to_reader(_CHUNK_ROWS)
    names = sql.SQL(", ").join(sql.Identifier(col.name) for col in CDM54_TABLES[table])
    copy = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(target, names)
    with cursor.copy(copy) as stream:
        for batch in reader:
            buffer = io.BytesIO()
            pa_csv.write_csv(batch, buffer, _CSV)
            stream.write(buffer.getbuffer())


def _grants(cursor: psycopg.Cursor[tuple[object, ...]], schema: str) -> list[tuple[str, str, str]]:
    """(table, grantee, privilege) of the CDM tables already in ``schema``, other than their
    owner's own, to give the new tables the same."""
    cursor.execute(
        "SELECT table_name, grantee, privilege_type FROM information_schema.table_privileges"
        " WHERE table_schema = %s AND grantee <> current_user",
        [schema],
    )
    return [
        (str(table), str(grantee), str(privilege))
        for table, grantee, privilege in cursor.fetchall()
        if table in CDM54_TABLES and privilege in _PRIVILEGES
    ]


def write_postgres(
    con: duckdb.DuckDBPyConnection,
    target: PostgresSource,
    checked: Sequence[str],
    step: Step,
) -> None:
    """Replace every CDM table in ``target``'s schema (those not in ``checked`` are created
    empty), in one transaction."""
    schema = target.schema_name
    staging = f"fivesafes_load_{uuid.uuid4().hex[:12]}"
    try:
        with (
            psycopg.connect(libpq_url(target.url)) as conn,
            conn.transaction(),
            conn.cursor() as cursor,
        ):
            cursor.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            cursor.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(staging)))
            for table, columns in CDM54_TABLES.items():
                step(table)
                new = sql.Identifier(staging, table)
                body = sql.SQL(", ").join(
                    sql.SQL("{} {}").format(
                        sql.Identifier(c.name), sql.SQL(postgres_column_type(c))
                    )
                    for c in columns
                )
                cursor.execute(sql.SQL("CREATE TABLE {} ({})").format(new, body))
                if table in checked:
                    _copy_rows(con, cursor, table, new)
            grants = _grants(cursor, schema)
            for table in CDM54_TABLES:
                cursor.execute(
                    sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema, table))
                )
                cursor.execute(
                    sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
                        sql.Identifier(staging, table), sql.Identifier(schema)
                    )
                )
            for table, grantee, privilege in grants:
                cursor.execute(
                    sql.SQL("GRANT {} ON {} TO {}").format(
                        sql.SQL(privilege),
                        sql.Identifier(schema, table),
                        sql.SQL("PUBLIC") if grantee == "PUBLIC" else sql.Identifier(grantee),
                    )
                )
            cursor.execute(sql.SQL("DROP SCHEMA {}").format(sql.Identifier(staging)))
            for table in CDM54_TABLES:
                cursor.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, table)))
    except psycopg.Error as exc:
        raise LoadError(
            f"PostgreSQL refused the load, nothing was changed: {pg_reason(exc)}"
        ) from None
