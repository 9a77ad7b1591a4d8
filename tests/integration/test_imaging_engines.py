"""The imaging index on every engine a node's data may live on: one synthetic archive indexed
(a) the DuckDB way, into the node's data file: the reference; (b) for a PostgreSQL node and
(c) for a Spark node, the index in a file of its own and the study and series tables published
into the node's data; (d) by the Spark job (local mode). Each node's published tables, read as
analyses read them (``open_omop``, through the view layer), are the reference's, row for row;
no path, no instance or file table and no header reaches a node's data.

Runs (b) and (d) go through the operator's command, in this process (``CliRunner``: one Spark
session serves the whole file), audited as any index run."""

from __future__ import annotations

import functools
import json
import shutil
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from fivesafes.cli.main import app
from fivesafes.data.engines import open_omop
from fivesafes.data.names import CDM_TABLES
from fivesafes.data.pg_load import copy_omop_to_postgres
from fivesafes.data.source import DuckDBSource, PostgresSource, Source, SparkSource
from fivesafes.data.spark import write_parquet
from fivesafes.imaging.headers import HeaderStore
from fivesafes.imaging.index import IndexOptions, index_archive
from fivesafes.imaging.publish import PUBLISHED, cdm_rows, person_rows, publish, publish_index
from fivesafes.imaging.rules import load_rules
from fivesafes.imaging.spark_index import readers
from fivesafes.protocol.errors import Forbidden
from fixtures_omop import PG_URL, drop_schema, new_schema_name
from imaging_data import TODAY, SynthNode, pseudonymiser, synth_node

KEYS = {"imaging_series": "series_instance_uid", "imaging_study": "study_instance_uid"}
OMOP_KEYS = {"image_occurrence": "image_occurrence_id", "image_feature": "image_feature_id"}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> SynthNode:
    return synth_node(tmp_path_factory.mktemp("imaging-engines") / "node")


@pytest.fixture(scope="module")
def duckdb_node(node: SynthNode) -> Path:
    """(a) The DuckDB way: the index in the node's data file."""
    database = node.fresh_database("duckdb-node")
    report = node.index(database, node.root / "duckdb-headers.sqlite")
    assert report.finished and report.series > 0 and report.duplicates["same_header"] > 0
    return database


@pytest.fixture(scope="module")
def reference(duckdb_node: Path) -> dict[str, list[dict[str, Any]]]:
    """The DuckDB node's study and series tables, as analyses read them."""
    return published_rows(DuckDBSource(engine="duckdb", path=duckdb_node))


@pytest.fixture(scope="module")
def omop_reference(duckdb_node: Path) -> dict[str, list[dict[str, Any]]]:
    """The DuckDB node's OMOP imaging tables, linked to its procedures and visits."""
    found = published_rows(DuckDBSource(engine="duckdb", path=duckdb_node), OMOP_KEYS)
    linked = [r for r in found["image_occurrence"] if r["procedure_occurrence_id"] is not None]
    assert linked and any(r["visit_occurrence_id"] is not None for r in linked)
    return found


def published_rows(source: Source, keys: dict[str, str] = KEYS) -> dict[str, list[dict[str, Any]]]:
    """The published tables of ``source`` through the view layer, sorted, values made plain
    (DuckDB's sums are HUGEINT; doubles compared to 9 places)."""
    db = open_omop(source)
    try:
        found = {}
        for name, key in keys.items():
            rows = db.table(name).to_pyarrow().to_pylist()
            found[name] = sorted(
                ({column: _plain(value) for column, value in row.items()} for row in rows),
                key=lambda row: row[key],
            )
        return found
    finally:
        db.close()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, float):
        return round(value, 9)
    return value


def assert_no_paths(found: dict[str, list[dict[str, Any]]], node: SynthNode) -> None:
    """No value of a published table names a file (one synthetic site's folders carry its
    PatientIDs), and the columns are exactly the published ones."""
    for name, rows in found.items():
        assert rows and list(rows[0]) == [c for c, _ in PUBLISHED[name]]
        text = json.dumps(rows, default=str)
        assert str(node.archive) not in text and str(node.root) not in text


def node_config(folder: Path, node: SynthNode, data: str) -> Path:
    """A node made by ``fivesafes node init``, its ``[data]`` section then replaced by
    ``data``, with the pseudonym key the synthetic CDM was made with."""
    hub = "http://127.0.0.1:9"
    init = ["node", "init", "--dir", str(folder), "--name", "imaging-node", "--hub-url", hub]
    made = CliRunner().invoke(app, [*init, "--data", str(node.omop)])
    assert made.exit_code == 0, made.output
    shutil.copy(node.root / "pseudonym.key", folder / "pseudonym.key")
    config = folder / "node.toml"
    text = config.read_text()
    start = text.index("[data]")
    end = text.index("\n[", start) + 1
    config.write_text(text[:start] + data + "\n" + text[end:])
    return config


