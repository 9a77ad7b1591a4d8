"""Where a node's analyses run: in a worker process the agent can kill (``ProcessRunner``, what
``fivesafes node serve`` uses), or in a thread of the agent's own process (``ThreadRunner``:
tests, and a node embedded in another program).

The agent hands a runner each approved task with the run's deadline and a heartbeat; the
runner answers with the run's :class:`~fivesafes.node.outcome.Outcome`. Either way the agent
keeps polling presence into the hub while a run works (the heartbeat), and a run past its
deadline ends ``resource_limit``.

**ProcessRunner.** At the deadline the worker process is killed, whatever it was doing (in
Python or in the engine), and the next run starts a new one; PostgreSQL also ends the
statement itself (``statement_timeout``). Its address space is capped (``RLIMIT_AS``: twice
``run_memory_mb`` plus 2 GiB; not for Spark, whose JVM has ``driver_memory``) and DuckDB's
``memory_limit`` is ``run_memory_mb``: a run past either ends ``resource_limit``.

**ThreadRunner.** At the deadline the engine is interrupted (``OmopDatabase.interrupt``); a
worker that does not stop is abandoned. Memory: DuckDB's ``memory_limit`` only.

The worker process keeps its data connection and the model shares of iterative analyses
between runs, as the agent did; it reads the released person sets from the node's database
(the agent records new ones with the run's outcome, in one transaction).
"""

from __future__ import annotations

import logging
import multiprocessing
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from fivesafes.analyses.jobs import NodeJobs
from fivesafes.analyses.linked import LinkedPersons
from fivesafes.data.source import DuckDBSource, OmopDatabase, PostgresSource, SparkSource
from fivesafes.node.jobs import ProcessJobs
from fivesafes.node.outcome import Outcome
from fivesafes.node.person_sets import PersonSetStore
from fivesafes.node.runner import run_task
from fivesafes.node.worker import DeadlinePassed, beat, run_within
from fivesafes.protocol.models import Instruction, TaskPayload
from fivesafes.protocol.runs import ReasonCode
from fivesafes.sdc.profiles import Profile

log = logging.getLogger("fivesafes.node.runners")

PRELOAD = ["fivesafes.node.runners", "fivesafes.data.engines", "ibis", "pandas",
           "fivesafes.cohorts.compile", "fivesafes.analyses.registry"]  # fmt: skip
HEARTBEAT_SECONDS = 10.0
START_SECONDS = 180.0  # a new worker opens the data source and compiles a first query


class Runner(Protocol):
    def warm_up(self) -> None:
        """Open the data source now, so the first run is fast."""
        ...

    def run(
        self,
        task: TaskPayload,
        instruction: Instruction | None,
        *,
        seconds: float,
        heartbeat: Callable[[], None],
    ) -> Outcome: ...

    def close(self) -> None: ...


def data_failure() -> Outcome:
    return Outcome("failed", ReasonCode.DATA_SOURCE_UNAVAILABLE)


def over_limit() -> Outcome:
    return Outcome("failed", ReasonCode.RESOURCE_LIMIT)


class ThreadRunner:
    """Runs in a thread of this process (``node.worker.run_within``)."""

    def __init__(
        self,
        open_data: Callable[[], OmopDatabase],
        person_sets: PersonSetStore,
        profile: Profile,
        *,
        heartbeat_every: float = HEARTBEAT_SECONDS,
        jobs: NodeJobs | None = None,
        linked: LinkedPersons | None = None,
    ) -> None:
        self._open_data = open_data
        self._linked = linked
        self._person_sets = person_sets
        self._profile = profile
        self._jobs = jobs
        self._heartbeat_every = heartbeat_every
        self._data: OmopDatabase | None = None

    def _opened(self) -> OmopDatabase | None:
        if self._data is None:
            try:
                self._data = self._open_data()
            except Exception as exc:  # noqa: BLE001 - reported as a reason code, text withheld
                log.error("cannot open the data source: %s", type(exc).__name__)
        return self._data

    def warm_up(self) -> None:
        data = self._opened()
        if data is not None:
            warm(data)

    def run(
        self,
        task: TaskPayload,
        instruction: Instruction | None,
        *,
        seconds: float,
        heartbeat: Callable[[], None],
    ) -> Outcome:
        data = self._opened()
        if data is None:
            return data_failure()
        deadline = time.time() + seconds
        try:
            data.limit_statements(seconds)
            return run_within(
                lambda: run_task(
                    task,
                    data,
                    self._profile,
                    self._person_sets,
                    instruction,
                    self._jobs,
                    deadline,
                    self._linked,
                ),
                seconds=seconds,
                interrupt=data.interrupt,
                heartbeat=heartbeat,
                heartbeat_every=self._heartbeat_every,
            )
        except DeadlinePassed as passed:
            if passed.abandoned:  # its worker may still use the connection: open another
                self._data = None
            return over_limit()

    def close(self) -> None:
        if self._data is not None:
            self._data.close()
            self._data = None


