"""The node's runner with the release gate: summaries, the differencing setting of a profile,
and outputs the profile sends to review. Real DuckDB on a small synthetic site; expected values
come from plain SQL on the same file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pytest

from fivesafes.analyses.registry import REGISTRY
from fivesafes.analyses.summary import Described, SummaryOutput, VariableValues
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource
from fivesafes.data.synth import generate
from fivesafes.node.person_sets import InMemoryPersonSetStore
from fivesafes.node.runner import Computed, gate, run_task
from fivesafes.protocol.runs import ReasonCode
from fivesafes.sdc.differencing import person_set
from fivesafes.sdc.gate import CountEvidence
from fivesafes.sdc.profiles import ACRO, DEFAULT
from in_process import task_payload

NOW = datetime(2026, 6, 1, tzinfo=UTC)
EVERYONE = {"name": "everyone"}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("runner-gate") / "cdm.duckdb"
    generate(path, 400, 21, "default")
    return path


@pytest.fixture
def db(site):
    with open_omop(DuckDBSource(engine="duckdb", path=site)) as database:
        yield database


task = task_payload


def ages(site: Path, max_age: int | None = None) -> np.ndarray:
    sql = """
        SELECT year(min(op.observation_period_start_date)) - p.year_of_birth AS age
        FROM person p JOIN observation_period op USING (person_id)
        GROUP BY p.person_id, p.year_of_birth
    """
    with duckdb.connect(str(site), read_only=True) as con:
        values = np.asarray([r[0] for r in con.execute(sql).fetchall()], dtype=float)
    return values if max_age is None else values[values <= max_age]


def test_a_summary_releases_rounded_n_and_exact_mean_and_sd(db, site):
    store = InMemoryPersonSetStore()
    outcome = run_task(task("summary", {"cohort": EVERYONE, "variable": "age"}), db, DEFAULT, store)
    assert outcome.status == "succeeded" and outcome.release is not None
    out = SummaryOutput.model_validate(outcome.output)
    truth = ages(site)
    assert out.n.value == int(np.floor(len(truth) / 10 + 0.5) * 10)
    assert out.mean == pytest.approx(truth.mean(), rel=1e-12)
    assert out.sd == pytest.approx(truth.std(ddof=1), rel=1e-12)
    assert (out.gate.verdict, out.gate.profile) == ("pass", "default")
    assert len(outcome.release.persons) == len(truth)


def test_a_small_summary_releases_no_value_and_is_not_remembered(db, site):
    truth = ages(site)
    young = int(np.sort(truth)[4])  # at most a handful of persons this young or younger
    cohort = {"name": "young", "age": {"max": young}}
    assert 0 < len(ages(site, young)) < 10
    store = InMemoryPersonSetStore()
    outcome = run_task(task("summary", {"cohort": cohort, "variable": "age"}), db, DEFAULT, store)
    out = SummaryOutput.model_validate(outcome.output)
    assert (outcome.status, out.gate.verdict, out.gate.rules) == (
        "succeeded",
        "fail",
        ["threshold"],
    )
    assert (out.n.value, out.mean, out.sd, outcome.release) == (None, None, None, None)


def test_differencing_is_refused_or_held_for_review_by_profile(db, site):
    """The same near pair under `default` (refuse) and under `acro` (review)."""
    truth = ages(site)
    top = next(t for t in range(120, 0, -1) if 1 <= len(truth) - len(ages(site, t)) < 10)
    pair = [EVERYONE, {"name": "all but the oldest", "age": {"max": top}}]
    for profile, reason in (
        (DEFAULT, ReasonCode.DIFFERENCING_RISK),
        (ACRO, ReasonCode.HELD_FOR_REVIEW),
    ):
        store = InMemoryPersonSetStore()
        first = run_task(task("count", {"cohort": pair[0]}, 1), db, profile, store)
        assert first.release is not None
        store.record("p", first.release.output_key, "r1/2", first.release.persons, first.output)
        second = run_task(task("count", {"cohort": pair[1]}, 2), db, profile, store)
        assert (second.status, second.reason, second.output) == ("refused", reason, None)
        assert second.colliding == ("r1",)  # the run it collides with, for the hub to name


def test_an_output_the_profile_sends_to_review_is_held_not_sent():
    store = InMemoryPersonSetStore()
    values = np.r_[-5.0, np.full(30, 20.0)]  # a negative value: a human must look
    ids = np.arange(31, dtype=np.int64)
    found = VariableValues(person_set(ids), ids, values, 0)
    computed = Computed(found.contributors, Described("age", [0.0, 100.0], [(None, found)]))
    outcome = gate("p", "k", REGISTRY["summary"], computed, DEFAULT, store)
    assert (outcome.status, outcome.reason, outcome.output, outcome.release) == (
        "refused",
        ReasonCode.HELD_FOR_REVIEW,
        None,
        None,
    )


class ExplodingProfile:
    """A profile whose every setting raises: the gate must withhold, never pass."""

    name = "broken"

    def __getattr__(self, item):
        raise RuntimeError("broken profile")


def test_an_error_inside_the_gate_withholds_the_result():
    computed = Computed(person_set(range(50)), CountEvidence(50))
    count = REGISTRY["count"]
    outcome = gate("p", "k", count, computed, ExplodingProfile(), InMemoryPersonSetStore())  # type: ignore[arg-type]
    assert (outcome.status, outcome.reason, outcome.output) == (
        "failed",
        ReasonCode.GATE_ERROR,
        None,
    )


@pytest.mark.parametrize(
    "parameters",
    [
        {"cohort": EVERYONE, "variable": "income"},  # not a named variable
        {"cohort": EVERYONE, "variable": "age", "values": [1.0, 2.0]},  # a client vector
        {"cohort": EVERYONE, "variable": "age", "seed": 7},
        {"cohort": EVERYONE, "variable": "age", "person_ids": [1, 2, 3]},
        {"cohort": EVERYONE},
    ],
)
def test_a_summary_takes_named_variables_only(db, parameters):
    outcome = run_task(task("summary", parameters), db, DEFAULT, InMemoryPersonSetStore())
    assert (outcome.status, outcome.reason) == ("refused", ReasonCode.INVALID_PARAMETERS)


def test_a_task_asking_for_a_stricter_gate_gets_it_and_a_looser_one_does_not(db, site):
    everyone = len(ages(site))
    store = InMemoryPersonSetStore()
    strict = task("count", {"cohort": EVERYONE}, 1).model_copy(
        update={"gate": {"threshold": everyone + 1}}
    )
    out = run_task(strict, db, DEFAULT, store)
    assert out.output["count"]["suppressed"]
    assert out.output["gate"] == {
        "verdict": "fail",
        "profile": "default (tightened)",
        "rules": ["threshold"],
    }
    loose = task("count", {"cohort": EVERYONE}, 2).model_copy(update={"gate": {"threshold": 1}})
    out = run_task(loose, db, DEFAULT, store)
    assert out.output["count"]["value"] == int(np.floor(everyone / 10 + 0.5) * 10)
    assert out.output["gate"]["profile"] == "default"


@pytest.mark.parametrize("gate", [{"name": "lenient"}, {"threshold": 0}, {"threshold": "x"}])
def test_a_task_gate_that_is_not_a_setting_is_refused(db, gate):
    bad = task("count", {"cohort": EVERYONE}).model_copy(update={"gate": gate})
    outcome = run_task(bad, db, DEFAULT, InMemoryPersonSetStore())
    assert (outcome.status, outcome.reason) == ("refused", ReasonCode.INVALID_PARAMETERS)


def test_a_summary_by_group_judges_each_level_on_its_own(db, site):
    with duckdb.connect(str(site), read_only=True) as con:
        sizes = dict(
            con.execute("SELECT gender_concept_id, count(*) FROM person GROUP BY 1").fetchall()
        )
    women, men = sizes[8532], sizes[8507]
    threshold = (min(women, men) + max(women, men)) // 2 + 1  # between the two group sizes
    strict = DEFAULT.tightened(threshold=threshold)
    parameters = {"cohort": EVERYONE, "variable": "age", "by": "sex"}
    out = run_task(task("summary", parameters), db, strict, InMemoryPersonSetStore())
    assert out.status == "succeeded" and out.release is not None
    groups = {g["level"]: g for g in out.output["groups"]}
    small = "female" if women < men else "male"
    large = "male" if small == "female" else "female"
    assert groups[small]["gate"]["verdict"] == "fail" and groups[small]["mean"] is None
    assert groups[large]["gate"]["verdict"] == "pass" and groups[large]["mean"] is not None
    assert len(out.release.persons) == women + men  # the population: every contributor