def index_command(config: Path, node: SynthNode, *extra: str) -> dict[str, Any]:
    command = ["node", "imaging", "index", str(node.archive), "-c", str(config)]
    result = CliRunner().invoke(app, [*command, "--by", "op-eve", "--json", *extra])
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def audited(config: Path) -> list[tuple[str, str, dict[str, Any]]]:
    with sqlite3.connect(config.parent / "node.db") as con:
        rows = con.execute(
            "SELECT actor, outcome, details FROM audit_events"
            " WHERE event_type = 'imaging_indexed' ORDER BY rowid"
        ).fetchall()
    return [(actor, outcome, json.loads(details)) for actor, outcome, details in rows]


def postgres_tables(schema: str) -> set[str]:
    with psycopg.connect(PG_URL) as con:
        rows = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema]
        ).fetchall()
    return {row[0] for row in rows}


@pytest.mark.postgres
def test_a_postgresql_node_gets_the_duckdb_tables_and_nothing_else(
    node, reference, omop_reference, tmp_path
):
    """(b) The command on a PostgreSQL node: the index in ``[imaging] index_file``, the study
    and series tables published into the node's schema, its grants kept on a re-run."""
    schema = new_schema_name()
    reader = f"r_{schema}"
    try:
        copy_omop_to_postgres(node.omop, PG_URL, schema)
        source = PostgresSource(engine="postgres", url=PG_URL, schema=schema)
        config = node_config(
            tmp_path / "pg-node",
            node,
            f'[data]\nengine = "postgres"\nurl = "{PG_URL}"\nschema = "{schema}"\n',
        )
        report = index_command(config, node)
        assert report["series"] == len(reference["imaging_series"])
        found = published_rows(source)
        assert found == reference
        assert_no_paths(found, node)
        assert postgres_tables(schema) - CDM_TABLES == set(KEYS) | set(OMOP_KEYS)
        omop = published_rows(source, OMOP_KEYS)  # linked to the node's procedures and visits
        assert omop == omop_reference
        assert_no_paths(omop, node)
        with duckdb.connect(str(config.parent / "imaging-index.duckdb"), read_only=True) as con:
            assert con.execute("SELECT count(*) FROM imaging_instance").fetchone() == (
                report["instances"],
            )

        # a re-run reads nothing, publishes again, and whoever could read the tables still can
        with psycopg.connect(PG_URL, autocommit=True) as con:
            con.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(reader)))
            con.execute(
                sql.SQL("GRANT SELECT ON {} TO {}").format(
                    sql.Identifier(schema, "imaging_series"), sql.Identifier(reader)
                )
            )
        again = index_command(config, node)
        assert again["read"] == 0 and again["series"] == report["series"]
        assert published_rows(source) == reference
        with psycopg.connect(PG_URL) as con:
            allowed = con.execute(
                "SELECT has_table_privilege(%s, %s, 'SELECT')", [reader, f"{schema}.imaging_series"]
            ).fetchone()
        assert allowed == (True,)
        assert [(actor, outcome) for actor, outcome, _ in audited(config)] == [
            ("op-eve", "ok"),
            ("op-eve", "ok"),
        ]
        details = audited(config)[0][2]
        assert details["engine"] == "local" and details["published_into"] == "postgres"
        assert details["paths"] == [str(node.archive)] and details["files_found"] > 0
    finally:
        drop_schema(schema)
        with psycopg.connect(PG_URL, autocommit=True) as con:
            con.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(reader)))


@pytest.mark.postgres
def test_a_user_that_may_only_read_is_told_in_words_and_nothing_changes(node, tmp_path):
    schema = new_schema_name()
    user = f"ro_{schema}"
    try:
        copy_omop_to_postgres(node.omop, PG_URL, schema)
        with psycopg.connect(PG_URL, autocommit=True) as con:
            con.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(user)))
            con.execute(
                sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                    sql.Identifier(schema), sql.Identifier(user)
                )
            )
            con.execute(
                sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(
                    sql.Identifier(schema), sql.Identifier(user)
                )
            )
        url = PG_URL.replace("postgres@", f"{user}@")
        source = PostgresSource(engine="postgres", url=url, schema=schema)
        index = tmp_path / "index.duckdb"
        report = index_archive(
            [node.archive],
            database=index,
            header_store=tmp_path / "headers.sqlite",
            rules=load_rules(),
            pseudonym_of=pseudonymiser(node.key),
            options=IndexOptions(today=TODAY),
            person_rows=functools.partial(person_rows, source),
        )
        assert report.links["linked"] > 0  # the user may read person
        with pytest.raises(Forbidden, match=f"replace the imaging tables in schema {schema}"):
            publish_index(index, None, source)
        assert postgres_tables(schema) - CDM_TABLES == set()
    finally:
        drop_schema(schema)
        with psycopg.connect(PG_URL, autocommit=True) as con:
            con.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(user)))