def warm(data: OmopDatabase) -> None:
    """Check the source's domains and compile a first query (table names only are logged)."""
    from fivesafes.data.domains import DOMAINS, OMOP, served

    try:
        for domain, missing in served(data.stored_tables()).items():
            if not missing:
                continue
            if domain != OMOP.name and set(missing) == set(DOMAINS[domain].required):
                log.info("data domain %s is not held here", domain)  # an optional domain
            else:
                log.warning("data domain %s lacks tables: %s", domain, ", ".join(missing))
        data.table("person").count().execute()
    except Exception as exc:  # noqa: BLE001 - a run will report it with a reason code
        log.error("cannot read the data source: %s", type(exc).__name__)


# ---- the worker process ------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker process needs to run analyses (picklable: it crosses to the process)."""

    data: DuckDBSource | PostgresSource | SparkSource
    database_url: str
    """The node's state database, for the released person sets (read only here)."""
    profile: Profile
    memory_mb: int
    job: str = "fivesafes.node.runners:run_job"
    """``module:function`` run for each task (a test may name its own)."""
    paths: tuple[str, ...] = ()
    """Folders to import ``job`` from, if it is not in an installed package."""
    config_file: str | None = None
    """The node's ``node.toml``: the node's jobs (``node.jobs``) run with it; None: no jobs."""
    node: str = ""
    """The node's name (a linked count finds its own part by it)."""


def address_space_cap(spec: WorkerSpec) -> int | None:
    """The worker's ``RLIMIT_AS`` in bytes (None for Spark: its JVM reserves its own)."""
    if isinstance(spec.data, SparkSource):
        return None
    return (2 * spec.memory_mb + 2048) * 1024 * 1024


def run_job(
    task: TaskPayload,
    instruction: Instruction | None,
    seconds: float,
    state: dict[str, Any],
    spec: WorkerSpec,
) -> Outcome:
    """One run in the worker: the node's release pipeline on the worker's data connection."""
    data: OmopDatabase | None = state.get("data")
    if data is None:  # not there when the worker started (a pool before its merge): try again
        data = state["data"] = _reopened(spec)
    if data is None:
        return data_failure()
    data.limit_statements(seconds)
    deadline = time.time() + seconds
    jobs = ProcessJobs(spec.config_file) if spec.config_file is not None else None
    return run_task(
        task, data, spec.profile, state["person_sets"], instruction, jobs, deadline, state["linked"]
    )


def _reopened(spec: WorkerSpec) -> OmopDatabase | None:
    from fivesafes.data.engines import open_omop

    try:
        return open_omop(spec.data, memory_mb=spec.memory_mb)
    except Exception as exc:  # noqa: BLE001 - the run reports it with a reason code
        log.error("cannot open the data source: %s", type(exc).__name__)
        return None


