"""Work on files in worker processes, in small tasks, the results handed back in the order the
files were given, with a bounded number of tasks in flight: what an index run reads and what a
de-identification run writes, whatever the number of files, hold the same memory.

Workers are fresh interpreters (forkserver), never forks of a process holding DuckDB's threads.
``work`` must be picklable: a module-level function, or a ``functools.partial`` of one.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

TASK_FILES = 32  # files per task sent to a worker
IN_FLIGHT_PER_WORKER = 16  # tasks queued per worker: bounds memory; enough to keep
# workers busy while the handing process writes what came back (tens of ms)

T = TypeVar("T")
R = TypeVar("R")


def in_order(
    items: Iterable[T],
    work: Callable[[list[Any]], list[R]],
    workers: int,
    *,
    given: Callable[[T], Any] = lambda item: item,
    task_files: int = TASK_FILES,
) -> Iterator[tuple[T, R]]:
    """Each of ``items`` with its result, in ``items``' order: ``work`` called on tasks of
    ``given(item)`` (what a worker needs of an item: the cheapest to send), in this process
    when ``workers`` is 1, else in ``workers`` processes."""
    tasks = _tasks(items, task_files)
    if workers <= 1:
        for task in tasks:
            yield from zip(task, work([given(t) for t in task]), strict=True)
        return
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending: deque[tuple[list[T], Future[list[R]]]] = deque()
        for task in tasks:
            pending.append((task, pool.submit(work, [given(t) for t in task])))
            if len(pending) >= workers * IN_FLIGHT_PER_WORKER:
                done, future = pending.popleft()
                yield from zip(done, future.result(), strict=True)
        while pending:
            done, future = pending.popleft()
            yield from zip(done, future.result(), strict=True)


def _tasks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    task: list[T] = []
    for item in items:
        task.append(item)
        if len(task) == size:
            yield task
            task = []
    if task:
        yield task
