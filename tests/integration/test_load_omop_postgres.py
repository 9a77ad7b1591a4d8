"""Loading an OMOP CDM from and into PostgreSQL (real server, a fresh database per test).

From: a synthetic CDM copied into a PostgreSQL schema is loaded into a DuckDB file and every
table's rows and a few sums must match the original. Into: a node whose ``[data]`` is a
PostgreSQL schema is loaded, reloaded (grants on the CDM tables and the node's other tables
kept), and a broken load leaves it as it was.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import duckdb
import psycopg
import pytest

from federation import fs, postgres_database
from fivesafes.data.cdm_spec import CDM54_TABLES
from fivesafes.data.engines import open_omop
from fivesafes.data.load import LoadError, load_omop
from fivesafes.data.omop import OMOP_TABLES
from fivesafes.data.pg_load import copy_omop_to_postgres
from fivesafes.data.source import DuckDBSource, PostgresSource
from fivesafes.data.synth import generate

pytestmark = pytest.mark.postgres

SUMS = (
    "SELECT count(DISTINCT person_id), sum(year_of_birth) FROM person",
    "SELECT sum(value_as_number), count(value_as_number), sum(unit_concept_id) FROM measurement",
    "SELECT min(condition_start_date), max(condition_start_date) FROM condition_occurrence",
)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("synth") / "synth.duckdb"
    generate(path, persons=400, seed=5, site="northfield")
    return path


def duck(path: Path, sql: str) -> tuple[object, ...]:
    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute(sql).fetchone()
    assert row is not None
    return tuple(row)


def pg(url: str, sql: str, params: list[object] | None = None) -> tuple[object, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return tuple(row)


def test_a_postgres_schema_loads_into_duckdb_with_every_row(tmp_path, synthetic):
    with postgres_database() as url:
        copied = copy_omop_to_postgres(synthetic, url, "cdm_source_schema")
        target = DuckDBSource(engine="duckdb", path=tmp_path / "from_pg.duckdb")
        report = load_omop(url, target, source_schema="cdm_source_schema")
    assert report.rejected == 0 and report.cdm.version == "5.4"
    for table in OMOP_TABLES:
        assert report.table(table).source == f"cdm_source_schema.{table}"
        count = duck(target.path, f"SELECT count(*) FROM {table}")
        assert count == (copied[table],) == duck(synthetic, f"SELECT count(*) FROM {table}")
    for sql in SUMS:
        assert duck(target.path, sql) == duck(synthetic, sql)


def test_a_postgres_node_is_loaded_reloaded_and_kept_whole_when_a_load_fails(tmp_path, synthetic):
    reader = f"fivesafes_t_reader_{uuid.uuid4().hex[:8]}"
    with postgres_database() as url:
        config = tmp_path / "node.toml"
        config.write_text(
            f'[node]\nname = "n1"\nhub_url = "http://127.0.0.1:9"\n\n'
            f'[data]\nengine = "postgres"\nurl = "{url}"\nschema = "cdm"\n'
        )
        first = fs("node", "load-omop", str(synthetic), "--config", str(config))
        assert "Loaded" in first.stdout and "PostgreSQL schema cdm" in first.stdout
        node = PostgresSource(engine="postgres", url=url, schema="cdm")
        with open_omop(node) as db:  # as the node reads it
            assert db.table("person").count().execute() == 400
        tables = pg(
            url, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'cdm'"
        )
        assert tables == (len(CDM54_TABLES),)
        for sql in SUMS:
            assert pg(url, sql.replace("FROM ", "FROM cdm.")) == duck(synthetic, sql)

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {reader}")
            conn.execute(f"GRANT USAGE ON SCHEMA cdm TO {reader}")
            conn.execute(f"GRANT SELECT ON cdm.person, cdm.measurement TO {reader}")
            conn.execute("CREATE TABLE cdm.fivesafes_opt_out AS SELECT 7 AS person_id")
        try:
            small = tmp_path / "small"
            small.mkdir()
            (small / "person.csv").write_text(
                "person_id,gender_concept_id,year_of_birth,race_concept_id,ethnicity_concept_id\n"
                "1,8507,1950,0,0\n2,8532,1960,0,0\n"
            )
            report = load_omop(small, node)
            assert report.table("person").loaded == 2
            assert pg(url, "SELECT count(*) FROM cdm.person") == (2,)
            assert pg(url, "SELECT count(*) FROM cdm.measurement") == (0,)
            assert pg(url, "SELECT person_id FROM cdm.fivesafes_opt_out") == (7,)
            privilege = "SELECT has_table_privilege(%s, %s, 'SELECT')"
            assert pg(url, privilege, [reader, "cdm.person"]) == (True,)
            assert pg(url, privilege, [reader, "cdm.measurement"]) == (True,)
            schemas = "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'fivesafes_load_%%'"
            assert pg(url, schemas) == (0,)

            (small / "person.csv").write_text("person_id,gender_concept_id,year_of_birth\n1,8507\n")
            with pytest.raises(LoadError, match=r"person\.csv"):
                load_omop(small, node)
            assert pg(url, "SELECT count(*) FROM cdm.person") == (2,)

            with psycopg.connect(url, autocommit=True) as conn:  # fails mid-way, in the swap
                conn.execute("CREATE VIEW cdm.women AS SELECT * FROM cdm.person")
            with pytest.raises(LoadError, match="other objects depend on it"):
                load_omop(synthetic, node)
            assert pg(url, "SELECT count(*) FROM cdm.person") == (2,)
            assert pg(url, schemas) == (0,)
        finally:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("DROP SCHEMA cdm CASCADE")
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {reader}")


def test_postgres_sources_that_cannot_be_read_are_one_line_errors(tmp_path):
    target = DuckDBSource(engine="duckdb", path=tmp_path / "never.duckdb")
    with postgres_database() as url:
        with pytest.raises(LoadError, match="the PostgreSQL schema nothing_here has no tables"):
            load_omop(url, target, source_schema="nothing_here")
        with pytest.raises(LoadError, match="plain SQL identifier"):
            load_omop(url, target, source_schema="cdm; DROP TABLE person")
    with pytest.raises(LoadError, match="could not connect to the source PostgreSQL") as error:
        load_omop("postgresql://nobody@127.0.0.1:1/none", target, source_schema="cdm")
    assert "\n" not in str(error.value)
    assert not target.path.exists()
