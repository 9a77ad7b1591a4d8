"""A pool whose nodes each send different variables (issue 18): node A a person's smoking, age
and sex, node B their lung cancer, so that an exposure recorded at one site can be related to
an outcome recorded at another; and a variable no node sent is refused at the pool, never read
as none.

Unit tests on real DuckDB files made by the synthetic generator. Node B is a copy of the same
CDM with its persons numbered its own way, its smoking statuses changed and its lung cancer
replaced by one planted from node A's smoking, so that any row of the wrong node in the pool
shows, and a logistic regression on the pool has a known answer.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import statsmodels.api as sm

from fivesafes.analyses.catalogue import SMOKING_LEVELS, SMOKING_STATUS
from fivesafes.analyses.variables import analysis_frame, can_use_variables
from fivesafes.cohorts.concepts import UnknownConceptError
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.synth import generate
from fivesafes.pool.extract import Extract, extract
from fivesafes.pool.merge import MergeReport, merge
from pool_frames import differing, frame, keyed_shift, link, open_cdm

FIRST_SMOKING = {  # node A's event, so the index moves with the person's dates at both nodes
    "name": "from the first smoking status",
    "criteria": [{"domain": "observation", "concepts": [43054909], "descendants": False}],
}
FIXED = {"name": "everyone", "index": {"type": "fixed", "date": "2020-01-01"}}
LUNG_CANCER, NSCLC = 443388, 4115276
LUNG_CANCER_FAMILY = {443388, 4115276, 4110591}  # the tumour, NSCLC and SCLC
SEXES = {8507, 8532}
FROM_A, FROM_B = ["smoker", "age", "sex"], ["lung_cancer"]
SHARED = range(201, 801)  # node persons linked at both nodes (A's numbers)
PLANTED = {"intercept": -1.5, "former": 0.7, "current": 1.6}  # log-odds of B's lung cancer
TABLES = (
    "person",
    "observation_period",
    "visit_occurrence",
    "condition_occurrence",
    "drug_exposure",
    "procedure_occurrence",
    "measurement",
    "observation",
    "death",
)


@dataclass(frozen=True)
class Nodes:
    a: Path  # the generated CDM as it is
    b: Path  # persons + 5000, smoking statuses rotated, lung cancer planted from A's smoking
    b_flipped: Path  # B with person 300's gender the other one
    links_a: dict[int, str]
    links_b: dict[int, str]
    planted: dict[str, float]  # link id -> B's planted lung cancer (0 or 1)


def copy_of(source: Path, to: Path, *statements: str) -> Path:
    shutil.copy(source, to)
    with duckdb.connect(str(to)) as con:
        for statement in statements:
            con.execute(statement)
    return to


@pytest.fixture(scope="module")
def nodes(tmp_path_factory) -> Nodes:
    where = tmp_path_factory.mktemp("per_node")
    node_a = where / "a.duckdb"
    generate(node_a, 1000, 3, "northfield")
    links_a = {p: link(p) for p in range(1, 801)}
    links_b = {p + 5000: link(p) for p in range(201, 1001)}
    with open_cdm(node_a) as db:
        smoking = frame(db, FIRST_SMOKING, {p: link(p) for p in SHARED}, ["smoker"])["smoker"]
    rng = np.random.default_rng(18)
    planted: dict[str, float] = {}
    rows: list[tuple[int, int]] = []
    for person in SHARED:
        code = smoking.get(link(person), -1.0)
        if code < 0:  # no smoking status at A: no lung cancer at B
            continue
        logit = PLANTED["intercept"] + PLANTED["former"] * (code == 1)
        logit += PLANTED["current"] * (code == 2)
        has = bool(rng.random() < 1 / (1 + math.exp(-logit)))
        planted[link(person)] = float(has)
        if has:  # some as the tumour itself, some as a descendant
            rows.append((person + 5000, LUNG_CANCER if person % 2 else NSCLC))
    levels = list(SMOKING_LEVELS)  # never -> former -> current -> never at B
    rotate = " ".join(
        f"WHEN {a} THEN {b}" for a, b in zip(levels, levels[1:] + levels[:1], strict=True)
    )
    node_b = copy_of(
        node_a,
        where / "b.duckdb",
        *(f"UPDATE {t} SET person_id = person_id + 5000" for t in TABLES),
        "DELETE FROM condition_occurrence WHERE condition_concept_id IN (443388, 4115276, 4110591)",
        f"UPDATE observation SET value_as_concept_id = CASE value_as_concept_id {rotate} END"
        f" WHERE observation_concept_id = {SMOKING_STATUS}",
    )
    with duckdb.connect(str(node_b)) as con:
        con.register(
            "planted",
            pa.table({"person_id": [p for p, _ in rows], "concept": [c for _, c in rows]}),
        )
        con.execute(
            "INSERT INTO condition_occurrence (condition_occurrence_id, person_id,"
            " condition_concept_id, condition_start_date, condition_type_concept_id)"
            " SELECT (SELECT max(condition_occurrence_id) FROM condition_occurrence)"
            " + row_number() OVER (ORDER BY p.person_id), p.person_id, p.concept, o.start, 32817"
            " FROM planted p JOIN (SELECT person_id, min(observation_period_start_date) AS start"
            " FROM observation_period GROUP BY person_id) o USING (person_id)"
        )
    flipped = copy_of(
        node_b,
        where / "b_flipped.duckdb",
        "UPDATE person SET gender_concept_id = 8507 + 8532 - gender_concept_id"
        " WHERE person_id = 5300",
    )
    return Nodes(node_a, node_b, flipped, links_a, links_b, planted)


@dataclass(frozen=True)
class Pool:
    path: Path
    report: MergeReport
    from_a: Extract
    from_b: Extract
    numbers: dict[int, str]  # the pool's person_id -> link id, by merge's documented rule


@pytest.fixture(scope="module")
def pool(nodes, tmp_path_factory) -> Pool:
    with open_cdm(nodes.a) as db:
        from_a = extract(db, nodes.links_a, FROM_A, keyed_shift)
    with open_cdm(nodes.b) as db:
        from_b = extract(db, nodes.links_b, FROM_B, keyed_shift)
    path = tmp_path_factory.mktemp("per_node_pool") / "pool.duckdb"
    report = merge({"a": Extract.from_bytes(from_a.to_bytes()), "b": from_b}, path)
    numbers = dict(enumerate(sorted(link(p) for p in SHARED), start=1))
    return Pool(path, report, from_a, from_b, numbers)


def test_the_report_says_which_node_sent_which_variable(pool):
    report = pool.report
    assert report.variables == ("smoker", "age", "sex", "lung_cancer")
    assert report.sources == {"smoker": ("a",), "age": ("a",), "sex": ("a",), "lung_cancer": ("b",)}
    assert (report.variables_of("a"), report.variables_of("b")) == (tuple(FROM_A), ("lung_cancer",))
    assert report.persons_per_node == {"a": 800, "b": 800}
    assert report.persons_pooled == len(SHARED)
    assert (report.gender_disagreements, report.birth_disagreements) == (0, 0)
    assert set(report.rows) == {
        "person",
        "observation_period",
        "observation",
        "condition_occurrence",
        "concept",
        "concept_ancestor",
    }


def test_each_variable_is_the_node_that_sent_it(nodes, pool):
    shared_a = {p: link(p) for p in SHARED}
    shared_b = {p + 5000: link(p) for p in SHARED}
    with open_cdm(nodes.a) as db:
        at_a = frame(db, FIRST_SMOKING, shared_a, [*FROM_A, "lung_cancer"])
    with open_cdm(nodes.b) as db:
        at_b = frame(db, FIRST_SMOKING, shared_b, ["smoker", "lung_cancer"])
    with open_cdm(pool.path) as db:
        got = frame(db, FIRST_SMOKING, pool.numbers, [*FROM_A, "lung_cancer"])
    assert set(got["smoker"]) == set(at_a["smoker"]) == set(nodes.planted)
    assert differing(at_a["smoker"], got["smoker"]) == []
    assert differing(at_a["sex"], got["sex"]) == []
    # age is whole calendar years between two moved dates: it may differ by one where the
    # person's shift carries one of them over a new year and not the other
    assert all(abs(at_a["age"][k] - got["age"][k]) == 1 for k in differing(at_a["age"], got["age"]))
    assert differing(at_b["lung_cancer"], got["lung_cancer"]) == []
    assert got["lung_cancer"] == nodes.planted
    assert sum(got["lung_cancer"].values()) >= 50
    # Controls: B's smoking statuses and A's lung cancer differ from what the pool holds,
    # so had either been pooled, the comparisons above would have failed
    assert len(differing(at_b["smoker"], got["smoker"])) > 100
    assert len(differing(at_a["lung_cancer"], got["lung_cancer"])) > 50


def released_rows(made: Extract, table: str, columns: list[str]) -> list[tuple]:
    rows = made.tables[table].select(["person_id", *columns]).to_pylist()
    held = {link(p) for p in SHARED}
    return sorted(tuple(r.values()) for r in rows if r["person_id"] in held)


def pooled_rows(path: Path, table: str, columns: list[str]) -> list[tuple]:
    """The pool's rows by link id (the pool's person ids numbered by merge's documented rule)."""
    numbers = dict(enumerate(sorted(link(p) for p in SHARED), start=1))
    with duckdb.connect(str(path), read_only=True) as con:
        found = con.execute(f"SELECT person_id, {', '.join(columns)} FROM {table}").fetchall()
    return sorted((numbers[row[0]], *row[1:]) for row in found)


