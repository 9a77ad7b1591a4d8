"""The worker process a node runs its analyses in (``ProcessRunner``): a run past its deadline
kills the worker, whatever it was doing, and the next run is answered by a new one; a run
past the worker's memory cap ends ``resource_limit`` and the worker goes on; the agent's
heartbeat is sent while a run works. The jobs below stand in for the release pipeline (the
pipeline itself runs in this worker in every integration test, under ``fivesafes node serve``)."""

from __future__ import annotations

import os
import time

from fivesafes.data.source import DuckDBSource
from fivesafes.node.outcome import Outcome
from fivesafes.node.runners import ProcessRunner, WorkerSpec, address_space_cap
from fivesafes.protocol.runs import ReasonCode
from fivesafes.sdc.profiles import DEFAULT


def endless(task, instruction, seconds, state, spec) -> Outcome:
    while True:  # pure Python: nothing an engine's interrupt could stop
        sum(range(1000))


def greedy(task, instruction, seconds, state, spec) -> Outcome:
    hoard = bytearray(4 * 1024**3)  # past the cap of a 512 MB worker: 3 GiB in all
    return Outcome("succeeded", output={"bytes": len(hoard)})


def pid(task, instruction, seconds, state, spec) -> Outcome:
    time.sleep(task)
    return Outcome("succeeded", output={"pid": os.getpid()})


def runner(job: str, tmp_path) -> ProcessRunner:
    spec = WorkerSpec(
        data=DuckDBSource(engine="duckdb", path=tmp_path / "absent.duckdb"),
        database_url=f"sqlite:///{tmp_path / 'node.db'}",
        profile=DEFAULT,
        memory_mb=512,
        job=f"test_node_runners:{job}",
        paths=(os.path.dirname(__file__),),
    )
    return ProcessRunner(spec, heartbeat_every=0.1)


def test_a_run_past_its_deadline_kills_the_worker_and_the_next_is_answered(tmp_path):
    stuck = runner("endless", tmp_path)
    stuck.warm_up()
    started = time.monotonic()
    outcome = stuck.run(None, None, seconds=1, heartbeat=lambda: None)
    assert outcome.reason is ReasonCode.RESOURCE_LIMIT
    assert time.monotonic() - started < 30  # the worker's start (a new Python), then 1 s
    assert stuck._process is None  # killed

    answering = runner("pid", tmp_path)
    first = answering.run(0, None, seconds=60, heartbeat=lambda: None)
    killed = answering.run(5, None, seconds=0.5, heartbeat=lambda: None)
    started = time.monotonic()
    after = answering.run(0, None, seconds=60, heartbeat=lambda: None)
    assert killed.reason is ReasonCode.RESOURCE_LIMIT
    assert after.status == "succeeded" and time.monotonic() - started < 30  # a new worker
    assert after.output["pid"] != first.output["pid"] != os.getpid()
    answering.close()


def test_a_run_past_the_memory_cap_ends_resource_limit_and_the_worker_goes_on(tmp_path):
    greedy_runner = runner("greedy", tmp_path)
    assert address_space_cap(greedy_runner._spec) == 3 * 1024**3
    outcome = greedy_runner.run(None, None, seconds=60, heartbeat=lambda: None)
    assert outcome.status == "failed" and outcome.reason is ReasonCode.RESOURCE_LIMIT
    process = greedy_runner._process
    assert process is not None and process.is_alive()
    greedy_runner.close()


def test_the_heartbeat_is_sent_while_a_run_works(tmp_path):
    beats: list[float] = []
    working = runner("pid", tmp_path)
    working.warm_up()
    outcome = working.run(0.6, None, seconds=60, heartbeat=lambda: beats.append(1.0))
    assert outcome.status == "succeeded" and len(beats) >= 3
    working.close()
