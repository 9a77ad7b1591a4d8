"""Attrition and characterisation of a cohort at a node, and their combination at the hub.
Real DuckDB on a synthetic site; expected values from plain SQL and the pandas reference."""

from __future__ import annotations

import itertools
from pathlib import Path

import duckdb
import numpy as np
import pytest
from pyroaring import BitMap

from cohort_reference import reference_persons
from fivesafes.analyses import attrition, characterise
from fivesafes.analyses.attrition import AttritionOutput, Step, partial_cohorts, released_steps
from fivesafes.analyses.characterise import CharacteriseOutput
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource
from fivesafes.data.synth import concepts as c
from fivesafes.data.synth import generate
from fivesafes.node import runs
from fivesafes.node.person_sets import InMemoryPersonSetStore, SqlPersonSetStore
from fivesafes.node.release import release
from fivesafes.node.runner import run_task
from fivesafes.protocol.runs import ReasonCode
from fivesafes.protocol.signing import generate_key
from fivesafes.sdc.gate import release_count
from fivesafes.sdc.profiles import ACRO, DEFAULT
from fivesafes.storage.engine import make_engine, make_sessionmaker, transaction
from fivesafes.storage.migrate import upgrade
from fivesafes.storage.types import utcnow
from in_process import task_payload

DIABETES = {
    "name": "women 40-75 with type 2 diabetes on metformin, without hypertension",
    "sex": ["female"],
    "age": {"min": 40, "max": 75},
    "criteria": [
        {"domain": "condition", "concepts": [c.TYPE_2_DIABETES]},
        {"domain": "drug", "concepts": [c.METFORMIN]},
        {"domain": "condition", "concepts": [c.HYPERTENSIVE_DISORDER], "exclude": True},
    ],
}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("attrition") / "cdm.duckdb"
    generate(path, 2500, 61, "default")
    return path


@pytest.fixture(scope="module")
def tables(site):
    names = ["person", "observation_period", "concept_ancestor", "condition_occurrence"]
    names += ["drug_exposure", "procedure_occurrence", "measurement", "observation"]
    with duckdb.connect(str(site), read_only=True) as con:
        return {name: con.table(name).df() for name in names}


def test_each_step_of_the_platforms_model_is_the_cohort_so_far(site, tables):
    cohort = Cohort.model_validate(DIABETES)
    parts = partial_cohorts(cohort)
    assert [name for name, _ in parts] == [
        "persons with an index date",
        "sex: female",
        "age at index",
        f"criterion 1: with drug {c.METFORMIN}",
        f"criterion 2: without condition {c.HYPERTENSIVE_DISORDER}",
    ]
    with open_omop(DuckDBSource(engine="duckdb", path=site)) as db:
        found = attrition.steps(cohort, db)
    for (_, part), step in zip(parts, found, strict=True):
        assert set(step.persons) == set(reference_persons(tables, part))
    assert set(found[-1].persons) == set(reference_persons(tables, cohort))
    sizes = [len(s.persons) for s in found]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] > 0
    for before, after in itertools.pairwise(found):
        assert after.persons.issubset(before.persons)


# counts per step, threshold 10 without rounding -> released values
REMOVALS = [
    ([100, 100, 95, 60, 58, 40, 40], [100, 100, None, 60, None, 40, 40]),
    ([9, 5], [None, None]),  # under the threshold
    ([50, 41, 35, 31], [50, None, 35, None]),  # 9 removed, then 15 since 50; then 4
]


@pytest.mark.parametrize(("sizes", "released"), REMOVALS)
def test_a_step_that_removes_fewer_than_the_threshold_is_suppressed(sizes, released):
    steps = [Step(f"s{k}", BitMap(range(n))) for k, n in enumerate(sizes)]
    shown, populations = released_steps(steps, ACRO)
    assert [s.count.value for s in shown] == released
    assert [len(p) for p in populations] == [v for v in released if v is not None]
    for step in shown:
        if step.count.suppressed and step.count.rule.startswith("fewer than 10 persons removed"):
            assert "since the last step shown" in step.count.rule


def test_the_runner_releases_an_attrition_and_the_hub_adds_the_nodes(site):
    with open_omop(DuckDBSource(engine="duckdb", path=site)) as db:
        outcome = run_task(
            task_payload("attrition", {"cohort": DIABETES}), db, DEFAULT, InMemoryPersonSetStore()
        )
        found = attrition.steps(Cohort.model_validate(DIABETES), db)
    out = AttritionOutput.model_validate(outcome.output)
    assert out.gate.verdict == "pass"
    assert outcome.release is not None and set(outcome.release.persons) == set(found[-1].persons)
    first = out.steps[0].count.value
    assert first == release_count(len(found[0].persons), DEFAULT).value
    other = out.model_copy(
        update={
            "steps": [s.model_copy(update={"count": release_count(0, DEFAULT)}) for s in out.steps]
        }
    )
    combined = attrition.combine({"a": out, "b": out, "c": other}, ["d"], DEFAULT)
    assert combined["steps"][0]["count"]["value"] == release_count(2 * first, DEFAULT).value
    assert combined["steps"][0]["nodes_suppressed"] == ["c"]
    assert combined["nodes_missing"] == ["d"]


