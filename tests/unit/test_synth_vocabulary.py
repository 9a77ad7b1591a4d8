"""The OMOP table definitions and the concepts the synthetic generator writes (unit)."""

import duckdb
import pytest

from fivesafes.data.omop import OMOP_TABLES, create_table_ddl, omop_ddl
from fivesafes.data.synth import concepts as c

COHORT_COLUMNS = {
    "person": {"person_id", "year_of_birth", "gender_concept_id"},
    "observation_period": {"observation_period_start_date", "observation_period_end_date"},
    "condition_occurrence": {"condition_concept_id", "condition_start_date"},
    "drug_exposure": {"drug_concept_id", "drug_exposure_start_date"},
    "procedure_occurrence": {"procedure_concept_id", "procedure_date"},
    "measurement": {
        "measurement_concept_id",
        "measurement_date",
        "value_as_number",
        "unit_concept_id",
    },
    "observation": {"observation_concept_id", "observation_date", "value_as_concept_id"},
    "concept_ancestor": {"ancestor_concept_id", "descendant_concept_id"},
}


def test_ddl_creates_every_table_in_duckdb():
    con = duckdb.connect()
    con.execute(omop_ddl())
    tables = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert tables == set(OMOP_TABLES)


@pytest.mark.parametrize(("table", "columns"), COHORT_COLUMNS.items())
def test_tables_have_the_standard_cdm_columns_the_cohort_compiler_reads(table, columns):
    assert columns <= {col.name for col in OMOP_TABLES[table]}


def test_required_columns_are_not_null():
    ddl = create_table_ddl("person")
    assert "person_id INTEGER NOT NULL" in ddl
    assert "month_of_birth INTEGER,\n" in ddl


def test_unknown_table_is_a_clear_error():
    with pytest.raises(KeyError, match="not an OMOP table"):
        create_table_ddl("persons")


def test_concept_ids_are_unique():
    ids = [x.concept_id for x in c.CONCEPTS]
    assert len(ids) == len(set(ids))


def test_every_concept_has_a_self_row_at_level_zero():
    rows = set(c.ancestor_rows())
    for concept in c.CONCEPTS:
        assert (concept.concept_id, concept.concept_id, 0, 0) in rows


@pytest.mark.parametrize(
    ("ancestor", "descendant", "levels"),
    [
        (c.DIABETES_MELLITUS, c.TYPE_2_DIABETES, 1),
        (c.HYPERTENSIVE_DISORDER, c.ESSENTIAL_HYPERTENSION, 1),
        (c.LUNG_CANCER, c.NSCLC, 1),
        (c.LUNG_CANCER, c.SCLC, 1),
        (c.MALIGNANT_NEOPLASTIC_DISEASE, c.LUNG_CANCER, 1),
        (c.MALIGNANT_NEOPLASTIC_DISEASE, c.NSCLC, 2),  # transitive, as OMOP's table is
    ],
)
def test_hierarchy(ancestor, descendant, levels):
    assert (ancestor, descendant, levels, levels) in set(c.ancestor_rows())


def test_no_concept_is_its_own_proper_ancestor():
    assert all(a != d or lo == 0 for a, d, lo, _ in c.ancestor_rows())
