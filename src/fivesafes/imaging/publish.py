"""The imaging index on a node whose data is not a DuckDB file: the link to persons read from
the node's data source, and the analysis tables published into it.

On a DuckDB node the index lives in the data file itself. On a PostgreSQL or Spark node the
indexer keeps its working and state tables (``imaging_instance``, ``imaging_files``,
``imaging_runs``, …) in a DuckDB file of its own (``[imaging] index_file``), or, as a Spark job,
in a Parquet folder of its own (:mod:`fivesafes.imaging.spark_index`), and this module:

- streams the node's ``person`` rows (``person_id``, ``person_source_value``) through
  :func:`fivesafes.data.engines.open_omop`, for the roll-ups to link pseudonyms to persons
  (:func:`person_rows`). The table is read as stored, not through the view layer, as the
  DuckDB index reads its own ``person``: opt-outs apply when the imaging tables are read, so
  the tables are the same whatever the opt-out list holds on the day of indexing;
- streams the node's procedures, visits and the few concepts the OMOP imaging tables use
  (:func:`cdm_rows`), so that ``image_occurrence`` links to them as on a DuckDB node;
- **publishes** ``imaging_study``, ``imaging_series`` and the OMOP ``image_occurrence`` and
  ``image_feature`` (:data:`PUBLISHED`, and only those: never the instance or file tables,
  which carry paths, and never the header store) into the node's data (:func:`publish`):

  - PostgreSQL: in one transaction of a session of its own (the node's sessions are
    read-only), each table dropped and made again in the node's schema, filled by ``COPY``,
    with the grants the old one had;
  - Spark: ``imaging_study.parquet`` and ``imaging_series.parquet`` in the node's Parquet
    folder, each written beside it and renamed over it;
  - DuckDB (the Spark job only: the local indexer writes into the data file itself): both
    replaced in the data file in one transaction.

Column types are declared here (:data:`PUBLISHED`) and are the same on every engine: counts and
``person_id`` ``BIGINT``, so a published table does not depend on the engine that rolled it up.
"""

from __future__ import annotations

import io
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from psycopg import sql

from fivesafes.data.engines import open_omop
from fivesafes.data.names import READABLE_TABLES
from fivesafes.data.pg_load import postgres_type
from fivesafes.data.source import (
    DuckDBSource,
    OmopDatabase,
    PostgresSource,
    Source,
    SparkSource,
    libpq_url,
)
from fivesafes.imaging import tables as t
from fivesafes.imaging.omop_tables import ANATOMIC_SITES, IMAGING_ANCESTOR, SOURCES
from fivesafes.protocol.errors import Conflict, Forbidden, NotConfigured, ServiceUnavailable

BATCH_ROWS = 50_000
_TYPED = {
    "person_id": "BIGINT",
    "series_number": "INTEGER",
    "slice_thickness": "DOUBLE",
    "kvp": "DOUBLE",
    "n_series": "BIGINT",
    "n_instances": "BIGINT",
    "n_frames": "BIGINT",
    "study_date": "DATE",
    "series_date": "DATE",
    "bytes": "BIGINT",
    "study_conflict": "BOOLEAN",
}
PUBLISHED: dict[str, tuple[tuple[str, str], ...]] = {
    **{
        name: tuple((column, _TYPED.get(column, "VARCHAR")) for column in columns)
        for name, columns in (
            ("imaging_study", t.STUDY_COLUMNS),
            ("imaging_series", t.SERIES_COLUMNS),
        )
    },
    **{
        name: tuple((column, kind.split()[0]) for column, kind in columns)
        for name, columns in (
            ("image_occurrence", t.IMAGE_OCCURRENCE_COLUMNS),
            ("image_feature", t.IMAGE_FEATURE_COLUMNS),
        )
    },
}
"""The tables published into the node's data, with their column types: what analyses and
cohorts read of the index. Nothing else of the index is ever published."""
assert set(PUBLISHED) <= READABLE_TABLES

PERSON_SCHEMA = pa.schema([("person_id", pa.int64()), ("person_source_value", pa.string())])

Readers = Mapping[str, Callable[[], pa.RecordBatchReader]]
"""For each table of :data:`PUBLISHED`, a fresh stream of its rows in its declared types."""


def arrow_schema(name: str) -> pa.Schema:
    """The declared Arrow schema of the published table ``name``."""
    schema: pa.Schema = t.arrow_schema(PUBLISHED[name])
    return schema


