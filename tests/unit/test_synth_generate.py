"""generate() writes a plausible, deterministic OMOP database true to its ground truth (unit)."""

import duckdb
import numpy as np
import pytest
from test_synth_effects import analysis_dataset

from fivesafes.data.omop import OMOP_TABLES
from fivesafes.data.synth import concepts as c
from fivesafes.data.synth import effects as fx
from fivesafes.data.synth import generate
from fivesafes.data.synth.generator import persons_in_chunk
from fivesafes.data.synth.population import CURRENT, FORMER

N = 3000
SEED = 42
SITE = "northfield"

# (table, date column) for every event that must lie inside its observation period
EVENT_DATES = [
    ("visit_occurrence", "visit_start_date"),
    ("visit_occurrence", "visit_end_date"),
    ("condition_occurrence", "condition_start_date"),
    ("drug_exposure", "drug_exposure_start_date"),
    ("drug_exposure", "drug_exposure_end_date"),
    ("procedure_occurrence", "procedure_date"),
    ("measurement", "measurement_date"),
    ("observation", "observation_date"),
    ("death", "death_date"),
]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("synth") / "site.duckdb"
    counts = generate(path, N, SEED, SITE)
    con = duckdb.connect(str(path), read_only=True)
    yield path, counts, con
    con.close()


def scalar(con, sql):
    return con.execute(sql).fetchone()[0]


def table_contents(path):
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").to_arrow_table() for t in OMOP_TABLES
        }


def test_returns_the_row_count_of_every_table(db):
    _, counts, con = db
    assert set(counts) == set(OMOP_TABLES)
    for table, rows in counts.items():
        assert scalar(con, f"SELECT count(*) FROM {table}") == rows


def test_row_counts_are_plausible(db):
    _, counts, _ = db
    assert counts["person"] == counts["observation_period"] == N
    assert 4 * N < counts["visit_occurrence"] < 25 * N
    assert 0.5 * N < counts["condition_occurrence"] < 5 * N
    assert N < counts["drug_exposure"] < 10 * N
    assert 3 * N < counts["measurement"] < 25 * N
    assert N <= counts["observation"] < 5 * N  # smoking status at least at baseline
    assert 0 < counts["death"] < 0.2 * N
    assert counts["concept"] == len(c.CONCEPTS)


def test_person_ids_run_from_one_to_n(db):
    _, _, con = db
    assert con.execute(
        "SELECT min(person_id), max(person_id), count(DISTINCT person_id) FROM person"
    ).fetchone() == (1, N, N)


@pytest.mark.parametrize(
    ("table", "id_column"),
    [
        ("visit_occurrence", "visit_occurrence_id"),
        ("condition_occurrence", "condition_occurrence_id"),
        ("drug_exposure", "drug_exposure_id"),
        ("measurement", "measurement_id"),
        ("observation", "observation_id"),
        ("procedure_occurrence", "procedure_occurrence_id"),
    ],
)
def test_event_ids_are_unique_and_dense(db, table, id_column):
    _, counts, con = db
    row = con.execute(
        f"SELECT min({id_column}), max({id_column}), count(DISTINCT {id_column}) FROM {table}"
    ).fetchone()
    assert row == (1, counts[table], counts[table])


def test_every_concept_id_used_is_in_the_concept_table(db):
    _, _, con = db
    known = {row[0] for row in con.execute("SELECT concept_id FROM concept").fetchall()}
    used = set()
    for table, columns in OMOP_TABLES.items():
        if table in ("concept", "concept_ancestor"):
            continue
        for col in columns:
            if col.name.endswith("concept_id"):
                used |= {
                    r[0]
                    for r in con.execute(
                        f"SELECT DISTINCT {col.name} FROM {table} WHERE {col.name} IS NOT NULL"
                    ).fetchall()
                }
    assert used
    assert used <= known, used - known


def test_concept_ancestor_has_self_rows_and_the_lung_cancer_hierarchy(db):
    _, _, con = db
    assert (
        scalar(
            con,
            "SELECT count(*) FROM concept c LEFT JOIN concept_ancestor a "
            "ON a.ancestor_concept_id = c.concept_id AND a.descendant_concept_id = "
            "c.concept_id AND a.min_levels_of_separation = 0 "
            "WHERE a.ancestor_concept_id IS NULL",
        )
        == 0
    )
    descendants = {
        r[0]
        for r in con.execute(
            f"SELECT descendant_concept_id FROM concept_ancestor "
            f"WHERE ancestor_concept_id = {c.LUNG_CANCER}"
        ).fetchall()
    }
    assert descendants == {c.LUNG_CANCER, c.NSCLC, c.SCLC}


def test_with_descendants_matters_for_lung_cancer(db):
    _, _, con = db
    only = scalar(
        con,
        f"SELECT count(DISTINCT person_id) FROM condition_occurrence "
        f"WHERE condition_concept_id = {c.LUNG_CANCER}",
    )
    with_descendants = scalar(
        con,
        f"""
        SELECT count(DISTINCT person_id) FROM condition_occurrence co
        JOIN concept_ancestor ca ON ca.descendant_concept_id = co.condition_concept_id
        WHERE ca.ancestor_concept_id = {c.LUNG_CANCER}""",
    )
    assert 0 < only < with_descendants


@pytest.mark.parametrize(("table", "column"), EVENT_DATES)
def test_events_lie_inside_the_observation_period(db, table, column):
    _, _, con = db
    assert (
        scalar(
            con,
            f"""
        SELECT count(*) FROM {table} t JOIN observation_period o USING (person_id)
        WHERE t.{column} < o.observation_period_start_date
           OR t.{column} > o.observation_period_end_date""",
        )
        == 0
    )


