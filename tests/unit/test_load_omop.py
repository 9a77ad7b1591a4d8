"""Loading an OMOP CDM (``fivesafes.data.load``), on DuckDB: the specification, the checks
and what is reported, CDM 5.3 sources, the sources' quirks, and all-or-nothing replacement.

Each rejection test is a tiny CSV and the reasons it must give; the report never holds a
value from the data, only reasons and row numbers.
"""

from __future__ import annotations

import gzip
import json
import re
import zipfile
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from fivesafes.data.cdm_spec import CDM54_TABLES, PERSON_KEYED, duckdb_table_ddl
from fivesafes.data.cdm_v53 import CDM_V54_CONCEPT_ID, detect_version
from fivesafes.data.engines import open_omop
from fivesafes.data.load import LoadError, load_omop
from fivesafes.data.names import CDM_TABLES
from fivesafes.data.omop import OMOP_TABLES
from fivesafes.data.source import DuckDBSource

PERSON = "person_id,gender_concept_id,year_of_birth,race_concept_id,ethnicity_concept_id"
PERIOD = (
    "observation_period_id,person_id,observation_period_start_date,"
    "observation_period_end_date,period_type_concept_id"
)


def write(folder: Path, name: str, header: str, *rows: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def persons(folder: Path, n: int = 3, name: str = "person.csv") -> None:
    write(folder, name, PERSON, *(f"{i},8507,{1950 + i},0,0" for i in range(1, n + 1)))


def target(tmp_path: Path, name: str = "cdm.duckdb") -> DuckDBSource:
    return DuckDBSource(engine="duckdb", path=tmp_path / name)


def query(db: DuckDBSource, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(db.path), read_only=True) as con:
        return con.execute(sql).fetchall()


def reasons(report, table: str) -> dict[str, tuple[int, tuple[int, ...]]]:
    return {r.reason: (r.rows, r.examples) for r in report.table(table).rejections}


# --- the specification ------------------------------------------------------------------------


def test_the_spec_has_every_cdm_54_table_and_keeps_the_tables_fivesafes_reads():
    assert set(CDM54_TABLES) == CDM_TABLES
    for table, columns in OMOP_TABLES.items():
        assert CDM54_TABLES[table] == tuple(columns)
    assert {"observation_period", "measurement", "death", "episode"} <= PERSON_KEYED
    assert "person" not in PERSON_KEYED and "concept" not in PERSON_KEYED


def test_every_table_can_be_created_in_duckdb():
    con = duckdb.connect()
    for table in CDM54_TABLES:
        con.execute(duckdb_table_ddl(table, f'"{table}"'))
    columns = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'note_nlp'"
    ).fetchall()
    assert ("offset",) in columns  # a reserved word, quoted


@pytest.mark.parametrize(
    ("declared", "columns", "version"),
    [
        ("v5.3.1", {}, "5.3"),
        ("CDM v5.4.0", {"visit_occurrence": {"admitting_source_concept_id"}}, "5.4"),
        (None, {"visit_occurrence": {"admitting_source_concept_id"}}, "5.3"),
        (None, {"visit_detail": {"visit_detail_parent_id"}}, "5.3"),
        (None, {"cdm_source": {"cdm_version"}}, "5.3"),
        ("unknown", {"visit_occurrence": {"admitted_from_concept_id"}}, "5.4"),
        (None, {}, "5.4"),
    ],
)
def test_the_cdm_version_comes_from_cdm_source_else_from_column_names(declared, columns, version):
    assert detect_version(declared, columns).version == version


def test_a_cdm_version_other_than_53_or_54_is_refused():
    with pytest.raises(ValueError, match=r"only OMOP CDM 5\.3 and 5\.4"):
        detect_version("6.0", {})


# --- CSV folders --------------------------------------------------------------------------------


def test_a_csv_folder_loads_with_any_case_and_junk_skipped(tmp_path):
    src = tmp_path / "export"
    persons(src, 3, "PERSON.csv")
    write(src, "Observation_Period.CSV", PERIOD, "1,1,2010-01-01,2020-12-31,44814724")
    write(src, "__MACOSX/._PERSON.csv", "garbage")
    write(src, ".hidden.csv", "garbage")
    write(src, "COHORT.csv", "cohort_definition_id,subject_id")
    write(src, "readme.txt", "not a table")
    db = target(tmp_path)
    report = load_omop(src, db)
    assert report.applied and report.rejected == 0
    assert report.table("person").source == "PERSON.csv"
    assert report.table("observation_period").loaded == 1
    assert report.skipped == ["COHORT.csv"]
    assert query(db, "SELECT count(*) FROM person") == [(3,)]
    tables = {r[0] for r in query(db, "SELECT table_name FROM duckdb_tables()")}
    assert tables == set(CDM54_TABLES)  # the tables the source lacks are created empty
    assert query(db, "SELECT typeof(year_of_birth) FROM person LIMIT 1") == [("INTEGER",)]


