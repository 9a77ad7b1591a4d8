"""A typical phenotype counted at scale: 10,000,000 persons on DuckDB, 1,000,000 on PostgreSQL
and Spark, against circepy's own SQL rendering executed on the same engine.

    .venv/bin/python benchmarks/bench_cohort_scale.py [--persons N] [--engine-persons M]
        [--engines duckdb,postgres,spark] [--runs R] [--workdir DIR] [--no-write]

The synthetic CDMs are generated once into ``--workdir`` and kept (10,000,000 persons with
``background_conditions=9`` is a 2.4 GiB file and takes about 6 minutes), with about 10
condition records per person: the generator's own (about 1.4) plus 9 opt-in background
records of common conditions. PostgreSQL and Spark get a copy of the tables the phenotypes
read (``PHENOTYPE_TABLES``): a fresh database (dropped at the end) and a Parquet folder.

Every measurement runs in its own process, so its peak memory is its own: the process's
peak RSS (``VmHWM``, its own address space's: ``ru_maxrss`` would carry the parent's peak
across ``exec``), which holds DuckDB's engine; for Spark also the JVM's peak RSS; for
PostgreSQL also the server backend's (parallel workers not counted). Each form is run once to
warm up, then ``--runs`` times; the median is reported.

The forms, on the same data:

- ``circe``: the typical phenotype as OHDSI Circe JSON, counted by ``count_persons`` exactly
  as a node runs it (concept check, circepy's Ibis executor compile-only through the view
  layer, execution);
- ``model`` / ``model as circe``: its nearest platform-model form (the model has no window
  relative to the index date, so the inclusion rule is "metformin at any time") and that
  model's own Circe translation (``to_circe``), both by ``count_persons``;
- ``circe, stages inlined``: how a node compiled Circe before this benchmark's finding
  (circepy's staging tables kept as unnamed expressions, so Ibis inlines each wherever it is
  read); a node now names each (one common table expression per stage);
- ``circe, nested loops on`` (PostgreSQL only): the node's form with the planner's nested
  loops left on (PostgreSQL's default; a node's sessions turn them off unless its ``[data]``
  says ``nested_loops = true``); on PostgreSQL *stages inlined* runs with them on too, as a
  node did before;
- ``circepy SQL``: circepy's own SQL rendering (``build_cohort_query``, then
  ``circe.sqlrender`` render, translate and split), executed statement by statement into a
  scratch schema, then the cohort table's distinct subjects counted.

The figures are printed and written into docs/benchmarks.md between ``<!-- bench:cohort-scale
-->`` and ``<!-- /bench:cohort-scale -->``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import ibis

from fivesafes.analyses.count import count_persons
from fivesafes.cohorts.circe import CirceCohort, _CompileOnly, expression
from fivesafes.cohorts.concepts import check_concepts
from fivesafes.cohorts.criteria import Cohort
from fivesafes.cohorts.to_circe import to_circe
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource, OmopDatabase, PostgresSource, Source, SparkSource
from fivesafes.data.synth import generate
from record import DOCS, machine, peak_rss_mib, process_peak_mib, timed, update_section

SECTION = "cohort-scale"
GOAL_SECONDS = 5.0
SEED = 20241123
BACKGROUND = 9.0
PHENOTYPE_TABLES = (
    "person",
    "observation_period",
    "condition_occurrence",
    "drug_exposure",
    "concept",
    "concept_ancestor",
)
PG_ADMIN_URL = os.environ.get(
    "FIVESAFES_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SESSION_ID = "fsbench1"  # circepy's SQL translator names its scratch tables with it on Spark

TYPICAL = {
    "title": "diabetes mellitus first diagnosed at 55-65, metformin within a year",
    "ConceptSets": [
        {
            "id": 0,
            "name": "diabetes mellitus",
            "expression": {
                "items": [{"concept": {"CONCEPT_ID": 201820}, "includeDescendants": True}]
            },
        },
        {
            "id": 1,
            "name": "metformin",
            "expression": {
                "items": [{"concept": {"CONCEPT_ID": 1503297}, "includeDescendants": True}]
            },
        },
    ],
    "PrimaryCriteria": {
        "CriteriaList": [
            {
                "ConditionOccurrence": {
                    "CodesetId": 0,
                    "First": True,
                    "Age": {"Value": 55, "Extent": 65, "Op": "bt"},
                }
            }
        ],
        "ObservationWindow": {"PriorDays": 0, "PostDays": 0},
        "PrimaryCriteriaLimit": {"Type": "First"},
    },
    "InclusionRules": [
        {
            "name": "metformin within a year",
            "expression": {
                "Type": "ALL",
                "CriteriaList": [
                    {
                        "Criteria": {"DrugExposure": {"CodesetId": 1}},
                        "StartWindow": {
                            "Start": {"Days": 0, "Coeff": 1},
                            "End": {"Days": 365, "Coeff": 1},
                        },
                        "Occurrence": {"Type": 2, "Count": 1},
                    }
                ],
                "DemographicCriteriaList": [],
                "Groups": [],
            },
        }
    ],
    "QualifiedLimit": {"Type": "First"},
    "ExpressionLimit": {"Type": "First"},
    "CollapseSettings": {"CollapseType": "ERA", "EraPad": 0},
}
"""The typical phenotype: a condition concept set with descendants (diabetes mellitus, whose
descendant type 2 diabetes is what the generator records), its first occurrence, age 55-65 at
it, and an inclusion rule (metformin started within 365 days after it)."""

MODEL = Cohort.model_validate(
    {
        "name": "diabetes mellitus first diagnosed at 55-65, ever on metformin",
        "index": {"type": "first_event", "criterion": 0},
        "age": {"min": 55, "max": 65},
        "criteria": [
            {"domain": "condition", "concepts": [201820], "descendants": True},
            {"domain": "drug", "concepts": [1503297], "descendants": True},
        ],
    }
)
"""The nearest platform-model form: its criteria are not relative to the index date."""

FORMS: dict[str, str] = {
    "circe": "Circe (typical phenotype), as a node runs it",
    "circe-inline": "Circe, stages inlined (a node before this benchmark)",
    "circe-nestloop": "Circe, nested loops on (PostgreSQL's default)",
    "sql-circe": "circepy SQL (typical phenotype)",
    "model": "platform model",
    "model-circe": "platform model as Circe (`to_circe`)",
    "sql-model-circe": "circepy SQL (`to_circe` of the model)",
}
POSTGRES_ONLY = ("circe-nestloop",)
TYPICAL_FORMS = ("circe", "circe-inline", "circe-nestloop", "sql-circe")
REFERENCE = {form: "sql-circe" for form in TYPICAL_FORMS[:-1]}
REFERENCE |= {"model": "sql-model-circe", "model-circe": "sql-model-circe"}
"""Which circepy SQL measurement each of our forms is compared with."""


def circe_json(form: str) -> dict[str, Any]:
    return to_circe(MODEL) if form.endswith("model-circe") else TYPICAL


# --- the earlier compilation: circepy's staging tables inlined at every use ----------------


class _StagesInlined(_CompileOnly):
    """The node's compile-only backend as it was: a table circepy creates is kept as the
    unnamed expression, which Ibis inlines wherever a later stage reads it."""

    def create_table(
        self, name: str, obj: Any = None, *, database: str | None = None, **_: Any
    ) -> ibis.Table:
        self._virtual[name] = obj
        return obj


def count_inlined(db: OmopDatabase, cohort: CirceCohort) -> int:
    from circe.execution.api import build_cohort

    check_concepts(cohort, db)
    events = build_cohort(
        expression(cohort),
        backend=_StagesInlined(db),
        cdm_schema="cdm",
        materialize=False,
        session_prefix="fivesafes_",
    )
    persons = events.group_by("person_id").aggregate(index_date=events.start_date.min())
    return int(persons.person_id.nunique().execute())


# --- circepy's own SQL ------------------------------------------------------------------------


def circepy_sql(circe: dict[str, Any], dialect: str) -> list[str]:
    """circepy's SQL for ``circe`` in ``dialect``, one statement per item, writing the cohort
    into ``results.cohort`` (cohort_definition_id 1), reading the CDM from schema ``cdm``."""
    from circe.api import build_cohort_query, cohort_expression_from_json
    from circe.cohortdefinition import BuildExpressionQueryOptions
    from circe.sqlrender import render, split_sql, translate

    options = BuildExpressionQueryOptions()  # type: ignore[no-untyped-call]
    options.cdm_schema = "cdm"
    options.vocabulary_schema = "cdm"
    options.result_schema = "results"
    options.target_table = "results.cohort"
    options.cohort_id = 1
    options.generate_stats = False
    ohdsi_sql = build_cohort_query(cohort_expression_from_json(json.dumps(circe)), options)
    translated = translate(render(ohdsi_sql), dialect, session_id=SESSION_ID)
    return [s for s in split_sql(translated) if s.strip()]


SPARK_ADAPTATION = (
    "`USING DELTA` written `USING PARQUET`, and `DELETE FROM results.cohort ...` written "
    "`TRUNCATE TABLE results.cohort` (a Parquet table cannot delete rows; it holds only this "
    "cohort)"
)


def adapt_for_plain_spark(statements: list[str]) -> list[str]:
    """circepy's Spark SQL targets Databricks (Delta tables); plain Spark has no Delta."""
    adapted = []
    for statement in statements:
        if statement.lstrip().upper().startswith("DELETE FROM RESULTS.COHORT"):
            statement = "TRUNCATE TABLE results.cohort"
        adapted.append(statement.replace("USING DELTA", "USING PARQUET"))
    return adapted


