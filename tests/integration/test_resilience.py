"""Crashes and outages with real processes: nothing is lost and nothing is counted twice.

A node is held mid-run by a PostgreSQL lock on its CDM tables (its query blocks, as a slow
query would), then killed with SIGKILL; a hub is killed while a node is working.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy import func, select

from fivesafes.analyses.count import count_persons
from fivesafes.audit.events import AuditEventType
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.engines import open_omop
from fivesafes.data.pg_load import copy_omop_to_postgres
from fivesafes.data.source import parse_data_source
from fivesafes.data.synth import concepts as c
from fivesafes.hub.db import AUDIT, Run
from fivesafes.node.db import NodeRun
from fivesafes.sdc import release_count
from fivesafes.sdc.profiles import DEFAULT
from fixtures_omop import PG_URL, drop_schema, new_schema_name

pytestmark = pytest.mark.postgres

COHORT = {"name": "lung cancer", "criteria": [{"domain": "condition", "concepts": [c.LUNG_CANCER]}]}
LOCKED = ("person", "condition_occurrence", "observation_period", "concept", "concept_ancestor")


@pytest.fixture
def pg_site(site_data):
    schema = new_schema_name()
    copy_omop_to_postgres(site_data["northfield"], PG_URL, schema)
    source = {"engine": "postgres", "url": PG_URL, "schema": schema}
    with open_omop(parse_data_source(source)) as db:
        expected = release_count(count_persons(db, Cohort.model_validate(COHORT)), DEFAULT)
    yield source, expected
    drop_schema(schema)


@contextmanager
def tables_locked(schema: str):
    """Hold an exclusive lock on the CDM tables: every query on them waits."""
    with psycopg.connect(PG_URL) as conn:
        tables = ", ".join(f'"{schema}"."{t}"' for t in LOCKED)
        conn.execute(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")
        yield
        conn.rollback()


def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def run_row(harness, task_id):
    return harness.admin(lambda s: s.scalars(select(Run).where(Run.task_id == task_id)).one())


def finished_events(harness, run_id):
    events = AUDIT.events
    return harness.admin(
        lambda s: s.scalar(
            select(func.count()).where(
                events.c.run_id == run_id, events.c.event_type == AuditEventType.RUN_FINISHED.value
            )
        )
    )


def one_node_federation(harness, source, lease_seconds):
    """A hub and one node on the PostgreSQL CDM ``source``, online; a researcher's client."""
    harness.start_hub(lease_seconds=lease_seconds)
    harness.add_node("northfield", source)
    token = harness.researcher()
    project = harness.project(["alice"], ["northfield"])
    fed = harness.federation(token, project)
    wait_for(lambda: all(n.online for n in fed.nodes()), what="node online")
    return fed


def submit_and_wait_for_lease(harness, fed):
    task = fed.submit("count", {"cohort": COHORT}, timeout=120)
    wait_for(lambda: run_row(harness, task.task_id).state == "leased", what="lease")
    return task


def node_runs(harness):
    node = harness.node_service("northfield")
    try:
        return node.unit(lambda s: s.scalars(select(NodeRun)).all())
    finally:
        node.stop()


def test_node_killed_mid_run_loses_nothing_and_counts_once(harness, pg_site):
    source, expected = pg_site
    with one_node_federation(harness, source, lease_seconds=5) as fed:
        with tables_locked(source["schema"]):
            task = submit_and_wait_for_lease(harness, fed)
            time.sleep(1.0)  # the node is now blocked inside its query
            assert run_row(harness, task.task_id).state == "leased"
            harness.nodes["northfield"].kill()
        # the lease expires and the run goes back to the queue
        wait_for(lambda: run_row(harness, task.task_id).state == "queued", what="requeue")
        harness.start_node("northfield")
        view = fed.wait(task.task_id, 60)
    run = run_row(harness, task.task_id)
    assert view.state == "complete"
    assert (run.state, run.leases) == ("succeeded", 2)
    assert run.output["count"]["value"] == expected.value
    assert finished_events(harness, run.id) == 1
    rows = node_runs(harness)
    assert [(r.run_id, r.state) for r in rows] == [(run.id, "succeeded")]
    assert rows[0].submitted_at is not None


def test_hub_restarted_mid_task_carries_on(harness, pg_site):
    source, expected = pg_site
    with one_node_federation(harness, source, lease_seconds=60) as fed:
        with tables_locked(source["schema"]):
            task = submit_and_wait_for_lease(harness, fed)
            harness.hub_process.kill()
        # the node finishes while the hub is down: its result waits in the node's outbox
        rows = wait_for(lambda: node_runs(harness), what="result recorded at the node")
        assert [r.submitted_at for r in rows] == [None]
        harness.restart_hub()
        view = fed.wait(task.task_id, 60)
    run = run_row(harness, task.task_id)
    assert view.state == "complete"
    assert run.state == "succeeded" and run.output["count"]["value"] == expected.value
    assert finished_events(harness, run.id) == 1


def test_offline_node_is_reported_unavailable_while_others_stand(harness, site_data):
    harness.start_hub()
    harness.add_node("northfield", {"engine": "duckdb", "path": str(site_data["northfield"])})
    harness.add_node(
        "riverside", {"engine": "duckdb", "path": str(site_data["riverside"])}, start=False
    )
    token = harness.researcher()
    project = harness.project(["alice"], ["northfield", "riverside"])
    with harness.federation(token, project) as fed:
        presence = wait_for(
            lambda: (
                {n.name: n.online for n in fed.nodes()}
                if any(n.online for n in fed.nodes())
                else None
            ),
            what="presence",
        )
        assert presence == {"northfield": True, "riverside": False}
        started = time.monotonic()
        result = fed.count(COHORT, timeout=4)
        waited = time.monotonic() - started
    states = {n.node: (n.state, n.reason) for n in result.nodes}
    assert states == {
        "northfield": ("succeeded", None),
        "riverside": ("failed", "node_unavailable"),
    }
    assert result.complete and result.total is not None
    assert 3.0 <= waited < 15.0