def test_every_released_step_is_remembered_and_a_later_near_copy_of_one_is_refused(site, tmp_path):
    """The cohort and each earlier step an attrition shows are remembered (for differencing and
    the patient data account), so a later output close to an earlier step is refused too."""
    engine = make_engine(f"sqlite:///{tmp_path / 'node.db'}")
    upgrade(engine, "fivesafes.node:migrations")
    sessions = make_sessionmaker(engine)
    store = SqlPersonSetStore(sessions)
    task = task_payload("attrition", {"cohort": DIABETES})
    with open_omop(DuckDBSource(engine="duckdb", path=site)) as db:
        outcome = run_task(task, db, DEFAULT, store)
        found = attrition.steps(Cohort.model_validate(DIABETES), db)
    assert outcome.release is not None
    shown, populations = released_steps(found, DEFAULT)
    with transaction(sessions) as session:
        runs.record_outcome(
            session, run_id="r1", task_id=task.task_id, task=task, outcome=outcome, node="n",
            key=generate_key(), now=utcnow(),
        )  # fmt: skip
    remembered = [set(r.persons) for r in store.released_sets("p")]
    assert len(remembered) == len(populations) > 1
    assert all(set(p) in remembered for p in populations)
    # a person dropped by a later rule was in a released count: their account shows it, once
    first = found[0].persons
    dropped = min(first - found[-1].persons)
    assert [r.run_id for r in store.releases_for_person(dropped)] == ["r1"]
    # the first step less a few persons: its difference from the remembered step is tiny
    near = BitMap(first)
    for person in list(first)[: DEFAULT.threshold - 1]:
        near.remove(person)
    refused = release("p", "later", near, {"count": 1}, True, DEFAULT, store)
    assert (refused.status, refused.reason) == ("refused", ReasonCode.DIFFERENCING_RISK)
    engine.dispose()


CONDITIONS_SQL = """
    SELECT o.condition_concept_id, count(DISTINCT o.person_id) AS n
    FROM condition_occurrence o
    WHERE o.person_id IN ({ids})
      AND o.condition_start_date <= DATE '2020-01-01'
      AND o.condition_start_date > DATE '2020-01-01' - INTERVAL 365 DAY
      AND o.condition_concept_id <> 0
    GROUP BY 1 HAVING count(DISTINCT o.person_id) >= 10
    ORDER BY n DESC, 1 LIMIT 5
"""


def test_a_characterisation_is_the_cohorts_age_sex_and_top_concepts(site):
    cohort = {"name": "everyone", "index": {"type": "fixed", "date": "2020-01-01"}}
    parameters = {"cohort": cohort, "top": 5, "domains": ["condition", "drug"]}
    with open_omop(DuckDBSource(engine="duckdb", path=site)) as db:
        outcome = run_task(
            task_payload("characterise", parameters), db, ACRO, InMemoryPersonSetStore()
        )
    out = CharacteriseOutput.model_validate(outcome.output)
    with duckdb.connect(str(site), read_only=True) as con:
        people = con.execute("SELECT person_id, year_of_birth, gender_concept_id FROM person").df()
        ids = ", ".join(str(i) for i in people["person_id"])
        conditions = con.execute(CONDITIONS_SQL.format(ids=ids)).fetchall()
    assert out.count.value == len(people)
    ages = 2020 - people["year_of_birth"].to_numpy()
    bands = np.digitize(ages, [18, 35, 50, 65, 80])
    expected = {band: int((bands == k).sum()) for k, band in enumerate(characterise.AGE_BANDS)}
    small = {band for band, n in expected.items() if n < 10}
    for cell in out.age:
        if cell.count.suppressed:  # small, or hidden with a small one (secondary suppression)
            assert small
        else:
            assert cell.count.value == expected[cell.row]  # acro: no rounding
    assert {x.row for x in out.age if x.count.suppressed} >= small
    assert sum(not x.count.suppressed for x in out.age) >= 3
    women = int((people["gender_concept_id"] == 8532).sum())
    assert {x.row: x.count.value for x in out.sex}["female"] == women
    listed = [(x.concept_id, x.count.value) for x in out.concepts["condition"]]
    assert listed == [(int(a), int(n)) for a, n in conditions]
    assert all(x.name for x in out.concepts["condition"])  # named from the vocabulary
    assert len(out.concepts["drug"]) <= 5


def test_the_hub_merges_concept_lists_and_says_who_did_not_list_one():
    def node(concepts: list[tuple[int, int]], count: int = 100) -> CharacteriseOutput:
        listed = [
            {"concept_id": cid, "name": f"c{cid}", "count": release_count(n, ACRO).model_dump()}
            for cid, n in concepts
        ]
        return CharacteriseOutput.model_validate(
            {
                "count": release_count(count, ACRO).model_dump(),
                "age": [],
                "sex": [],
                "concepts": {"condition": listed},
                "gate": {"verdict": "pass", "profile": "acro"},
            }
        )

    combined = characterise.combine(
        {"a": node([(1, 50), (2, 40)]), "b": node([(2, 30), (3, 60)])}, [], ACRO
    )
    listed = combined["concepts"]["condition"]
    assert [(x["concept_id"], x["count"]["value"]) for x in listed] == [(2, 70), (3, 60)]
    assert listed[0]["nodes_not_listing"] == [] and listed[1]["nodes_not_listing"] == ["a"]
    assert combined["count"]["value"] == 200