COHORT_DDL = (
    "CREATE TABLE results.cohort (cohort_definition_id INTEGER, subject_id BIGINT, "
    "cohort_start_date DATE, cohort_end_date DATE)"
)
COUNT_SQL = "SELECT count(DISTINCT subject_id) FROM results.cohort WHERE cohort_definition_id = 1"


def first_line(exc: BaseException) -> str:
    """An exception's class and the first meaningful line of its message."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # Py4J puts "An error occurred while calling ..." first and Spark's own error second
    if lines and lines[0].startswith("An error occurred while calling") and len(lines) > 1:
        lines = lines[1:]
    text = lines[0].removeprefix(": ") if lines else ""
    return f"{type(exc).__name__}: {text[:300]}"


# --- one measurement, in its own process ----------------------------------------------------


@dataclass
class Job:
    """What one child process measures."""

    engine: str  # duckdb | postgres | spark
    form: str  # a key of FORMS
    location: str  # DuckDB file, PostgreSQL URL, or Parquet folder
    runs: int
    timeout: int  # seconds one count may take (PostgreSQL: statement_timeout)
    duckdb_memory_limit: str
    spark_driver_memory: str
    scratch: str  # a folder for Spark's warehouse and DuckDB's spill files


@dataclass
class Result:
    job: dict[str, Any]
    count: int | None = None
    cold: float | None = None
    warm: list[float] = field(default_factory=list)
    peak_mib: float | None = None
    engine_peak_mib: float | None = None
    engine_peak_what: str | None = None
    profile: dict[str, float] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    unfinished: str | None = None  # why no figure: a timeout, an error
    rendered_error: str | None = None  # circepy's SQL as rendered does not run here
    adapted: str | None = None  # what was changed so that it runs

    @property
    def form(self) -> str:
        return str(self.job["form"])

    @property
    def median(self) -> float | None:
        return statistics.median(self.warm) if self.warm else None


def _source(job: Job) -> Source:
    if job.engine == "duckdb":
        return DuckDBSource(engine="duckdb", path=Path(job.location))
    if job.engine == "postgres":
        return PostgresSource(engine="postgres", url=job.location, schema="cdm")
    return SparkSource(
        engine="spark",
        path=Path(job.location),
        master="local[2]",
        driver_memory=job.spark_driver_memory,
    )


def _duckdb_settings(run: Callable[[str], Any], job: Job) -> dict[str, str]:
    run(f"SET memory_limit = '{job.duckdb_memory_limit}'")
    run(f"SET temp_directory = '{job.scratch}/duckdb-spill'")
    names = ("threads", "memory_limit")
    return {n: str(run(f"SELECT current_setting('{n}')").fetchone()[0]) for n in names}


def _postgres_settings(run: Callable[[str], Any], job: Job) -> dict[str, str]:
    run(f"SET statement_timeout = '{job.timeout}s'")
    if job.form in ("circe-inline", "circe-nestloop"):  # as a node ran before
        run("SET enable_nestloop = on")
    if job.form.startswith("sql-"):
        return {}  # circepy's SQL runs with the server's settings, as its users run it
    return {"enable_nestloop": str(run("SHOW enable_nestloop").fetchone()[0])}


def _profile(db: OmopDatabase, cohort: CirceCohort) -> dict[str, float]:
    """Where the time of one DuckDB count goes: concept check, building the Ibis expression,
    compiling it to SQL, executing the SQL."""
    from fivesafes.cohorts.compile import cohort_persons

    times: dict[str, float] = {}
    started = time.perf_counter()
    check_concepts(cohort, db)
    times["concept check"] = time.perf_counter() - started
    started = time.perf_counter()
    expr = cohort_persons(cohort, db).person_id.nunique()
    times["build expression"] = time.perf_counter() - started
    started = time.perf_counter()
    sql = str(ibis.to_sql(expr, dialect=db.backend.name))
    times["compile SQL"] = time.perf_counter() - started
    times["SQL characters"] = len(sql)
    times["condition_occurrence read"] = sql.count('FROM "condition_occurrence"')
    started = time.perf_counter()
    db.backend.raw_sql(sql).fetchall()
    times["execute SQL"] = time.perf_counter() - started
    return times


def _is_timeout(exc: BaseException) -> bool:
    return type(exc).__name__ == "QueryCanceled"  # psycopg, on statement_timeout


def measure_ours(job: Job) -> Result:
    result = Result(job=job.__dict__)
    form = job.form.removesuffix("-nestloop")
    cohort: Cohort | CirceCohort = (
        MODEL if form == "model" else CirceCohort(name=form, circe=circe_json(form))
    )
    count = count_inlined if form == "circe-inline" else count_persons
    with open_omop(_source(job)) as db:
        if job.engine == "duckdb":
            result.settings = _duckdb_settings(db.backend.raw_sql, job)
        if job.engine == "postgres":
            result.settings = _postgres_settings(db.backend.raw_sql, job)
        try:
            timed(lambda: count(db, cohort), job.runs, result)  # type: ignore[arg-type]
        except Exception as exc:
            if not _is_timeout(exc):
                raise
            result.unfinished = f"not finished in {job.timeout} s (cancelled)"
        if job.engine == "duckdb" and form == "circe":
            profiles = [_profile(db, cohort) for _ in range(3)]  # type: ignore[arg-type]
            result.profile = {k: statistics.median(p[k] for p in profiles) for k in profiles[0]}
        if job.engine == "postgres":
            result.engine_peak_mib = process_peak_mib(db.backend.con.info.backend_pid)
            result.engine_peak_what = "PostgreSQL backend"
        if job.engine == "spark":
            _spark_peak(db.backend._session, result)
    result.peak_mib = peak_rss_mib()
    return result


def _spark_peak(session: Any, result: Result) -> None:
    result.settings = {
        k.removeprefix("spark."): session.conf.get(k)
        for k in ("spark.master", "spark.driver.memory", "spark.sql.shuffle.partitions")
    }
    with contextlib.suppress(AttributeError):
        result.engine_peak_mib = process_peak_mib(session.sparkContext._gateway.proc.pid)
        result.engine_peak_what = "JVM"


def _run_statements(execute: Callable[[str], Any], statements: list[str]) -> None:
    for statement in statements:
        execute(statement)


def measure_circepy_sql(job: Job) -> Result:
    result = Result(job=job.__dict__)
    circe = circe_json(job.form)
    if job.engine == "duckdb":
        statements = circepy_sql(circe, "duckdb")
        con = duckdb.connect()  # in memory; the CDM is attached read-only
        result.settings = _duckdb_settings(con.execute, job)
        con.execute(f"ATTACH '{job.location}' AS cdm (READ_ONLY)")
        con.execute("CREATE SCHEMA results")
        con.execute(COHORT_DDL)

        def run_duckdb() -> int:
            _run_statements(con.execute, statements)
            return int(con.execute(COUNT_SQL).fetchone()[0])  # type: ignore[index]

        timed(run_duckdb, job.runs, result)
        con.close()
    elif job.engine == "postgres":
        import psycopg

        statements = circepy_sql(circe, "postgresql")
        with psycopg.connect(job.location, autocommit=True) as pg:
            result.settings = _postgres_settings(pg.execute, job)

            def run_postgres() -> int:
                _run_statements(pg.execute, statements)
                return int(pg.execute(COUNT_SQL).fetchone()[0])  # type: ignore[index]

            timed(run_postgres, job.runs, result)
            result.engine_peak_mib = process_peak_mib(pg.info.backend_pid)
            result.engine_peak_what = "PostgreSQL backend"
    else:
        measure_spark_sql(job, circe, result)
    result.peak_mib = peak_rss_mib()
    return result


def measure_spark_sql(job: Job, circe: dict[str, Any], result: Result) -> None:
    from pyspark.sql import SparkSession

    from fivesafes.data.spark import parquet_tables

    statements = circepy_sql(circe, "spark")
    session = (  # as fivesafes.data.spark.spark_session, with a scratch warehouse
        SparkSession.builder.master("local[2]")
        .appName("fivesafes-bench-circepy-sql")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", job.spark_driver_memory)
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(Path(job.scratch) / "spark-warehouse"))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    session.sql("CREATE DATABASE cdm")
    session.sql("CREATE DATABASE results")
    for name, path in parquet_tables(Path(job.location)).items():
        session.sql(f"CREATE TABLE cdm.{name} USING PARQUET LOCATION '{path}'")
    session.sql(COHORT_DDL + " USING PARQUET")

    def run(script: list[str]) -> int:
        _run_statements(session.sql, script)
        return int(session.sql(COUNT_SQL).collect()[0][0])

    try:
        run(statements)
    except Exception as exc:  # what failed is the finding
        result.rendered_error = first_line(exc)
        for statement in statements:  # drop what the failed script left behind
            if statement.lstrip().upper().startswith("DROP TABLE"):
                with contextlib.suppress(Exception):
                    session.sql(statement.replace("DROP TABLE", "DROP TABLE IF EXISTS", 1))
        session.sql("TRUNCATE TABLE results.cohort")
        adapted = adapt_for_plain_spark(statements)
        result.adapted = SPARK_ADAPTATION
        timed(lambda: run(adapted), job.runs, result)
    else:
        timed(lambda: run(statements), job.runs, result)
    _spark_peak(session, result)


def child(job: Job) -> Result:
    if job.form.startswith("sql-"):
        return measure_circepy_sql(job)
    return measure_ours(job)


def run_in_child(job: Job) -> Result:
    """Measure ``job`` in a fresh Python process; return what it printed. A child that takes
    longer than its runs' timeouts (and a minute to start) is stopped."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(job.__dict__)]
    limit = job.timeout * (job.runs + 1) + 60
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=limit)
    except subprocess.TimeoutExpired:
        return Result(job=job.__dict__, unfinished=f"not finished in {limit} s (stopped)")
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{job.engine} {job.form} failed (exit {done.returncode}):\n{tail}")
    return Result(**json.loads(lines[-1].removeprefix("RESULT ")))


