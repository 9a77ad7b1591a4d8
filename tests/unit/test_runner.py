"""The node's runner: data errors become reason codes, and their text never reaches a log."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from fivesafes.node.runner import run_task
from fivesafes.protocol.models import TaskPayload
from fivesafes.protocol.runs import ReasonCode
from fivesafes.sdc import GateProfile

SENTINEL = "NHS-9434765919"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


class ExplodingDatabase:
    """A data source whose every query fails with a message quoting patient data."""

    def table(self, name):
        raise RuntimeError(f"row for person {SENTINEL} is malformed")


class OperationalError(Exception):
    pass


class UnreachableDatabase:
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
    outcome = run_task(task(COHORT), ExplodingDatabase(), GateProfile())
    assert (outcome.status, outcome.reason, outcome.output) == (
        "failed",
        ReasonCode.INTERNAL_ERROR,
        None,
    )
    assert SENTINEL not in caplog.text
    assert "RuntimeError" in caplog.text


def test_an_unreachable_source_is_named_as_such():
    outcome = run_task(task(COHORT), UnreachableDatabase(), GateProfile())
    assert outcome.reason is ReasonCode.DATA_SOURCE_UNAVAILABLE


def test_parameters_outside_the_contract_are_refused_before_any_query():
    outcome = run_task(
        task({"cohort": COHORT["cohort"], "sql": "x"}), ExplodingDatabase(), GateProfile()
    )
    assert (outcome.status, outcome.reason) == ("refused", ReasonCode.INVALID_PARAMETERS)
