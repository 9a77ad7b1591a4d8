"""Opening a node's data source on its engine: DuckDB (a file, read-only), PostgreSQL
(read-only sessions) or Spark (Parquet as temporary views, ``fivesafes.data.spark``). Each
engine's client is imported only when a source of that engine is opened (Ibis and PySpark are
heavy to import)."""

from __future__ import annotations

from fivesafes.data.compiled import CompiledSql
from fivesafes.data.source import (
    DuckDBSource,
    OmopDatabase,
    Source,
    SparkSource,
    libpq_url,
    source_identity,
)
from fivesafes.data.spark import open_spark


def open_omop(
    source: Source, *, memory_mb: int | None = None, compiled: CompiledSql | None = None
) -> OmopDatabase:
    """Open ``source`` read-only; ``memory_mb`` caps what DuckDB may use for one query (it
    spills to disk or fails past it; Spark has its own ``driver_memory``, PostgreSQL the
    server's settings). The connection keeps its queries' compiled SQL in ``compiled``
    (default: a cache of its own; ``fivesafes.data.compiled``)."""
    import ibis

    identity = source_identity(source)
    if isinstance(source, SparkSource):
        return open_spark(source, compiled=compiled)
    if isinstance(source, DuckDBSource):
        if not source.path.is_file():
            raise FileNotFoundError(f"no DuckDB file at {source.path}")
        backend = ibis.duckdb.connect(database=source.path, read_only=True)
        if memory_mb is not None:
            backend.con.execute(f"SET memory_limit = '{int(memory_mb)}MB'")
        return OmopDatabase(backend, source.schema_name, identity=identity, compiled=compiled)
    import psycopg

    options = "-c default_transaction_read_only=on"
    if not source.nested_loops:
        options += " -c enable_nestloop=off"
    connection = psycopg.connect(libpq_url(source.url), autocommit=True, options=options)
    backend = ibis.postgres.from_connection(connection)
    return OmopDatabase(backend, source.schema_name, identity=identity, compiled=compiled)