def test_every_type_concept_is_ehr(db):
    _, _, con = db
    for table, columns in OMOP_TABLES.items():
        for col in columns:
            if col.name.endswith("type_concept_id"):
                values = {
                    r[0] for r in con.execute(f"SELECT DISTINCT {col.name} FROM {table}").fetchall()
                }
                assert values <= {c.EHR}, (table, col.name, values)


def test_visit_kinds_and_smoking_values(db):
    _, _, con = db
    visits = {
        r[0]
        for r in con.execute("SELECT DISTINCT visit_concept_id FROM visit_occurrence").fetchall()
    }
    assert visits == {c.INPATIENT_VISIT, c.OUTPATIENT_VISIT, c.ER_VISIT}
    smoking = {
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT value_as_concept_id FROM observation "
            f"WHERE observation_concept_id = {c.TOBACCO_SMOKING_STATUS}"
        ).fetchall()
    }
    assert smoking == {c.CURRENT_SMOKER, c.FORMER_SMOKER, c.NEVER_SMOKER}


def test_measurements_carry_their_units(db):
    _, _, con = db
    units = dict(
        con.execute(
            "SELECT DISTINCT measurement_concept_id, unit_concept_id FROM measurement"
        ).fetchall()
    )
    assert units == {c.BMI: c.KG_PER_M2, c.HBA1C: c.PERCENT, c.SYSTOLIC_BP: c.MM_HG}


def test_the_database_is_true_to_the_ground_truth(db):
    """The covariates of the planted models, read back from the tables, are exact."""
    path, _, _ = db
    truth = persons_in_chunk(SEED, SITE, 0, N)
    data = analysis_dataset(path)
    assert np.array_equal(data["person_id"], truth.person_id)
    assert np.array_equal(data["age"], truth.age)
    assert np.array_equal(data["female"] == 1, truth.female)
    assert np.array_equal(data["current_smoker"] == 1, truth.smoking == CURRENT)
    assert np.array_equal(data["former_smoker"] == 1, truth.smoking == FORMER)
    assert np.allclose(data["bmi"], truth.bmi)
    assert np.array_equal(data["lung_cancer"] == 1, truth.has["lung_cancer"])


def test_hba1c_is_higher_in_diabetics(db):
    _, _, con = db
    diff = scalar(
        con,
        f"""
        WITH t2dm AS (SELECT DISTINCT person_id FROM condition_occurrence
                      WHERE condition_concept_id = {c.TYPE_2_DIABETES})
        SELECT avg(value_as_number) FILTER (WHERE t.person_id IS NOT NULL)
             - avg(value_as_number) FILTER (WHERE t.person_id IS NULL)
        FROM measurement m LEFT JOIN t2dm t USING (person_id)
        WHERE measurement_concept_id = {c.HBA1C}""",
    )
    planted = fx.HBA1C_DIABETES.mean - fx.HBA1C_NO_DIABETES.mean
    assert diff == pytest.approx(planted, abs=0.3)


def test_most_diabetics_get_metformin(db):
    _, _, con = db
    share = scalar(
        con,
        f"""
        WITH t2dm AS (SELECT DISTINCT person_id FROM condition_occurrence
                      WHERE condition_concept_id = {c.TYPE_2_DIABETES}),
             metformin AS (SELECT DISTINCT person_id FROM drug_exposure
                           WHERE drug_concept_id = {c.METFORMIN})
        SELECT avg((m.person_id IS NOT NULL)::DOUBLE) FROM t2dm LEFT JOIN metformin m
        USING (person_id)""",
    )
    assert share == pytest.approx(fx.METFORMIN_SHARE_OF_T2DM, abs=0.08)


def test_deaths_are_more_likely_with_lung_cancer(db):
    _, _, con = db
    with_lc, without = con.execute(f"""
        WITH lung AS (SELECT DISTINCT co.person_id FROM condition_occurrence co
                      JOIN concept_ancestor ca ON ca.descendant_concept_id = co.condition_concept_id
                      WHERE ca.ancestor_concept_id = {c.LUNG_CANCER})
        SELECT avg((d.person_id IS NOT NULL)::DOUBLE) FILTER (WHERE l.person_id IS NOT NULL),
               avg((d.person_id IS NOT NULL)::DOUBLE) FILTER (WHERE l.person_id IS NULL)
        FROM person p LEFT JOIN lung l USING (person_id) LEFT JOIN death d USING (person_id)
    """).fetchone()
    assert with_lc > 3 * without


def test_same_seed_same_database_and_another_seed_differs(db, tmp_path):
    path, _, _ = db
    again, other = tmp_path / "again.duckdb", tmp_path / "other.duckdb"
    generate(again, N, SEED, SITE)
    generate(other, N, SEED + 1, SITE)
    first, second, third = table_contents(path), table_contents(again), table_contents(other)
    assert all(first[t].equals(second[t]) for t in OMOP_TABLES)
    assert not first["measurement"].equals(third["measurement"])


def test_progress_is_reported_and_the_file_replaced(tmp_path):
    path = tmp_path / "p.duckdb"
    path.write_text("an old file")
    calls = []
    generate(path, 250, 1, progress=lambda stage, done, total: calls.append((stage, done, total)))
    assert ("persons", 250, 250) in calls
    assert calls[-1] == ("finishing", 1, 1)
    with duckdb.connect(str(path), read_only=True) as con:
        assert scalar(con, "SELECT count(*) FROM person") == 250
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.duckdb"]


@pytest.mark.parametrize(
    ("persons", "seed", "message"), [(0, 1, "persons must be"), (10, -1, "seed must be")]
)
def test_invalid_arguments_are_refused(tmp_path, persons, seed, message):
    with pytest.raises(ValueError, match=message):
        generate(tmp_path / "x.duckdb", persons, seed)
    assert not (tmp_path / "x.duckdb").exists()