# --- the data ---------------------------------------------------------------------------------


def synthetic_cdm(workdir: Path, persons: int, background: float) -> tuple[Path, float | None]:
    """The cached CDM, generating it first when absent; and how long that took."""
    tag = f"{background:g}".replace(".", "_")
    path = workdir / f"omop-{persons}-seed{SEED}-bg{tag}.duckdb"
    if path.is_file():
        return path, None
    workdir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    started = time.perf_counter()
    generate(partial, persons, SEED, background_conditions=background)
    partial.rename(path)
    return path, time.perf_counter() - started


def phenotype_tables_copy(full: Path) -> Path:
    """A DuckDB file with only :data:`PHENOTYPE_TABLES` of ``full`` (cached beside it)."""
    path = full.with_name(full.stem + "-phenotype-tables.duckdb")
    if path.is_file():
        return path
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with duckdb.connect(str(partial)) as con:
        con.execute(f"ATTACH '{full}' AS source (READ_ONLY)")
        for table in PHENOTYPE_TABLES:
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM source.main.{table}")
    partial.rename(path)
    return path


def parquet_copy(slim: Path) -> Path:
    from fivesafes.data.spark import write_parquet

    folder = slim.with_name(slim.stem + "-parquet")
    if not folder.is_dir():
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        write_parquet(slim, partial)
        partial.rename(folder)
    return folder


