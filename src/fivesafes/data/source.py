"""Where a node's OMOP CDM lives, and a read-only handle on it through Ibis.

A node's configuration names one data source::

    {"engine": "duckdb", "path": "/srv/tre/omop.duckdb"}
    {"engine": "postgres", "url": "postgresql://reader@db:5432/cdm", "schema": "cdm54"}
    {"engine": "spark", "path": "/srv/tre/omop-parquet", "master": "local[2]"}

Building these models does no I/O; ``fivesafes.data.engines.open_omop`` opens the connection.
DuckDB files are opened ``read_only`` and PostgreSQL sessions run with
``default_transaction_read_only``, so a running node cannot write to patient data even by
mistake. A Spark source is a folder of Parquet (one file or folder per CDM table, named after
it: ``person.parquet`` or ``person/``), read as temporary views in a Spark session (``master``:
``local[N]`` on one machine, or a cluster's master URL); this is how a TRE that has outgrown
one machine runs the same queries on a cluster.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from fivesafes.data.compiled import CompiledSql, Prepared
from fivesafes.data.names import READABLE_TABLES

if TYPE_CHECKING:  # Ibis is heavy to import; only opening a source needs it
    import ibis

SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
"""A plain, unquoted SQL identifier: what a CDM schema may be called here."""

SchemaName = Annotated[str, Field(pattern=f"^{SCHEMA_NAME.pattern}$", max_length=63)]


class DuckDBSource(BaseModel):
    """An OMOP CDM in a DuckDB file (tables in ``schema``, by default ``main``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engine: Literal["duckdb"]
    path: Path
    schema_name: SchemaName | None = Field(default=None, alias="schema")


class PostgresSource(BaseModel):
    """An OMOP CDM in one schema of a PostgreSQL database.

    ``url`` is a libpq URL (``postgresql://user@host:5432/db``); a SQLAlchemy driver suffix
    (``postgresql+psycopg://``) is accepted and ignored. It may carry a password, so it is
    left out of ``repr``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    engine: Literal["postgres"]
    url: Annotated[str, Field(pattern=r"^postgres(ql)?(\+\w+)?://", repr=False)]
    schema_name: SchemaName = Field(alias="schema")
    nested_loops: bool = Field(
        default=False,
        description="let the planner use nested-loop joins in the node's session; off by "
        "default: it misjudges the rows out of a cohort's window-and-filter steps as one and "
        "nests loops over tens of thousands (docs/benchmarks.md, cohort-scale)",
    )


SPARK_MASTER = r"^(local(\[(\d+|\*)\])?|(spark|k8s)://\S+|yarn)$"


class SparkSource(BaseModel):
    """An OMOP CDM as Parquet files read by Spark (PySpark), one file or folder per table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engine: Literal["spark"]
    path: Path
    master: Annotated[str, Field(pattern=SPARK_MASTER)] = "local[2]"
    driver_memory: Annotated[str, Field(pattern=r"^\d+[kmgKMG]$")] = "2g"


Source = DuckDBSource | PostgresSource | SparkSource
DataSource = Annotated[Source, Field(discriminator="engine")]
"""Any kind of source, told apart by ``engine``."""

_DATA_SOURCE: TypeAdapter[Source] = TypeAdapter(DataSource)


def parse_data_source(raw: Any) -> Source:
    """Validate a data-source mapping (e.g. from a node's configuration file)."""
    return _DATA_SOURCE.validate_python(raw)


def libpq_url(url: str) -> str:
    """``url`` without a SQLAlchemy driver suffix, as libpq and psycopg expect it."""
    return re.sub(r"^postgres(ql)?\+\w+://", "postgresql://", url)


def source_identity(source: Source) -> str:
    """Which data source ``source`` is, in words without a password: its engine, where it is
    and its schema (``OmopDatabase.identity``)."""
    if isinstance(source, PostgresSource):
        parts = urlsplit(libpq_url(source.url))
        where = f"{parts.username or ''}@{parts.hostname or ''}:{parts.port or ''}{parts.path}"
        return f"postgres:{where}:{source.schema_name}"
    if isinstance(source, DuckDBSource):
        return f"duckdb:{source.path.resolve()}:{source.schema_name or ''}"
    return f"spark:{source.path.resolve()}:{source.master}"


class OmopDatabase:
    """An open Ibis connection to one OMOP CDM, read through :meth:`table`: every table as the
    view layer shows it (``fivesafes.data.views``: lower-case columns, CDM 5.3 read as 5.4,
    opted-out persons removed)."""

    def __init__(
        self,
        backend: Any,
        schema: str | None = None,
        *,
        identity: str | None = None,
        compiled: CompiledSql | None = None,
    ) -> None:
        self.backend = backend
        self.schema = schema
        self.identity = identity or f"{backend.name}:{schema}:{uuid.uuid4().hex}"
        """Which data source this is (engine, location, schema; never a password): part of
        every compiled query's key (``fivesafes.data.compiled``)."""
        self.compiled = compiled if compiled is not None else CompiledSql()
        """The compiled SQL of this connection's queries (``fivesafes.data.compiled``)."""
        self.prepared = Prepared()
        """The statements prepared on this connection (DuckDB; ``fivesafes.data.compiled``)."""
        self._tables: dict[str, ibis.Table] = {}
        self._opted_out: ibis.Table | None = None
        self._looked_for_opt_outs = False
        self._opt_out_version: str | None = None
        self._names: dict[str, str] | None = None

    def table(self, name: str) -> ibis.Table:
        """The CDM table (or imaging index table) ``name`` as an Ibis table expression,
        through the view layer."""
        from fivesafes.data.views import cdm_view

        if name not in READABLE_TABLES:
            raise ValueError(f"{name!r} is not an OMOP CDM v5.4 table or an imaging index table")
        if name not in self._tables:
            stored = self.backend.table(self._stored_name(name), database=self.schema)
            self._tables[name] = cdm_view(stored, name, self.opted_out())
        return self._tables[name]

    def opted_out(self) -> ibis.Table | None:
        """The persons of the node's opt-out list (``fivesafes_opt_out``), or None if the
        source has no such table."""
        from fivesafes.data.views import OPT_OUT_TABLE, opt_out_list

        if not self._looked_for_opt_outs:
            self._looked_for_opt_outs = True
            if OPT_OUT_TABLE in self._stored_names():
                stored = self.backend.table(OPT_OUT_TABLE, database=self.schema)
                self._opted_out = opt_out_list(stored)
        return self._opted_out

    def opt_out_version(self) -> str:
        """The opt-out list as this connection reads it, in a few characters: ``none``, or
        how many persons it holds with the sum, least and greatest of their ids. Read once
        per connection, when the view layer first looks for the list; part of every compiled
        query's key, so SQL compiled without the list, or with another, is never reused."""
        if self._opt_out_version is None:
            opted_out = self.opted_out()
            if opted_out is None:
                self._opt_out_version = "none"
            else:
                ids = opted_out.person_id
                found = opted_out.aggregate(
                    n=ids.count(), total=ids.sum(), low=ids.min(), high=ids.max()
                ).to_pyarrow()
                n, total, low, high = (found.column(c)[0].as_py() for c in found.column_names)
                self._opt_out_version = f"{n}:{total}:{low}:{high}"
        return self._opt_out_version

    def stored_tables(self) -> list[str]:
        """Every table the source holds (lower case), for the domains' schema checks
        (``fivesafes.data.domains``)."""
        return sorted(self._stored_names())

    def _stored_names(self) -> dict[str, str]:
        """Lower-case table name -> the name as stored (Eunomia's are upper-case)."""
        names = self.backend.list_tables(database=self.schema)
        return {name.lower(): name for name in names}

    def _stored_name(self, name: str) -> str:
        if self._names is None:
            self._names = self._stored_names()
        return self._names.get(name, name)

    def interrupt(self) -> None:
        """Stop the query running on this connection now, from another thread: DuckDB's
        ``interrupt``, PostgreSQL's cancel request (Spark: ``SparkOmop``). The interrupted
        query raises in its own thread; the connection stays usable."""
        con = getattr(self.backend, "con", None)
        if con is None:
            return
        if hasattr(con, "interrupt"):  # DuckDB
            con.interrupt()
        elif hasattr(con, "cancel_safe"):  # psycopg 3.2+
            con.cancel_safe(timeout=5.0)
        elif hasattr(con, "cancel"):
            con.cancel()

    def limit_statements(self, seconds: float) -> None:
        """On PostgreSQL, end any one statement of this session after ``seconds`` (the server
        enforces it even if this process is stuck); on the other engines, nothing: the run's
        deadline interrupts them (``interrupt``)."""
        con = getattr(self.backend, "con", None)
        if con is None or hasattr(con, "interrupt"):  # DuckDB: the deadline interrupts it
            return
        if hasattr(con, "cancel"):  # psycopg: PostgreSQL
            con.execute(f"SET statement_timeout = {max(1, int(seconds * 1000))}")

    def close(self) -> None:
        """Close the connection; the handle is unusable afterwards."""
        self._tables.clear()
        self.backend.disconnect()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