def test_gzip_a_byte_order_mark_windows_line_ends_and_a_zero_byte_file(tmp_path):
    src = tmp_path / "export"
    src.mkdir()
    rows = "\r\n".join([PERSON.upper(), "1,8507,1950,0,0", "2,8532,1960,0,0"]) + "\r\n"
    with gzip.open(src / "PERSON.csv.gz", "wt", encoding="utf-8-sig", newline="") as f:
        f.write(rows)
    (src / "DEATH.csv").write_bytes(b"")
    report = load_omop(src, target(tmp_path))
    assert report.rejected == 0 and report.table("person").loaded == 2
    assert "the file is empty" in report.table("death").notes


def test_a_zip_with_a_folder_inside_and_macos_junk(tmp_path):
    src = tmp_path / "csv"
    persons(src, 2, "PERSON.csv")
    archive = tmp_path / "cdm.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(src / "PERSON.csv", "cdm/PERSON.csv")
        z.writestr("__MACOSX/cdm/._PERSON.csv", b"\x00\x05\x16\x07")
    report = load_omop(archive, target(tmp_path))
    assert report.table("person").loaded == 2
    assert report.table("person").source == "cdm/PERSON.csv"


def test_tab_separated_files_with_athena_dates_load(tmp_path):
    src = tmp_path / "vocab"
    persons(src)
    header = "concept_id\tconcept_name\tdomain_id\tvocabulary_id\tconcept_class_id\t"
    header += "standard_concept\tconcept_code\tvalid_start_date\tvalid_end_date\tinvalid_reason"
    write(
        src,
        "CONCEPT.csv",
        header,
        "192671\tGI hemorrhage\tCondition\tSNOMED\tFinding\tS\t74474003\t19700101\t20991231\t",
    )
    db = target(tmp_path)
    assert load_omop(src, db).table("concept").loaded == 1
    assert query(db, "SELECT valid_start_date, invalid_reason FROM concept") == [
        (date(1970, 1, 1), None)
    ]


# --- checks and what is reported ------------------------------------------------------------------


def test_rows_are_rejected_with_reasons_and_row_numbers_never_values(tmp_path):
    src = tmp_path / "export"
    write(
        src,
        "person.csv",
        PERSON,
        "1,8507,1950,0,0",  # row 1: fine
        ",8507,1951,0,0",  # row 2: no person_id
        "3,8532,nineteen-fifty,0,0",  # row 3: not an integer
        "4,8532,1950.5,0,0",  # row 4: not an integer either
        "1,8532,1960,0,0",  # row 5: person 1 again
        "6,8532,1960,99999999999,0",  # row 6: too large for INTEGER
        "7,8532,1960.0,0,0",  # row 7: fine (a whole number)
    )
    write(
        src,
        "observation_period.csv",
        PERIOD,
        "1,1,2010-01-01,2020-12-31,44814724",
        "2,42,2010-01-01,2020-12-31,44814724",  # row 2: nobody
        "3,7,31/12/2010,2020-12-31 00:00:00,44814724",  # row 3: not a date
        "4,7,20100101,2020-12-31 00:00:00,44814724",  # row 4: fine
    )
    report = load_omop(src, target(tmp_path))
    assert reasons(report, "person") == {
        "person_id is required": (1, (2,)),
        "year_of_birth is not an integer": (2, (3, 4)),
        "person_id repeats an earlier row": (1, (5,)),
        "race_concept_id is outside the 32-bit integer range": (1, (6,)),
    }
    assert (report.table("person").read, report.table("person").loaded) == (7, 2)
    assert reasons(report, "observation_period") == {
        "person_id is not in person": (1, (2,)),
        "observation_period_start_date is not a date": (1, (3,)),
    }
    document = json.dumps(report.to_dict())
    for value in ("nineteen-fifty", "1950.5", "99999999999", "31/12/2010", "42"):
        # as a value of its own, not a digit run inside another figure (a duration's 0.0899429...)
        assert not re.search(rf"(?<![\w.]){re.escape(value)}(?![\w.])", document), value


