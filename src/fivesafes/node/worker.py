"""A run at the node, within its limits: the analysis runs in a worker thread while the agent
keeps the hub informed (a heartbeat that extends the run's lease and the node's presence), and
at the run's deadline the agent interrupts the engine and, if the worker still does not stop,
abandons it.

| what                | how                                                                  |
| ------------------- | -------------------------------------------------------------------- |
| the deadline        | the node's ``run_limit_seconds``, or sooner if the task expires       |
|                     | sooner (a task's own ``timeout_seconds`` tightens it, never loosens)  |
| at the deadline     | ``OmopDatabase.interrupt``: DuckDB ``interrupt``, PostgreSQL cancel   |
|                     | (and ``statement_timeout`` set from the deadline), Spark cancels jobs |
| still running after | the worker is abandoned (a daemon thread; its connection is dropped |
| the grace period    | and the next run opens another), the run ends ``resource_limit``     |
| memory              | DuckDB's ``memory_limit`` from ``run_memory_mb``; Spark's own        |
|                     | ``driver_memory``; PostgreSQL the server's settings                   |
| meanwhile           | a heartbeat every ``HEARTBEAT_SECONDS``: the hub extends the lease   |
|                     | and sees the node online, so no run is leased twice or timed out      |

The outcome of a run stopped at its deadline is ``resource_limit`` whatever the interrupted
engine raised; anything the worker returns after it was abandoned is dropped. A cohort's size
is bounded before it is compiled (``cohorts.bounds``), so what reaches the deadline is rare.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger("fivesafes.node.worker")

T = TypeVar("T")

HEARTBEAT_SECONDS = 10.0
GRACE_SECONDS = 5.0


class DeadlinePassed(Exception):
    """The run passed its deadline; ``abandoned`` if its worker did not stop when asked."""

    def __init__(self, *, abandoned: bool) -> None:
        super().__init__("the run passed its deadline")
        self.abandoned = abandoned


@dataclass
class _Result(Generic[T]):
    done: threading.Event = field(default_factory=threading.Event)
    value: T | None = None
    error: BaseException | None = None


def run_within(
    work: Callable[[], T],
    *,
    seconds: float,
    interrupt: Callable[[], None],
    heartbeat: Callable[[], None] = lambda: None,
    heartbeat_every: float = HEARTBEAT_SECONDS,
    grace: float = GRACE_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """``work()``'s value (or its exception), if it ends within ``seconds``; otherwise
    :class:`DeadlinePassed`, after ``interrupt()`` and at most ``grace`` more seconds."""
    result: _Result[T] = _Result()

    def worker() -> None:
        try:
            result.value = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting agent
            result.error = exc
        finally:
            result.done.set()

    thread = threading.Thread(target=worker, name="fivesafes-run", daemon=True)
    deadline = clock() + seconds
    thread.start()
    while not result.done.is_set():
        left = deadline - clock()
        if left <= 0:
            break
        if result.done.wait(min(left, heartbeat_every)):
            break
        beat(heartbeat)
    if result.done.is_set():
        if result.error is not None:
            raise result.error
        return result.value  # type: ignore[return-value]
    log.warning("a run passed its deadline of %.0f s; interrupting it", seconds)
    try:
        interrupt()
    except Exception as exc:  # noqa: BLE001 - the worker is abandoned below if need be
        log.error("interrupting the engine failed with %s", type(exc).__name__)
    stopped = result.done.wait(grace)
    if not stopped:
        log.error("the run did not stop when interrupted; its worker is abandoned")
    raise DeadlinePassed(abandoned=not stopped)


def beat(heartbeat: Callable[[], None]) -> None:
    """Send a heartbeat; one that fails is logged, never the run's failure."""
    try:
        heartbeat()
    except Exception as exc:  # noqa: BLE001 - a missed heartbeat is not the run's failure
        log.warning("heartbeat to the hub failed with %s", type(exc).__name__)