@contextlib.contextmanager
def postgres_copy(slim: Path, admin_url: str) -> Iterator[str]:
    """A new PostgreSQL database with the tables in schema ``cdm`` and an empty
    ``results.cohort``; dropped afterwards."""
    import psycopg

    from fivesafes.data.pg_load import copy_omop_to_postgres

    name = f"fivesafes_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        copy_omop_to_postgres(slim, url, "cdm")
        with psycopg.connect(url, autocommit=True) as con:
            con.execute("CREATE SCHEMA results")
            con.execute(COHORT_DDL)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def table_rows(path: Path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            t: int(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # type: ignore[index]
            for t in ("person", "condition_occurrence", "drug_exposure")
        }


def postgres_settings(url: str) -> str:
    import psycopg

    names = ("server_version", "shared_buffers", "work_mem", "max_parallel_workers_per_gather")
    with psycopg.connect(url) as con:
        values = [con.execute(f"SELECT current_setting('{n}')").fetchone()[0] for n in names]  # type: ignore[index]
    return ", ".join(f"{n} {v}" for n, v in zip(names, values, strict=True))


# --- the run --------------------------------------------------------------------------------


@dataclass
class Setup:
    engine: str
    persons: int
    location: str
    rows: dict[str, int]
    measured: str = ""  # when, UTC
    loads: list[float] = field(default_factory=list)  # 1-minute load before/after each child


Measured = list[tuple[Setup, Result]]
ENGINE_ORDER = ("duckdb", "postgres", "spark")


def measure_all(setups: list[Setup], args: argparse.Namespace) -> Measured:
    results = []
    with tempfile.TemporaryDirectory(prefix="fivesafes-bench-scratch-") as scratch:
        for setup in setups:
            setup.measured = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
            for form in FORMS:
                if form in POSTGRES_ONLY and setup.engine != "postgres":
                    continue
                job = Job(
                    engine=setup.engine,
                    form=form,
                    location=setup.location,
                    runs=args.runs,
                    timeout=args.timeout,
                    duckdb_memory_limit=args.duckdb_memory_limit,
                    spark_driver_memory=args.spark_driver_memory,
                    scratch=tempfile.mkdtemp(dir=scratch),
                )
                print(f"  {setup.engine} {setup.persons:,} persons: {FORMS[form]}", flush=True)
                setup.loads.append(os.getloadavg()[0])
                result = run_in_child(job)
                setup.loads.append(os.getloadavg()[0])
                print(f"    {result.count} persons, {_s(result.median)}", flush=True)
                results.append((setup, result))
    return results


def check(results: Measured) -> list[str]:
    """The counts that must agree (every form and engine, per data size and cohort); raises
    if they do not. Returns the checks made, in words."""
    made = []
    sizes = sorted({s.persons for s, _ in results})
    for persons in sizes:
        for name, forms in (("typical phenotype", TYPICAL_FORMS), ("model", FORMS)):
            group = {
                (s.engine, r.form): r.count
                for s, r in results
                if s.persons == persons
                and r.form in forms
                and (name == "model") != (r.form in TYPICAL_FORMS)
                and r.count is not None
            }
            if not group:
                continue
            values = set(group.values())
            if len(values) != 1:
                raise AssertionError(f"{persons:,} persons, {name}: counts differ: {group}")
            engines = ", ".join(ENGINE_NAMES[e] for e in sorted({e for e, _ in group}))
            made.append(
                f"{persons:,} persons, {name}: all {len(group)} counts ({engines}) are "
                f"{values.pop():,}"
            )
    return made


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def _mib(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} MiB"


ENGINE_NAMES = {"duckdb": "DuckDB", "postgres": "PostgreSQL", "spark": "Spark"}


def ratio(result: Result, reference: Result | None) -> float | None:
    if reference is None or result.median is None or reference.median is None:
        return None
    return result.median / reference.median


def report(results: Measured, args: argparse.Namespace, notes: dict[str, str]) -> str:
    by_key = {(s.engine, s.persons, r.form): r for s, r in results}
    lines = [
        "## Cohort count at scale: a typical phenotype, and circepy's own SQL",
        "",
        f"`benchmarks/bench_cohort_scale.py`, run on {machine()}; duckdb {duckdb.__version__}, "
        f"ibis {ibis.__version__}, {_versions()}. Measured: {_when(results)}.",
        "",
        "**The phenotype** (OHDSI Circe JSON, in the script): diabetes mellitus (201820) *with "
        "descendants* (the generator records its descendant type 2 diabetes, 201826), the "
        "person's first such record, aged 55-65 at it, in an observation period; inclusion "
        "rule: metformin (1503297, with descendants) started 0-365 days after it. The platform "
        "model cannot say *within a year of the index* (its windows are calendar dates), so its "
        "form asks for metformin at any time (here the same persons: the generator starts "
        "metformin at the diagnosis visit); it is counted as the model and through its Circe "
        "translation (`to_circe`).",
        "",
        "**The data**: `fivesafes.data.synth.generate(persons, seed "
        f"{SEED}, background_conditions={args.background:g})`, the generator's records plus, "
        "per person, Poisson(9) records of common conditions outside every planted model "
        "(sinusitis and its descendants, pharyngitis, bronchitis, ...; "
        "docs/synthetic-data.md), so that `condition_occurrence` has about 10 rows per person. "
        "DuckDB reads the generated file as a node does (read-only, every table). PostgreSQL "
        "(a fresh database loaded by `copy_omop_to_postgres`, analysed, no indexes) and Spark "
        "(Parquet written by `write_parquet`, `local[2]`) get only the tables the phenotypes "
        f"read: {', '.join(PHENOTYPE_TABLES)}.",
        "",
        "| engine | persons | condition rows | drug rows |",
        "| --- | ---: | ---: | ---: |",
    ]
    for engine, persons in dict.fromkeys((s.engine, s.persons) for s, _ in results):
        rows = next(s.rows for s, _ in results if (s.engine, s.persons) == (engine, persons))
        lines.append(
            f"| {ENGINE_NAMES[engine]} | {persons:,} | {rows['condition_occurrence']:,} | "
            f"{rows['drug_exposure']:,} |"
        )
    if notes.get("generated"):
        lines += ["", notes["generated"]]
    lines += [
        "",
        "**Timed**: each form in its own process: one run to warm up (*first*), then "
        f"{_runs(results)} runs, of which the median. Our forms are timed as a node calls "
        "`count_persons` (concept check; circepy's Ibis executor, compile-only, through the "
        "view layer; SQL compilation; execution). circepy's SQL is `build_cohort_query`, then "
        "`circe.sqlrender`'s `render`, `translate` to the engine's dialect and `split_sql`, "
        "executed statement by statement (codeset and staging temp tables, the cohort "
        "written into a scratch `results.cohort`, the temp tables dropped), then the cohort's "
        "subjects counted: on DuckDB in a separate in-memory connection that ATTACHes the CDM "
        "file read-only; on PostgreSQL in the same database (temp tables, a scratch schema); "
        "on Spark in a session whose catalog holds the same Parquet files as tables. "
        "**Ratio**: our median / circepy SQL's median, same engine and data (below 1: ours is "
        "faster). **Peak**: the measuring process's own peak RSS (`VmHWM`, fresh at its start), "
        "which holds "
        "DuckDB's engine; for Spark also the JVM's, for PostgreSQL the server backend's "
        "(`VmHWM`, including the shared buffers it touched; parallel workers not counted). "
        f"A count that takes over {args.timeout} s is cancelled (PostgreSQL "
        "`statement_timeout`).",
        "",
        "| engine | persons | form | persons in cohort | first | median | min / max | ratio "
        "| peak RSS |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for setup, result in results:
        reference = by_key.get((setup.engine, setup.persons, REFERENCE.get(result.form, "")))
        factor = ratio(result, reference)
        peak = _mib(result.peak_mib)
        if result.engine_peak_mib is not None:
            peak += f" + {result.engine_peak_what} {_mib(result.engine_peak_mib)}"
        name = FORMS[result.form] + (" †" if result.rendered_error else "")
        median = f"**{_s(result.median)}**" if result.median is not None else "—"
        if result.unfinished:
            median = result.unfinished
        spread = f"{min(result.warm):.2f} / {max(result.warm):.2f}" if result.warm else ""
        lines.append(
            f"| {ENGINE_NAMES[setup.engine]} | {setup.persons:,} | {name} | "
            f"{'—' if result.count is None else f'{result.count:,}'} | {_s(result.cold)} | "
            f"{median} | {spread} | {'' if factor is None else f'{factor:.2f}'} | {peak} |"
        )
    failed = next((r for _, r in results if r.rendered_error), None)
    if failed is not None:
        lines += [
            "",
            "† circepy's Spark SQL as rendered does not run on Spark here: "
            f"`{failed.rendered_error}`. Its Spark dialect writes Delta tables (it targets "
            "Databricks); plain Spark has no Delta (and its jars cannot be fetched here). As "
            "rendered it is **not measured**; the rows marked † are for circepy's SQL with "
            f"one change: {failed.adapted}.",
        ]
    loads: dict[str, list[float]] = {}
    for setup, _ in results:
        loads.setdefault(ENGINE_NAMES[setup.engine], []).extend(setup.loads)
    if any(loads.values()):
        ranges = "; ".join(
            f"{engine} {min(v):.1f} to {max(v):.1f}" for engine, v in loads.items() if v
        )
        lines += [
            "",
            "The machine is shared (other engineers' test suites were running): its 1-minute "
            f"load average around the measurements was {ranges}. With 2 CPUs, a load above 2 "
            "means other work competed for them, so these figures are slower than on an idle "
            "machine.",
        ]
    lines += ["", "Settings: " + "; ".join(_settings(results, notes)) + "."]
    lines += ["", "Checks: " + "; ".join(check(results)) + "."]
    lines += ["", *_verdict(results, by_key), "", *_ratios(results, by_key)]
    return "\n".join(lines)


def _runs(results: Measured) -> str:
    found: dict[int, list[str]] = {}
    for setup, result in results:
        name = ENGINE_NAMES[setup.engine]
        if result.job["runs"] and name not in found.setdefault(result.job["runs"], []):
            found[result.job["runs"]].append(name)
    if len(found) == 1:
        return str(next(iter(found)))
    return ", ".join(f"{n} ({' and '.join(names)})" for n, names in sorted(found.items()))


def _when(results: Measured) -> str:
    found: dict[str, list[str]] = {}
    for setup, _ in results:
        name = f"{ENGINE_NAMES[setup.engine]} {setup.persons:,}"
        found.setdefault(setup.measured, [])
        if name not in found[setup.measured]:
            found[setup.measured].append(name)
    return "; ".join(f"{', '.join(names)} from {when}" for when, names in sorted(found.items()))


def _settings(results: Measured, notes: dict[str, str]) -> list[str]:
    found: dict[str, str] = {}
    for setup, result in results:
        if result.form == "circe" and result.settings:
            text = ", ".join(f"{k} {v}" for k, v in result.settings.items())
            found.setdefault(ENGINE_NAMES[setup.engine], text)
    if "postgres" in notes:
        found["PostgreSQL"] = notes["postgres"] + " (the server's defaults)"
    return [f"{engine}: {text}" for engine, text in found.items()]


def _verdict(results: Measured, by_key: dict[tuple[str, int, str], Result]) -> list[str]:
    sizes = [s.persons for s, _ in results if s.engine == "duckdb"]
    if not sizes:
        return []
    persons = max(sizes)
    ours = by_key[("duckdb", persons, "circe")]
    before = by_key.get(("duckdb", persons, "circe-inline"))
    reached = ours.median is not None and ours.median < GOAL_SECONDS
    text = (
        f"**Goal** (issue 5): the typical phenotype counted on DuckDB at {persons:,} persons "
        f"in under {GOAL_SECONDS:.0f} s, memory bounded. As a node runs it today: median "
        f"{_s(ours.median)}: the goal is **{'met' if reached else 'missed'}**."
    )
    if before is not None:
        text += (
            " Compiled as a node did before this benchmark (stages inlined, below): "
            f"{_s(before.median) if before.median is not None else before.unfinished}."
        )
    peaks = [r.peak_mib for s, r in results if s.engine == "duckdb" and s.persons == persons]
    text += (
        f" Peak memory of a DuckDB count at {persons:,} persons: at most "
        f"{_mib(max(p for p in peaks if p is not None))} RSS (memory_limit as in Settings)."
    )
    lines = [text]
    if ours.profile:
        p = ours.profile
        lines += [
            "",
            f"Where a node's count goes on DuckDB at {persons:,} persons (median of 3 more runs): "
            f"concept check {_s(p['concept check'])}, building the Ibis expression "
            f"{_s(p['build expression'])}, compiling it to SQL {_s(p['compile SQL'])} "
            f"({p['SQL characters'] / 1000:,.0f} kB of SQL, reading `condition_occurrence` "
            f"{p['condition_occurrence read']:.0f} times), executing it {_s(p['execute SQL'])}.",
        ]
    return lines


def _ratios(results: Measured, by_key: dict[tuple[str, int, str], Result]) -> list[str]:
    parts = []
    for engine, persons in dict.fromkeys((s.engine, s.persons) for s, _ in results):
        ours = by_key.get((engine, persons, "circe"))
        sql = by_key.get((engine, persons, "sql-circe"))
        if ours is None or sql is None:
            continue
        factor = ratio(ours, sql)
        where = f"{ENGINE_NAMES[engine]} {persons:,}"
        if factor is not None:
            parts.append(f"{where}: {factor:.2f}")
        else:
            parts.append(f"{where}: not measured ({ours.unfinished or sql.unfinished})")
    return [
        "**Ratio**, a node's count of the typical phenotype / circepy's SQL: "
        + "; ".join(parts)
        + ".",
        "",
        *EXPLANATION,
    ]


EXPLANATION = [
    "**What this benchmark changed.** A node compiles circepy's Ibis plan "
    "*compile-only* (nothing is written next to patient data), so a stage that circepy's SQL "
    "materialises once in a temp table (`#qualified_events`) is, for the node, an expression. "
    "Kept unnamed, Ibis inlined it wherever a later stage read it, and the node's SQL read and "
    "windowed `condition_occurrence` four times (*stages inlined* above). A node now keeps "
    "each of circepy's staging tables as a *named* expression (`Table.alias`, with circepy's "
    "`materialize=True` so that every stage passes through `create_table`), which compiles "
    "to one common table expression per stage: one read of each table, SQL a quarter the "
    "size, still nothing written (`fivesafes.cohorts.circe`). On PostgreSQL the planner "
    "estimates one row out of each window-and-filter step, where there are tens of "
    "thousands, and chose nested loops over them (*nested loops on* above): a node's "
    "sessions now run with `enable_nestloop = off` (a session setting, allowed in a "
    "read-only transaction; `[data] nested_loops = true` restores the server's). It changes "
    "every plan of the node's session, not only cohorts; a node's queries are analytic scans "
    "and joins of whole CDM tables, for which hash joins are the better plan anyway.",
]


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for package in ("ohdsi-circepy", "pyspark", "psycopg"):
        with contextlib.suppress(PackageNotFoundError):
            found.append(f"{package} {version(package)}")
    return ", ".join(found)


def run(args: argparse.Namespace) -> tuple[str, Measured]:
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    generated = []
    big, seconds = synthetic_cdm(args.workdir, args.persons, args.background)
    if seconds is not None:
        generated.append(f"{args.persons:,} persons {seconds:.0f} s")
    small, seconds = synthetic_cdm(args.workdir, args.engine_persons, args.background)
    if seconds is not None and args.engine_persons != args.persons:
        generated.append(f"{args.engine_persons:,} persons {seconds:.0f} s")
    notes = {"generated": f"Generating took {', '.join(generated)}." if generated else ""}
    setups = []
    if "duckdb" in engines:
        setups.append(Setup("duckdb", args.persons, str(big), table_rows(big)))
        if args.engine_persons != args.persons:
            setups.append(Setup("duckdb", args.engine_persons, str(small), table_rows(small)))
    slim = phenotype_tables_copy(small) if {"postgres", "spark"} & set(engines) else None
    with contextlib.ExitStack() as stack:
        if slim is not None and "postgres" in engines:
            print(f"copying {args.engine_persons:,} persons into PostgreSQL ...", flush=True)
            url = stack.enter_context(postgres_copy(slim, args.pg_admin_url))
            setups.append(Setup("postgres", args.engine_persons, url, table_rows(slim)))
            notes["postgres"] = postgres_settings(url)
        if slim is not None and "spark" in engines:
            folder = parquet_copy(slim)
            setups.append(Setup("spark", args.engine_persons, str(folder), table_rows(slim)))
        results = measure_all(setups, args)
    saved = args.workdir / f"results-{args.persons}-{args.engine_persons}.json"
    if args.keep_other_engines and saved.is_file():
        before = json.loads(saved.read_text())
        kept = [
            (Setup(**s), Result(**r)) for s, r in before["results"] if s["engine"] not in engines
        ]
        results = sorted(kept + results, key=lambda x: ENGINE_ORDER.index(x[0].engine))
        notes = {**before["notes"], **{k: v for k, v in notes.items() if v}}
    stored = [(s.__dict__, r.__dict__) for s, r in results]
    saved.write_text(json.dumps({"results": stored, "notes": notes}))
    return report(results, args, notes), results


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=10_000_000, help="DuckDB's CDM")
    parser.add_argument(
        "--engine-persons", type=int, default=1_000_000, help="the CDM of every engine"
    )
    parser.add_argument("--background", type=float, default=BACKGROUND)
    parser.add_argument("--engines", default="duckdb,postgres,spark")
    parser.add_argument("--runs", type=int, default=5, help="timed runs after the warm-up")
    parser.add_argument("--timeout", type=int, default=600, help="seconds one count may take")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/fivesafes-bench/scale"))
    parser.add_argument("--duckdb-memory-limit", default="4GB")
    parser.add_argument("--spark-driver-memory", default="4g")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--keep-other-engines",
        action="store_true",
        help="report the last run's figures for the engines not in --engines",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.child:
        result = child(Job(**json.loads(args.child)))
        print("RESULT " + json.dumps(result.__dict__), flush=True)
        return
    section, _ = run(args)
    print(section)
    if not args.no_write:
        update_section(SECTION, section)
        print(f"\nwritten to {DOCS}")


if __name__ == "__main__":
    main()