def test_a_spark_node_gets_the_duckdb_tables_and_nothing_else(
    node, reference, omop_reference, tmp_path
):
    """(c) The local indexer on a Spark node: the two tables written into its Parquet folder,
    beside the CDM, and nothing else."""
    folder = tmp_path / "parquet"
    write_parquet(node.omop, folder)
    before = {entry.name for entry in folder.iterdir()}
    source = SparkSource(engine="spark", path=folder, master="local[2]")
    index = tmp_path / "imaging-index.duckdb"
    index_archive(
        [node.archive],
        database=index,
        header_store=tmp_path / "headers.sqlite",
        rules=load_rules(),
        pseudonym_of=pseudonymiser(node.key),
        options=IndexOptions(today=TODAY),
        person_rows=functools.partial(person_rows, source),
        cdm_rows=functools.partial(cdm_rows, source),
    )
    assert publish_index(index, None, source) == {
        name: len(rows) for name, rows in {**reference, **omop_reference}.items()
    }
    after = {entry.name for entry in folder.iterdir()}
    assert after - before == {f"{name}.parquet" for name in (*KEYS, *OMOP_KEYS)}
    found = published_rows(source)
    assert found == reference
    assert_no_paths(found, node)
    assert published_rows(source, OMOP_KEYS) == omop_reference


def test_the_spark_job_writes_the_same_tables(node, reference, omop_reference, tmp_path):
    """(d) ``--spark``: the Spark job in local mode, on a Spark node: the published tables are
    the reference's; its own instance and file tables (Parquet, in ``[imaging]
    spark_folder``) and its header stores hold what the local index's do."""
    folder = tmp_path / "parquet"
    write_parquet(node.omop, folder)
    before = {entry.name for entry in folder.iterdir()}
    config = node_config(
        tmp_path / "spark-node",
        node,
        f'[data]\nengine = "spark"\npath = "{folder}"\nmaster = "local[2]"\n',
    )
    report = index_command(config, node, "--spark", "--master", "local[2]")
    assert report["finished"] and report["series"] == len(reference["imaging_series"])
    found = published_rows(SparkSource(engine="spark", path=folder))
    assert found == reference
    assert_no_paths(found, node)
    omop = published_rows(SparkSource(engine="spark", path=folder), OMOP_KEYS)
    assert omop == omop_reference  # linked to the procedures and visits of the node's Parquet
    after = {entry.name for entry in folder.iterdir()}
    assert after - before == {f"{name}.parquet" for name in (*KEYS, *OMOP_KEYS)}

    # the job's own tables are the local index's, row for row
    local = node.fresh_database("spark-reference")
    node.index(local, tmp_path / "local-headers.sqlite")
    run = config.parent / "imaging-spark" / "runs" / report["run_id"]
    assert (config.parent / "imaging-spark" / "current").read_text().strip() == report["run_id"]
    with duckdb.connect(str(local), read_only=True) as con:
        for name, columns in (
            ("imaging_instance", "*"),
            ("imaging_files", "path, size, mtime_ns, status, reason, detail, sop_instance_uid"),
        ):
            ours = con.execute(f"SELECT {columns} FROM {name} ORDER BY path").fetchall()
            theirs = con.execute(
                f"SELECT {columns} FROM read_parquet(?) ORDER BY path",
                [str(run / name / "*.parquet")],
            ).fetchall()
            assert theirs == ours, name
        kept = {row[0] for row in con.execute("SELECT path FROM imaging_instance").fetchall()}

    # every indexed image's header is in a restricted store of the job's, and no copy's
    stores = sorted((config.parent / "imaging-headers.spark" / report["run_id"]).iterdir())
    assert stores and all(
        s.stat().st_mode & 0o777 == 0o600 for s in stores if s.suffix == ".sqlite"
    )
    held: set[str] = set()
    for store in (s for s in stores if s.suffix == ".sqlite"):
        with HeaderStore(store) as headers:
            held |= {row[0] for row in headers.db.execute("SELECT path FROM imaging_header")}
    assert held == kept and report["headers_stored"] == len(kept)

    # the same run published into a DuckDB node's data file (as ``--spark`` on such a node)
    data_file = node.fresh_database("spark-into-duckdb")
    publish(DuckDBSource(engine="duckdb", path=data_file), readers(run))
    assert published_rows(DuckDBSource(engine="duckdb", path=data_file)) == reference

    (actor, outcome, details), *_ = audited(config)
    assert (actor, outcome, details["engine"], details["published_into"]) == (
        "op-eve",
        "ok",
        "spark",
        "spark",
    )
    assert details["files_found"] == report["found"] and details["paths"] == [str(node.archive)]
