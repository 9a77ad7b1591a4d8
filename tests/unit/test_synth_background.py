"""generate(background_conditions=...): opt-in background condition records (unit).

Everything else in the database is exactly what the same call without the option writes.
"""

import duckdb
import pytest

from fivesafes.data.omop import OMOP_TABLES
from fivesafes.data.synth import concepts as c
from fivesafes.data.synth import generate
from fivesafes.data.synth.conditions import BACKGROUND_CODING

N = 2500
SEED = 7
SITE = "lakeside"
BACKGROUND = 4
BACKGROUND_IDS = ", ".join(str(k) for k in BACKGROUND_CODING)


@pytest.fixture(scope="module")
def dbs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("background")
    plain, extra = folder / "plain.duckdb", folder / "extra.duckdb"
    counts = (
        generate(plain, N, SEED, SITE),
        generate(extra, N, SEED, SITE, background_conditions=BACKGROUND),
    )
    con = duckdb.connect()
    con.execute(f"ATTACH '{plain}' AS plain (READ_ONLY)")
    con.execute(f"ATTACH '{extra}' AS extra (READ_ONLY)")
    yield con, counts
    con.close()


def scalar(con, sql):
    return con.execute(sql).fetchone()[0]


@pytest.mark.parametrize(
    "table", sorted(set(OMOP_TABLES) - {"condition_occurrence", "concept", "concept_ancestor"})
)
def test_every_other_table_is_unchanged(dbs, table):
    con, _ = dbs
    differ = scalar(
        con,
        f"SELECT count(*) FROM ((FROM plain.{table} EXCEPT ALL FROM extra.{table}) "
        f"UNION ALL (FROM extra.{table} EXCEPT ALL FROM plain.{table}))",
    )
    assert differ == 0
    assert scalar(con, f"SELECT count(*) FROM plain.{table}") == scalar(
        con, f"SELECT count(*) FROM extra.{table}"
    )


def test_the_planted_condition_records_are_unchanged(dbs):
    con, _ = dbs
    columns = "person_id, condition_concept_id, condition_start_date, visit_occurrence_id"
    planted = f"SELECT {columns} FROM extra.condition_occurrence"
    planted += f" WHERE condition_concept_id NOT IN ({BACKGROUND_IDS})"
    plain = f"SELECT {columns} FROM plain.condition_occurrence"
    assert scalar(con, f"SELECT count(*) FROM (({plain}) EXCEPT ALL ({planted}))") == 0
    assert scalar(con, f"SELECT count(*) FROM (({planted}) EXCEPT ALL ({plain}))") == 0
    assert (
        scalar(
            con,
            f"SELECT count(*) FROM plain.condition_occurrence WHERE condition_concept_id IN "
            f"({BACKGROUND_IDS})",
        )
        == 0
    )


def test_about_the_asked_number_per_person_of_the_background_concepts(dbs):
    con, (plain_counts, extra_counts) = dbs
    added = extra_counts["condition_occurrence"] - plain_counts["condition_occurrence"]
    # Poisson(4) per person: the mean of 2,500 persons is within 0.2 of 4 (5 sd)
    assert abs(added / N - BACKGROUND) < 0.2
    shares = dict(
        con.execute(
            "SELECT condition_concept_id, count(*) / sum(count(*)) OVER () "
            f"FROM extra.condition_occurrence WHERE condition_concept_id IN ({BACKGROUND_IDS}) "
            "GROUP BY 1"
        ).fetchall()
    )
    total = sum(BACKGROUND_CODING.values())
    for concept, weight in BACKGROUND_CODING.items():
        assert shares[concept] == pytest.approx(weight / total, abs=0.02)


def test_background_records_are_at_the_persons_own_visits(dbs):
    con, _ = dbs
    unmatched = scalar(
        con,
        f"""SELECT count(*) FROM extra.condition_occurrence co
            LEFT JOIN extra.visit_occurrence v
              ON v.visit_occurrence_id = co.visit_occurrence_id
             AND v.person_id = co.person_id AND v.visit_start_date = co.condition_start_date
            WHERE co.condition_concept_id IN ({BACKGROUND_IDS}) AND v.person_id IS NULL""",
    )
    assert unmatched == 0


