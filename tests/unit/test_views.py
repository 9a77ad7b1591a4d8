"""The view layer: upper-case CDMs, CDM 5.3 read as 5.4, and the opt-out list, on DuckDB."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pytest

from fivesafes.data.engines import open_omop
from fivesafes.data.opt_out import OptOutFileError, read_opt_out_file
from fivesafes.data.source import DuckDBSource


@pytest.fixture
def cdm53(tmp_path):
    """A tiny CDM 5.3 with upper-case names, as Eunomia stores it, and an opt-out list."""
    path = tmp_path / "cdm53.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            'CREATE TABLE PERSON ("PERSON_ID" INTEGER, "YEAR_OF_BIRTH" INTEGER, '
            '"GENDER_CONCEPT_ID" INTEGER)'
        )
        con.execute("INSERT INTO PERSON VALUES (1, 1950, 8507), (2, 1960, 8532), (3, 1970, 8532)")
        con.execute(
            "CREATE TABLE VISIT_OCCURRENCE (VISIT_OCCURRENCE_ID INTEGER, PERSON_ID INTEGER, "
            "VISIT_START_DATE DATE, ADMITTING_SOURCE_CONCEPT_ID INTEGER, "
            "DISCHARGE_TO_CONCEPT_ID INTEGER)"
        )
        con.execute(
            "INSERT INTO VISIT_OCCURRENCE VALUES (10, 1, DATE '2020-01-01', 8717, 8536), "
            "(11, 2, DATE '2020-02-01', 8717, 8536), (12, 3, DATE '2020-03-01', NULL, NULL)"
        )
        con.execute(
            "CREATE TABLE PROCEDURE_OCCURRENCE (PROCEDURE_OCCURRENCE_ID INTEGER, "
            "PERSON_ID INTEGER, PROCEDURE_DATE DATE)"
        )
        con.execute("INSERT INTO PROCEDURE_OCCURRENCE VALUES (5, 3, DATE '2019-05-05')")
        con.execute("CREATE TABLE CONCEPT (CONCEPT_ID INTEGER, CONCEPT_NAME VARCHAR)")
    return path


def test_upper_case_cdm_53_is_read_as_lower_case_cdm_54(cdm53):
    with open_omop(DuckDBSource(engine="duckdb", path=cdm53)) as db:
        visits = db.table("visit_occurrence")
        assert "admitted_from_concept_id" in visits.columns
        assert "discharged_to_concept_id" in visits.columns
        assert "admitting_source_concept_id" not in visits.columns
        rows = visits.order_by("visit_occurrence_id").to_pyarrow().to_pylist()
        assert [r["admitted_from_concept_id"] for r in rows] == [8717, 8717, None]
        procedures = db.table("procedure_occurrence").to_pyarrow().to_pylist()
        assert procedures == [
            {
                "procedure_occurrence_id": 5,
                "person_id": 3,
                "procedure_date": date(2019, 5, 5),
                "procedure_end_date": None,  # a CDM 5.4 column, absent from 5.3: NULL
                "procedure_end_datetime": None,
            }
        ]
        assert db.opted_out() is None


def test_opted_out_persons_are_in_no_table_and_vocabulary_is_untouched(cdm53):
    with duckdb.connect(str(cdm53)) as con:
        con.execute("CREATE TABLE fivesafes_opt_out (person_id BIGINT)")
        con.execute("INSERT INTO fivesafes_opt_out VALUES (2), (NULL)")  # a NULL excludes nobody
        con.execute("INSERT INTO CONCEPT VALUES (2, 'two')")
    with open_omop(DuckDBSource(engine="duckdb", path=cdm53)) as db:
        persons = sorted(db.table("person").person_id.to_pyarrow().to_pylist())
        visits = sorted(db.table("visit_occurrence").person_id.to_pyarrow().to_pylist())
        assert (persons, visits) == ([1, 3], [1, 3])
        assert db.table("concept").count().execute() == 1  # vocabulary has no person_id


def test_an_opt_out_file_is_read_and_a_bad_line_named_without_its_text(tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("person_id\n5\n3\n\n5\n")
    assert read_opt_out_file(good).person_ids.tolist() == [3, 5]
    bad = tmp_path / "bad.csv"
    bad.write_text("7\nAB12 secret\n")
    with pytest.raises(OptOutFileError, match=r"line 2 of bad\.csv") as caught:
        read_opt_out_file(bad)
    assert "secret" not in str(caught.value)
    negative = tmp_path / "neg.csv"
    negative.write_text("-4\n")
    with pytest.raises(OptOutFileError, match="negative"):
        read_opt_out_file(negative)
    assert len(read_opt_out_file(tmp_path / "good.csv")) == 2
    assert np.issubdtype(read_opt_out_file(good).person_ids.dtype, np.integer)