def test_the_pool_holds_each_table_from_the_node_that_released_it_only(pool):
    observation = ["observation_concept_id", "observation_date", "value_as_concept_id"]
    condition = ["condition_concept_id", "condition_start_date"]
    assert pooled_rows(pool.path, "observation", observation) == released_rows(
        pool.from_a, "observation", observation
    )
    assert pooled_rows(pool.path, "condition_occurrence", condition) == released_rows(
        pool.from_b, "condition_occurrence", condition
    )
    assert "condition_occurrence" not in pool.from_a.tables
    assert "observation" not in pool.from_b.tables
    with duckdb.connect(str(pool.path), read_only=True) as con:
        persons = con.execute(
            "SELECT count(*), count(gender_concept_id), count(year_of_birth) FROM person"
        ).fetchone()
        periods = con.execute("SELECT count(*) FROM observation_period").fetchone()
        concepts = {c for (c,) in con.execute("SELECT concept_id FROM concept").fetchall()}
    assert persons == (600, 600, 600)
    both = [pool.from_a, pool.from_b]
    assert periods == (sum(len(released_rows(e, "observation_period", [])) for e in both),)
    # the pool's vocabulary: the released variables' concepts and no others
    assert concepts == LUNG_CANCER_FAMILY | {SMOKING_STATUS, *SMOKING_LEVELS} | SEXES