def test_condition_ids_are_dense_and_follow_person_and_date(dbs):
    con, (_, extra_counts) = dbs
    n = extra_counts["condition_occurrence"]
    assert scalar(
        con,
        "SELECT count(DISTINCT condition_occurrence_id) = count(*) "
        "AND min(condition_occurrence_id) = 1 AND max(condition_occurrence_id) = count(*) "
        "FROM extra.condition_occurrence",
    )
    assert scalar(con, "SELECT count(*) FROM extra.condition_occurrence") == n
    out_of_order = scalar(
        con,
        """SELECT count(*) FROM (
             SELECT person_id, condition_start_date,
                    lag(person_id) OVER w AS p, lag(condition_start_date) OVER w AS d
             FROM extra.condition_occurrence WINDOW w AS (ORDER BY condition_occurrence_id))
           WHERE p > person_id OR (p = person_id AND d > condition_start_date)""",
    )
    assert out_of_order == 0


def test_the_vocabulary_gains_the_background_concepts_and_their_hierarchy(dbs):
    con, _ = dbs
    background = {x.concept_id for x in c.BACKGROUND_CONCEPTS}
    plain = {r[0] for r in con.execute("SELECT concept_id FROM plain.concept").fetchall()}
    extra = {r[0] for r in con.execute("SELECT concept_id FROM extra.concept").fetchall()}
    assert plain == {x.concept_id for x in c.CONCEPTS}
    assert extra == plain | background
    assert set(BACKGROUND_CODING) <= background
    ancestors = set(
        con.execute(
            "SELECT * FROM extra.concept_ancestor EXCEPT SELECT * FROM plain.concept_ancestor"
        ).fetchall()
    )
    assert (c.SINUSITIS, c.VIRAL_SINUSITIS, 1, 1) in ancestors
    assert (c.SINUSITIS, c.CHRONIC_SINUSITIS, 1, 1) in ancestors
    assert (c.TRAUMATIC_BRAIN_INJURY, c.CONCUSSION_NO_LOSS_OF_CONSCIOUSNESS, 2, 2) in ancestors
    assert all((x, x, 0, 0) in ancestors for x in background)
    with_descendants = scalar(
        con,
        f"""SELECT count(*) FROM extra.condition_occurrence co
            JOIN extra.concept_ancestor ca ON ca.descendant_concept_id = co.condition_concept_id
            WHERE ca.ancestor_concept_id = {c.SINUSITIS}""",
    )
    itself = scalar(
        con,
        "SELECT count(*) FROM extra.condition_occurrence "
        f"WHERE condition_concept_id = {c.SINUSITIS}",
    )
    assert with_descendants > 10 * itself > 0


def test_the_same_call_gives_the_same_database(dbs, tmp_path):
    con, _ = dbs
    again = tmp_path / "again.duckdb"
    generate(again, N, SEED, SITE, background_conditions=BACKGROUND)
    con.execute(f"ATTACH '{again}' AS again (READ_ONLY)")
    try:
        assert (
            scalar(
                con,
                "SELECT count(*) FROM ((FROM extra.condition_occurrence EXCEPT ALL "
                "FROM again.condition_occurrence) UNION ALL (FROM again.condition_occurrence "
                "EXCEPT ALL FROM extra.condition_occurrence))",
            )
            == 0
        )
    finally:
        con.execute("DETACH again")


@pytest.mark.parametrize("value", [-1, 51])
def test_out_of_range_values_are_refused(tmp_path, value):
    with pytest.raises(ValueError, match="background_conditions must be between 0 and 50"):
        generate(tmp_path / "x.duckdb", 10, 1, background_conditions=value)
    assert not (tmp_path / "x.duckdb").exists()