def _worker_main(spec: WorkerSpec, conn: Connection) -> None:
    """The worker process: open the data, say ready, then run each task sent until told to
    stop (``None``) or killed."""
    import importlib

    from fivesafes.data.engines import open_omop
    from fivesafes.node.linked_persons import SqlLinkedPersons
    from fivesafes.node.person_sets import SqlPersonSetStore
    from fivesafes.storage.engine import make_engine, make_sessionmaker

    cap = address_space_cap(spec)
    if cap is not None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    sys.path[:0] = [p for p in spec.paths if p not in sys.path]
    module, name = spec.job.split(":")
    job = getattr(importlib.import_module(module), name)
    sessions = make_sessionmaker(make_engine(spec.database_url))
    state: dict[str, Any] = {
        "person_sets": SqlPersonSetStore(sessions),
        "linked": SqlLinkedPersons(sessions, spec.node),
    }
    try:
        state["data"] = open_omop(spec.data, memory_mb=spec.memory_mb)
        warm(state["data"])
    except Exception as exc:  # noqa: BLE001 - each run reports it with a reason code
        log.error("cannot open the data source: %s", type(exc).__name__)
    conn.send("ready")
    while True:
        message = conn.recv()
        if message is None:
            break
        task, instruction, seconds = message
        try:
            outcome = job(task, instruction, seconds, state, spec)
        except MemoryError:
            outcome = over_limit()
        except Exception as exc:  # noqa: BLE001 - the pipeline fails closed; this is a backstop
            log.error("a run failed in the worker with %s", type(exc).__name__)
            outcome = Outcome("failed", ReasonCode.INTERNAL_ERROR)
        conn.send(outcome)


class ProcessRunner:
    """Runs in a worker process of its own, started when first needed and again after one is
    killed at a run's deadline."""

    def __init__(self, spec: WorkerSpec, *, heartbeat_every: float = HEARTBEAT_SECONDS) -> None:
        self._spec = spec
        self._heartbeat_every = heartbeat_every
        # workers are forked from a server process started once, single-threaded, with the
        # analysis stack imported (never from the agent, which has threads): a new worker,
        # after one was killed, is ready in a moment rather than after a fresh interpreter
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(PRELOAD)
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._ready = False

    def warm_up(self) -> None:
        """Start the worker now and wait until it has opened the data (as long as
        ``START_SECONDS``), so the node takes work only once it can answer promptly."""
        self._started(heartbeat=lambda: None)

    def _start(self) -> None:
        self._stop_worker()
        mine, theirs = self._context.Pipe()
        process = self._context.Process(
            target=_worker_main, args=(self._spec, theirs), name="fivesafes-worker", daemon=True
        )
        process.start()
        theirs.close()
        self._process, self._conn, self._ready = process, mine, False

    def _started(self, heartbeat: Callable[[], None]) -> Connection | None:
        """The ready worker's end of the pipe (a new worker if there is none, or it died)."""
        if self._conn is None or self._process is None or not self._process.is_alive():
            self._start()
        mine = self._conn
        assert mine is not None
        if self._ready:
            return mine
        if not _wait(mine, START_SECONDS, heartbeat, self._heartbeat_every):
            log.error("the worker process did not start")
            self._stop_worker()
            return None
        try:
            mine.recv()  # "ready"
        except EOFError:
            log.error("the worker process ended as it started")
            self._stop_worker()
            return None
        self._ready = True
        return mine

    def run(
        self,
        task: TaskPayload,
        instruction: Instruction | None,
        *,
        seconds: float,
        heartbeat: Callable[[], None],
    ) -> Outcome:
        conn = self._started(heartbeat)
        if conn is None:
            return Outcome("failed", ReasonCode.INTERNAL_ERROR)
        conn.send((task, instruction, seconds))
        if not _wait(conn, seconds, heartbeat, self._heartbeat_every):
            log.warning("a run passed its deadline of %.0f s; its worker is stopped", seconds)
            self._stop_worker()
            return over_limit()
        try:
            outcome: Outcome = conn.recv()
        except EOFError:  # the worker died: out of memory (killed by the system), or worse
            code = self._process.exitcode if self._process is not None else None
            log.error("the worker process ended during a run (exit code %s)", code)
            self._stop_worker()
            return over_limit()
        return outcome

    def _stop_worker(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(10)
        if self._conn is not None:
            self._conn.close()
        self._process, self._conn, self._ready = None, None, False

    def close(self) -> None:
        if self._conn is not None and self._process is not None and self._process.is_alive():
            try:
                self._conn.send(None)
                self._process.join(5)
            except (OSError, ValueError):
                pass
        self._stop_worker()


def _wait(conn: Connection, seconds: float, heartbeat: Callable[[], None], every: float) -> bool:
    """Whether ``conn`` has something to read within ``seconds``, sending ``heartbeat``
    meanwhile (a failing heartbeat is logged, never the run's failure)."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if conn.poll(min(left, every)):
            return True
        beat(heartbeat)