def published_select(name: str) -> str:
    """A DuckDB query of the index's table ``name`` in its published types."""
    columns = ", ".join(f"CAST({c} AS {kind}) AS {c}" for c, kind in PUBLISHED[name])
    return f"SELECT {columns} FROM {name}"  # noqa: S608 - this module's constants


# ---- the link to persons ------------------------------------------------------------------


@contextmanager
def person_rows(source: Source) -> Iterator[pa.RecordBatchReader]:
    """The ``person`` rows of the node's data source (``person_id``, ``person_source_value``),
    streamed; none if it has no such table or columns. The source is closed afterwards."""
    db = open_omop(source)
    try:
        table = _person_table(db)
        if table is None:
            yield pa.RecordBatchReader.from_batches(PERSON_SCHEMA, [])
        else:
            batches = table.to_pyarrow_batches(chunk_size=BATCH_ROWS)
            yield pa.RecordBatchReader.from_batches(
                PERSON_SCHEMA, (b.cast(PERSON_SCHEMA) for b in batches)
            )
    finally:
        db.close()


@contextmanager
def cdm_rows(source: Source) -> Iterator[dict[str, pa.RecordBatchReader]]:
    """The node's CDM rows the OMOP imaging tables read (``omop_tables.SOURCES``), streamed
    from its data source through the view layer: procedures and visits (their few columns),
    and of the vocabulary only the anatomic sites' SNOMED concepts and the descendants of
    "Imaging". A table the source lacks is left out (the OMOP tables then have nulls)."""
    db = open_omop(source)
    try:
        stored = set(db.stored_tables())
        found: dict[str, pa.RecordBatchReader] = {}
        for _view, (name, columns) in SOURCES.items():
            if name not in stored:
                continue
            table = db.table(name)
            wanted = [c for c in columns if c in table.columns]
            if name == "concept":
                codes = sorted({code for codes in ANATOMIC_SITES.values() for code in codes})
                table = table.filter(
                    table.vocabulary_id == "SNOMED", table.concept_code.isin(codes)
                )
            elif name == "concept_ancestor":
                table = table.filter(table.ancestor_concept_id == IMAGING_ANCESTOR)
            found[name] = table.select(wanted).to_pyarrow_batches(chunk_size=BATCH_ROWS)
        yield found
    finally:
        db.close()


def _person_table(db: OmopDatabase) -> Any:
    """``person`` as stored (its two columns, whatever their case), or None."""
    stored = {name.lower(): name for name in db.backend.list_tables(database=db.schema)}
    if "person" not in stored:
        return None
    table = db.backend.table(stored["person"], database=db.schema)
    columns = {column.lower(): column for column in table.columns}
    if not {"person_id", "person_source_value"} <= columns.keys():
        return None
    return table.select(
        person_id=table[columns["person_id"]].cast("int64"),
        person_source_value=table[columns["person_source_value"]].cast("string"),
    )


# ---- publishing ---------------------------------------------------------------------------