def test_measurement_values_are_numbers_and_empty_text_is_missing(tmp_path):
    src = tmp_path / "export"
    persons(src, 1)
    header = (
        "measurement_id,person_id,measurement_concept_id,measurement_date,"
        "measurement_type_concept_id,value_as_number,unit_source_value"
    )
    write(
        src,
        "measurement.csv",
        header,
        '1,1,3038553,2020-01-01,32817,31.5,""',
        "2,1,3038553,2020-01-01,32817,,kg/m2",
        "3,1,3038553,2020-01-01,32817,n/a,kg/m2",
        "4,1,3038553,2020-01-01,32817,inf,kg/m2",
        "5,1,3038553, ,32817,1,kg/m2",
    )
    db = target(tmp_path)
    report = load_omop(src, db)
    assert reasons(report, "measurement") == {
        "value_as_number is not a number": (2, (3, 4)),
        "measurement_date is required": (1, (5,)),
    }
    assert query(db, "SELECT value_as_number, unit_source_value FROM measurement ORDER BY 1") == [
        (31.5, None),
        (None, "kg/m2"),
    ]


# --- CDM 5.3 --------------------------------------------------------------------------------------


def test_a_cdm_53_source_is_read_as_54(tmp_path):
    src = tmp_path / "cdm53"
    persons(src, 1)
    write(
        src,
        "visit_occurrence.csv",
        "visit_occurrence_id,person_id,visit_concept_id,visit_start_date,visit_end_date,"
        "visit_type_concept_id,admitting_source_concept_id,discharge_to_concept_id",
        "1,1,9201,2020-01-01,2020-01-03,44818517,8717,8536",
    )
    write(
        src,
        "cdm_source.csv",
        "cdm_source_name,cdm_source_abbreviation,cdm_holder,source_release_date,"
        "cdm_release_date,cdm_version,vocabulary_version",
        "Test,T,Us,2020-01-01,2020-01-01,v5.3.1,v5.0",
    )
    write(
        src,
        "metadata.csv",
        "metadata_concept_id,metadata_type_concept_id,name",
        "0,0,first",
        "0,0,second",
    )
    db = target(tmp_path)
    report = load_omop(src, db)
    assert report.cdm.version == "5.3" and "v5.3.1" in report.cdm.evidence
    assert report.rejected == 0
    assert query(
        db, "SELECT admitted_from_concept_id, discharged_to_concept_id FROM visit_occurrence"
    ) == [(8717, 8536)]
    assert query(db, "SELECT cdm_version, cdm_version_concept_id FROM cdm_source") == [
        ("5.4", CDM_V54_CONCEPT_ID)
    ]
    assert query(db, "SELECT metadata_id, name FROM metadata ORDER BY 1") == [
        (1, "first"),
        (2, "second"),
    ]
    assert any(
        "admitting_source_concept_id as admitted_from_concept_id" in note
        for note in report.table("visit_occurrence").notes
    )


# --- a DuckDB source with Eunomia's quirks ---------------------------------------------------


def test_a_duckdb_source_with_upper_case_names_text_numbers_and_a_header_stored_as_a_row(tmp_path):
    path = tmp_path / "source.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE PERSON (PERSON_ID DOUBLE, GENDER_CONCEPT_ID BIGINT, YEAR_OF_BIRTH BIGINT,"
            " BIRTH_DATETIME DATE, RACE_CONCEPT_ID BIGINT, ETHNICITY_CONCEPT_ID VARCHAR)"
        )
        con.execute("INSERT INTO PERSON VALUES (1, 8507, 1950, '1950-03-01', 0, '0')")
        con.execute("CREATE TABLE death (column0 VARCHAR, column1 VARCHAR, column2 VARCHAR)")
        con.execute("INSERT INTO death VALUES ('PERSON_ID', 'DEATH_DATE', 'DEATH_DATETIME')")
        con.execute("CREATE TABLE results (x INTEGER)")
    before = path.read_bytes()
    db = target(tmp_path)
    report = load_omop(path, db)
    assert path.read_bytes() == before
    assert report.rejected == 0 and report.skipped == ["main.results"]
    assert report.table("death").read == 0
    assert any("held the column names" in note for note in report.table("death").notes)
    assert query(db, "SELECT person_id, birth_datetime FROM person") == [(1, datetime(1950, 3, 1))]


