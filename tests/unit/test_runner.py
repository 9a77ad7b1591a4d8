"""The node's runner: data errors become reason codes, and their text never reaches a log."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from fivesafes.data.compiled import CompiledSql
from fivesafes.node.person_sets import InMemoryPersonSetStore
from fivesafes.node.release import differencing_refusal
from fivesafes.node.runner import output_key, run_task
from fivesafes.protocol.models import TaskPayload
from fivesafes.protocol.runs import ReasonCode
from fivesafes.sdc.differencing import person_set
from fivesafes.sdc.profiles import DEFAULT

SENTINEL = "NHS-9434765919"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


class ExplodingDatabase:
    """A data source whose every query fails with a message quoting patient data."""

    identity = "exploding"
    compiled = CompiledSql()

    def table(self, name):
        raise RuntimeError(f"row for person {SENTINEL} is malformed")

    def opt_out_version(self):  # reading the opt-out list is a query too
        return self.table("fivesafes_opt_out")


class OperationalError(Exception):
    pass


class UnreachableDatabase(ExplodingDatabase):
    def table(self, name):
        raise OperationalError(f"connection to {SENTINEL}@cdm refused")


def task(parameters) -> TaskPayload:
    return TaskPayload(
        task_id="t",
        project_id="p",
        project_version=1,
        requester="alice",
        analysis="count",
        parameters=parameters,
        targets=["n"],
        issued_at=NOW,
        expires_at=NOW + timedelta(minutes=1),
    )


COHORT = {"cohort": {"name": "c", "criteria": [{"domain": "condition", "concepts": [443388]}]}}


def test_data_errors_are_reported_by_code_and_logged_without_their_text(caplog):
    caplog.set_level(logging.DEBUG)
    outcome = run_task(task(COHORT), ExplodingDatabase(), DEFAULT, InMemoryPersonSetStore())
    assert (outcome.status, outcome.reason, outcome.output) == (
        "failed",
        ReasonCode.INTERNAL_ERROR,
        None,
    )
    assert SENTINEL not in caplog.text
    assert "RuntimeError" in caplog.text


def test_an_unreachable_source_is_named_as_such():
    outcome = run_task(task(COHORT), UnreachableDatabase(), DEFAULT, InMemoryPersonSetStore())
    assert outcome.reason is ReasonCode.DATA_SOURCE_UNAVAILABLE


def test_parameters_outside_the_contract_are_refused_before_any_query():
    outcome = run_task(
        task({"cohort": COHORT["cohort"], "sql": "x"}),
        ExplodingDatabase(),
        DEFAULT,
        InMemoryPersonSetStore(),
    )
    assert (outcome.status, outcome.reason) == ("refused", ReasonCode.INVALID_PARAMETERS)


class BrokenStore(InMemoryPersonSetStore):
    def released_sets(self, project_id):
        raise RuntimeError("store unavailable")


def test_differencing_check_fails_closed():
    outcome = differencing_refusal("p", person_set(range(50)), BrokenStore(), DEFAULT)
    assert (outcome.status, outcome.reason) == ("failed", ReasonCode.GATE_ERROR)


def test_a_population_close_to_an_earlier_release_is_refused(caplog):
    store = InMemoryPersonSetStore()
    store.record("p", "k1", "r1", person_set(range(100)), {"count": 100})
    close = differencing_refusal("p", person_set(range(97)), store, DEFAULT)
    assert (close.status, close.reason) == ("refused", ReasonCode.DIFFERENCING_RISK)
    assert differencing_refusal("p", person_set(range(90)), store, DEFAULT) is None
    assert differencing_refusal("other", person_set(range(97)), store, DEFAULT) is None
    logged = " ".join(caplog.messages)
    assert "97" not in logged and " 3 " not in logged  # no small counts logged


def test_an_identical_query_gets_the_identical_answer_without_touching_data():
    store = InMemoryPersonSetStore()
    t = task(COHORT)
    answer = {
        "count": {"value": 120, "suppressed": False, "rule": "rounded to 10"},
        "gate": {"verdict": "pass", "profile": "default", "rules": []},
    }
    store.record("p", output_key(t), "r1", person_set(range(118)), answer)
    outcome = run_task(t, ExplodingDatabase(), DEFAULT, store)
    assert (outcome.status, outcome.output, outcome.release) == ("succeeded", answer, None)


def test_output_key_ignores_who_asks_and_labels_but_not_what():
    a, b = task(COHORT), task(COHORT).model_copy(update={"requester": "bob", "task_id": "t2"})
    renamed = task({"cohort": {**COHORT["cohort"], "name": "d"}})
    other = task({"cohort": {**COHORT["cohort"], "sex": ["female"]}})
    assert output_key(a) == output_key(b) == output_key(renamed) != output_key(other)


def test_person_sets_from_query_arrays_are_checked_without_a_loop():
    import numpy as np

    from fivesafes.sdc.differencing import PersonIdOutOfRange

    assert list(person_set(np.array([5, 3, 3, 2**32 - 1], dtype=np.int64))) == [3, 5, 2**32 - 1]
    for bad in (np.array([-1]), np.array([2**32]), np.array([1.5])):
        with pytest.raises(PersonIdOutOfRange):
            person_set(bad)


def test_small_populations_are_suppressed_not_compared_and_not_remembered(tmp_path):
    """Two small cohorts always differ by fewer than the threshold; neither gives a number."""
    from fivesafes.analyses.count import count_persons
    from fivesafes.cohorts.criteria import Cohort
    from fivesafes.data.engines import open_omop
    from fivesafes.data.source import DuckDBSource
    from fivesafes.data.synth import generate

    path = tmp_path / "cdm.duckdb"
    generate(path, 300, 5, "default")
    lung = {"cohort": {"name": "lc", "criteria": [{"domain": "condition", "concepts": [443388]}]}}
    women = {"cohort": {**lung["cohort"], "sex": ["female"]}}
    store = InMemoryPersonSetStore()
    with open_omop(DuckDBSource(engine="duckdb", path=path)) as db:
        sizes = [count_persons(db, Cohort.model_validate(c["cohort"])) for c in (lung, women)]
        assert 0 < sizes[1] < sizes[0] < 10  # two small, nested populations at this site
        outcomes = [run_task(task(c), db, DEFAULT, store) for c in (lung, women)]
    for outcome in outcomes:
        assert outcome.status == "succeeded"
        assert outcome.output["count"]["suppressed"]
        assert outcome.release is None
    assert store.released_sets("p") == []
