"""Data-source configuration: parsing without I/O, and a node's read-only handle on DuckDB."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from pydantic import ValidationError

from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource, PostgresSource, libpq_url, parse_data_source
from fixtures_omop import OmopRows, write_duckdb


def test_sources_parse_by_engine_without_io(tmp_path: Path) -> None:
    duck = parse_data_source({"engine": "duckdb", "path": str(tmp_path / "absent.duckdb")})
    assert isinstance(duck, DuckDBSource)
    pg = parse_data_source(
        {"engine": "postgres", "url": "postgresql://nobody:secret@nowhere/cdm", "schema": "cdm"}
    )
    assert isinstance(pg, PostgresSource)
    assert pg.schema_name == "cdm"
    assert "secret" not in repr(pg)


@pytest.mark.parametrize(
    "raw",
    [
        {"engine": "sqlite", "path": "x"},
        {"engine": "duckdb"},
        {"engine": "duckdb", "path": "x", "url": "postgresql://h/d"},
        {"engine": "postgres", "url": "postgresql://h/d"},
        {"engine": "postgres", "url": "mysql://h/d", "schema": "cdm"},
        {"engine": "postgres", "url": "postgresql://h/d", "schema": "cdm; DROP TABLE person"},
        {"engine": "postgres", "url": "postgresql://h/d", "schema": '"quoted"'},
    ],
)
def test_bad_sources_are_refused(raw: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        parse_data_source(raw)


def test_sqlalchemy_driver_suffixes_are_dropped_for_libpq() -> None:
    assert libpq_url("postgresql+psycopg://u@h:5432/d") == "postgresql://u@h:5432/d"
    assert libpq_url("postgres://u@h/d") == "postgres://u@h/d"


def test_a_missing_duckdb_file_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "absent.duckdb"
    with pytest.raises(FileNotFoundError):
        open_omop(DuckDBSource(engine="duckdb", path=path))
    assert not path.exists()


def test_duckdb_is_opened_read_only(tmp_path: Path) -> None:
    path = write_duckdb(OmopRows(person=[(1, 8507, 1960)]).tables(), tmp_path / "omop.duckdb")
    with open_omop(DuckDBSource(engine="duckdb", path=path)) as db:
        assert db.table("person").count().execute() == 1
        with pytest.raises(duckdb.InvalidInputException, match="read-only"):
            db.backend.raw_sql("DELETE FROM person")


def test_only_cdm_tables_are_opened(tmp_path: Path) -> None:
    path = write_duckdb(OmopRows().tables(), tmp_path / "omop.duckdb")
    with (
        open_omop(DuckDBSource(engine="duckdb", path=path)) as db,
        pytest.raises(ValueError, match="not an OMOP CDM"),
    ):
        db.table("pg_shadow")