def test_unnamed_columns_without_a_header_row_are_an_error(tmp_path):
    path = tmp_path / "source.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE person (column0 VARCHAR)")
        con.execute("INSERT INTO person VALUES ('1')")
    with pytest.raises(LoadError, match="no column names"):
        load_omop(path, target(tmp_path))


# --- all or nothing --------------------------------------------------------------------------


@pytest.fixture
def loaded(tmp_path):
    """A target already holding a CDM of three persons."""
    good = tmp_path / "good"
    persons(good, 3)
    db = target(tmp_path)
    load_omop(good, db)
    return db


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (
            (PERSON, "1,8507,1950,0,0", "2,8507,1950,0,0,extra"),
            r"person\.csv is not a valid CSV file at line 3: expected 5 fields, found 6",
        ),
        (
            ("person_id,gender_concept_id,race_concept_id,ethnicity_concept_id", "1,8507,0,0"),
            "person.csv has no column year_of_birth",
        ),
        ((PERSON, '1,8507,"1950,0,0'), "a quoted value is not closed"),
    ],
)
def test_a_broken_table_fails_the_load_and_the_earlier_data_stays(
    tmp_path, loaded, broken, message
):
    bad = tmp_path / "bad"
    write(bad, "person.csv", *broken)
    write(bad, "observation_period.csv", PERIOD, "1,1,2010-01-01,2020-12-31,44814724")
    with pytest.raises(LoadError, match=message) as error:
        load_omop(bad, loaded)
    assert "1950" not in str(error.value)
    assert query(loaded, "SELECT count(*) FROM person") == [(3,)]
    assert query(loaded, "SELECT count(*) FROM observation_period") == [(0,)]


def test_a_failure_mid_way_through_writing_rolls_every_table_back(tmp_path, loaded, monkeypatch):
    from fivesafes.data import load_targets

    def ddl(table: str, name: str) -> str:
        if table == "drug_strength":  # the last table written
            raise duckdb.IOException("disk full")
        return duckdb_table_ddl(table, name)

    monkeypatch.setattr(load_targets, "duckdb_table_ddl", ddl)
    again = tmp_path / "again"
    persons(again, 5)
    with pytest.raises(LoadError, match=r"the load failed \(IOException\); nothing was changed"):
        load_omop(again, loaded)
    assert query(loaded, "SELECT count(*) FROM person") == [(3,)]


def test_rerunning_replaces_every_cdm_table_and_keeps_the_others(tmp_path, loaded):
    with duckdb.connect(str(loaded.path)) as con:  # e.g. the node's opt-out list
        con.execute("CREATE TABLE fivesafes_opt_out AS SELECT 2 AS person_id")
    again = tmp_path / "again"
    persons(again, 5)
    load_omop(again, loaded)
    assert query(loaded, "SELECT count(*) FROM person") == [(5,)]
    assert query(loaded, "SELECT person_id FROM fivesafes_opt_out") == [(2,)]


def test_strict_loads_nothing_when_a_row_would_be_rejected(tmp_path, loaded):
    bad = tmp_path / "bad"
    write(bad, "person.csv", PERSON, "1,8507,1950,0,0", "2,8507,,0,0")
    report = load_omop(bad, loaded, strict=True)
    assert not report.applied and report.rejected == 1
    assert query(loaded, "SELECT count(*) FROM person") == [(3,)]


def test_a_failed_load_removes_the_file_it_created(tmp_path):
    bad = tmp_path / "bad"
    write(bad, "person.csv", PERSON, "1,8507")
    db = target(tmp_path, "new.duckdb")
    with pytest.raises(LoadError):
        load_omop(bad, db)
    assert not db.path.exists()


def test_a_source_without_persons_and_the_same_file_as_target_are_refused(tmp_path, loaded):
    only = tmp_path / "only"
    write(only, "concept.csv", "concept_id")
    with pytest.raises(LoadError, match="has no person table"):
        load_omop(only, loaded)
    with pytest.raises(LoadError, match="same DuckDB file"):
        load_omop(loaded.path, loaded)
    with pytest.raises(LoadError, match="not a folder of CSV files"):
        load_omop(__file__, loaded)


def test_a_named_schema_in_the_target(tmp_path):
    src = tmp_path / "csv"
    persons(src, 2)
    db = DuckDBSource(engine="duckdb", path=tmp_path / "omop.duckdb", schema="cdm")
    load_omop(src, db)
    with open_omop(db) as omop:  # as a node opens it
        assert omop.table("person").count().execute() == 2