def publish_index(database: Path, schema: str | None, source: Source) -> dict[str, int]:
    """Publish the analysis tables of the DuckDB index at ``database`` into ``source``;
    returns the rows published per table."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        if schema:
            con.execute(f"SET schema = '{schema}'")

        def reader(name: str) -> Callable[[], pa.RecordBatchReader]:
            return lambda: con.sql(published_select(name)).to_arrow_reader(BATCH_ROWS)

        return publish(source, {name: reader(name) for name in PUBLISHED})
    finally:
        con.close()


def publish(source: Source, readers: Readers) -> dict[str, int]:
    """Replace the tables of ``readers`` (only :data:`PUBLISHED` ones) in the node's data
    ``source``; returns the rows written per table."""
    unknown = set(readers) - set(PUBLISHED)
    if unknown:
        raise ValueError(f"only {sorted(PUBLISHED)} are published, not {sorted(unknown)}")
    if isinstance(source, PostgresSource):
        return _publish_postgres(source, readers)
    if isinstance(source, SparkSource):
        return _publish_parquet(source.path, readers)
    return _publish_duckdb(source, readers)


def _publish_duckdb(source: DuckDBSource, readers: Readers) -> dict[str, int]:
    try:
        con = duckdb.connect(str(source.path))
    except duckdb.IOException:
        raise Conflict(
            f"{source.path} is in use (a running node holds it); publish the imaging index "
            "when it is free."
        ) from None
    schema = source.schema_name or "main"
    written: dict[str, int] = {}
    try:
        con.execute("BEGIN")
        for name, reader in sorted(readers.items()):
            con.register("imaging_published", reader())
            con.execute(
                f'CREATE OR REPLACE TABLE "{schema}"."{name}" AS '  # noqa: S608 - constants
                "SELECT * FROM imaging_published"
            )
            con.unregister("imaging_published")
            found = con.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchone()  # noqa: S608
            written[name] = int(found[0]) if found else 0
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    return written


def _publish_parquet(folder: Path, readers: Readers) -> dict[str, int]:
    """Each table as ``folder/<name>.parquet``: written beside it under a hidden name (which
    the Spark source does not read), then renamed over it, so a reader sees the old table or
    the new one, never half of one. Any other entry naming the table (``<name>/``, another
    case) is removed, so the node reads exactly one."""
    if not folder.is_dir():
        raise NotConfigured(
            f"The node's Parquet folder {folder} does not exist: the imaging index cannot be "
            "published into it."
        )
    written: dict[str, int] = {}
    for name, reader in sorted(readers.items()):
        target = folder / f"{name}.parquet"
        part = folder / f".{name}.parquet.{uuid.uuid4().hex}.part"
        rows = 0
        try:
            with pq.ParquetWriter(part, arrow_schema(name)) as writer:
                for batch in reader():
                    writer.write_batch(batch)
                    rows += batch.num_rows
            os.replace(part, target)
        finally:
            part.unlink(missing_ok=True)
        for entry in folder.iterdir():
            if entry != target and entry.name.removesuffix(".parquet").lower() == name:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        written[name] = rows
    return written


def _publish_postgres(source: PostgresSource, readers: Readers) -> dict[str, int]:
    schema = source.schema_name
    try:
        con = psycopg.connect(libpq_url(source.url), connect_timeout=10)
    except psycopg.Error as exc:
        raise ServiceUnavailable(
            "Cannot reach the node's PostgreSQL server to publish the imaging index "
            f"({type(exc).__name__}); the index is kept, and the next run publishes it."
        ) from None
    written: dict[str, int] = {}
    try:
        with con.transaction(), con.cursor() as cursor:
            for name, reader in sorted(readers.items()):
                written[name] = _replace_table(cursor, schema, name, reader())
    except psycopg.errors.InsufficientPrivilege:
        raise Forbidden(
            f"The PostgreSQL server refused the node's user the right to replace the imaging "
            f"tables in schema {schema} (permission denied). Publishing needs a user that may "
            f"create and drop tables in {schema}; nothing was changed, and the index is kept."
        ) from None
    except psycopg.errors.ReadOnlySqlTransaction:
        raise Forbidden(
            "The PostgreSQL server runs the node's user read-only "
            "(default_transaction_read_only): the imaging tables cannot be published with it; "
            "nothing was changed, and the index is kept."
        ) from None
    except psycopg.Error as exc:
        raise ServiceUnavailable(
            f"The node's PostgreSQL server did not take the imaging tables in schema {schema} "
            f"({type(exc).__name__}); nothing was changed, and the index is kept."
        ) from None
    finally:
        con.close()
    return written


_PRIVILEGES = frozenset(
    {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"}
)


def _replace_table(
    cursor: psycopg.Cursor[Any], schema: str, name: str, reader: pa.RecordBatchReader
) -> int:
    """Drop ``schema.name`` and make it again from ``reader``, keeping who may read it."""
    target = sql.Identifier(schema, name)
    cursor.execute(
        "SELECT grantee, privilege_type FROM information_schema.role_table_grants"
        " WHERE table_schema = %s AND table_name = %s AND grantee <> current_user",
        [schema, name],
    )
    grants = [(g, p) for g, p in cursor.fetchall() if p in _PRIVILEGES]
    cursor.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(target))
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(field.name), sql.SQL(postgres_type(field.type)))
        for field in arrow_schema(name)
    )
    cursor.execute(sql.SQL("CREATE TABLE {} ({})").format(target, columns))
    names = sql.SQL(", ").join(sql.Identifier(c) for c, _ in PUBLISHED[name])
    copy = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(target, names)
    rows = 0
    options = pa_csv.WriteOptions(include_header=False)
    with cursor.copy(copy) as stream:
        for batch in reader:
            buffer = io.BytesIO()
            pa_csv.write_csv(batch, buffer, options)
            stream.write(buffer.getbuffer())
            rows += batch.num_rows
    for grantee, privilege in grants:
        who = sql.SQL("PUBLIC") if grantee == "PUBLIC" else sql.Identifier(grantee)
        cursor.execute(sql.SQL("GRANT {} ON {} TO {}").format(sql.SQL(privilege), target, who))
    cursor.execute(sql.SQL("ANALYZE {}").format(target))
    return rows
