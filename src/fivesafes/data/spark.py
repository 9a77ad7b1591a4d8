"""OMOP CDM on Spark: Parquet files per table, read as temporary views through PySpark.

Spark in local mode (``master = "local[N]"``) needs only Java 17 on the machine; the same
code runs against a cluster's master. Queries are the same Ibis expressions as on DuckDB and
PostgreSQL, through the same view layer (``fivesafes.data.views``), so the same cohort gives
the same persons on all three (``tests/integration/test_count_engines.py``).

:func:`write_parquet` turns a DuckDB CDM into such a folder (for tests, benchmarks, and a TRE
moving its CDM onto a cluster).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fivesafes.data.compiled import CompiledSql
from fivesafes.data.names import READABLE_TABLES
from fivesafes.data.source import OmopDatabase, SparkSource, source_identity
from fivesafes.data.views import OPT_OUT_TABLE

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

READABLE = READABLE_TABLES | {OPT_OUT_TABLE}


def parquet_tables(folder: Path) -> dict[str, Path]:
    """The CDM (and imaging index) tables in ``folder``: ``name.parquet`` files or ``name/``
    folders (any case)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"no Parquet folder at {folder}")
    found = {}
    for entry in folder.iterdir():
        name = entry.name.removesuffix(".parquet").lower()
        if name in READABLE and (entry.is_dir() or entry.suffix == ".parquet"):
            found[name] = entry
    return found


def spark_session(source: SparkSource) -> SparkSession:
    """A Spark session for the node: no web UI, few shuffle partitions, quiet logs."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master(source.master)
        .appName("fivesafes-node")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", source.driver_memory)
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkOmop(OmopDatabase):
    """An OMOP CDM in Spark; closing it leaves the process's Spark session running (starting
    one takes seconds), but drops this CDM's views."""

    def __init__(
        self,
        backend: object,
        session: SparkSession,
        views: list[str],
        *,
        identity: str | None = None,
        compiled: CompiledSql | None = None,
    ) -> None:
        super().__init__(backend, None, identity=identity, compiled=compiled)
        self._session = session
        self._views = views

    def interrupt(self) -> None:
        """Cancel every Spark job this process runs (the node runs one analysis at a time)."""
        self._session.sparkContext.cancelAllJobs()

    def close(self) -> None:
        self._tables.clear()
        for view in self._views:
            self._session.catalog.dropTempView(view)


def open_spark(source: SparkSource, *, compiled: CompiledSql | None = None) -> OmopDatabase:
    import ibis

    tables = parquet_tables(source.path)
    session = spark_session(source)
    for name, path in tables.items():
        session.read.parquet(str(path)).createOrReplaceTempView(name)
    backend = ibis.pyspark.connect(session)
    identity = source_identity(source)
    return SparkOmop(backend, session, list(tables), identity=identity, compiled=compiled)


def write_parquet(duckdb_path: Path, folder: Path) -> dict[str, int]:
    """Every table of the DuckDB CDM at ``duckdb_path`` as ``folder/<table>.parquet``; returns
    the rows written per table."""
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        names = [r[0] for r in con.execute("SHOW TABLES").fetchall()]
        for name in names:
            if name.lower() not in READABLE:
                continue  # only CDM tables (their names are known, so safe to quote)
            relation = con.table(name)
            relation.write_parquet(str(folder / f"{name.lower()}.parquet"))
            written[name.lower()] = len(relation)
    return written