def test_a_logistic_regression_on_the_pool_recovers_the_planted_dependence(pool):
    with open_cdm(pool.path) as db:
        made = analysis_frame(db, Cohort.model_validate(FIRST_SMOKING), ["smoker", "lung_cancer"])
    smoker, outcome = made.columns["smoker"], made.columns["lung_cancer"]
    kept = smoker >= 0
    design = np.column_stack([np.ones(kept.sum()), smoker[kept] == 1, smoker[kept] == 2])
    fitted = sm.Logit(outcome[kept], design.astype(float)).fit(disp=0)
    intervals = fitted.conf_int(0.05)
    for n, name in enumerate(("intercept", "former", "current")):
        low, high = intervals[n]
        assert low <= PLANTED[name] <= high, (name, fitted.params[n], low, high)
    assert intervals[2][0] > 0  # the dependence is found, not only allowed


def test_person_attributes_come_from_the_first_node_that_released_them(nodes, pool, tmp_path):
    with open_cdm(nodes.b_flipped) as db:
        from_b = extract(db, nodes.links_b, ["sex", "lung_cancer"], keyed_shift)
    report = merge({"a": pool.from_a, "b": from_b}, tmp_path / "pool.duckdb", order=["b", "a"])
    assert report.sources["sex"] == ("b", "a") and report.sources["age"] == ("a",)
    # counted among the nodes that released them: B released no birth
    assert (report.gender_disagreements, report.birth_disagreements) == (1, 0)
    birth = ["year_of_birth", "month_of_birth", "day_of_birth"]
    got = pooled_rows(tmp_path / "pool.duckdb", "person", ["gender_concept_id", *birth])
    sexes = dict(released_rows(from_b, "person", ["gender_concept_id"]))
    births = {row[0]: row[1:] for row in released_rows(pool.from_a, "person", birth)}
    assert got == sorted((k, sexes[k], *births[k]) for k in sexes)
    at_a = dict(released_rows(pool.from_a, "person", ["gender_concept_id"]))
    assert [k for k in sexes if sexes[k] != at_a[k]] == [link(300)]


def test_pooling_any_nodes_persons_needs_the_same_variables_everywhere(pool, tmp_path):
    extracts = {"a": pool.from_a, "b": pool.from_b}
    with pytest.raises(ValueError, match="every node to send every variable"):
        merge(extracts, tmp_path / "pool.duckdb", pooled="any_node")
    assert not (tmp_path / "pool.duckdb").exists()


@pytest.fixture(scope="module")
def lung_cancer_pool(pool, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("lung_cancer_pool") / "pool.duckdb"
    merge({"b": pool.from_b}, path)
    return path


@pytest.mark.parametrize(
    ("variable", "unknown"),
    [
        ("t2dm", {201826}),
        ("hypertension", {316866}),
        ("copd", {255573}),
        ("statin", {1545958}),
        ("metformin", {1503297}),
        ("bmi", {3038553}),
        ("smoker", {SMOKING_STATUS, *SMOKING_LEVELS}),
    ],
)
def test_a_variable_not_released_is_refused_not_read_as_none(
    nodes, lung_cancer_pool, variable, unknown
):
    cohort = Cohort.model_validate(FIXED)
    with open_cdm(lung_cancer_pool) as db:
        with pytest.raises(UnknownConceptError) as refused:
            analysis_frame(db, cohort, ["lung_cancer", variable])
        assert set(refused.value.concept_ids) == unknown
        assert not can_use_variables([variable], db)
        released = analysis_frame(db, cohort, ["age", "sex", "lung_cancer", "time_to_lung_cancer"])
        assert can_use_variables(["lung_cancer", "time_to_lung_cancer", "age", "sex"], db)
    assert len(released) == len(SHARED) + 200 and released.columns["lung_cancer"].sum() >= 50
    with open_cdm(nodes.a) as db:  # a full node knows every concept: nothing changes there
        assert len(analysis_frame(db, cohort, ["lung_cancer", variable])) > 0
        assert can_use_variables([variable], db)
