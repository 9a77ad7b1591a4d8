"""The reading side of an index run, in worker processes: read and judge each file of a task,
and hand the outcomes back in the order the files were given.

This module is what a worker imports (the reading and judging code; pydicom only when a file
needs it; nothing of DuckDB), so a new worker is ready in a moment. What comes back is named
tuples (``Read``, ``project.Instance``, ``headers.StoredHeader``): the cheapest to unpickle.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from functools import partial
from typing import NamedTuple, Protocol, TypeVar

from fivesafes.imaging.headers import StoredHeader
from fivesafes.imaging.pool import in_order
from fivesafes.imaging.project import Instance, instance_of
from fivesafes.imaging.reading import (
    SAID,
    FileStat,
    Header,
    Reason,
    Unreadable,
    quiet_pydicom,
    read_header,
)


class Wanted(Protocol):
    """A file to read (:class:`fivesafes.imaging.store.Todo`)."""

    @property
    def path(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def mtime_ns(self) -> int: ...


W = TypeVar("W", bound=Wanted)


class Read(NamedTuple):
    """A file read and judged: its instance row and its header for the restricted store (named
    tuples all through: the cheapest to send back from a worker)."""

    instance: Instance
    header: StoredHeader | None


Outcome = Read | Unreadable


def read_files(files: Sequence[tuple[str, int, int]], today: date) -> list[Outcome]:
    """Read and judge ``files`` (path, size, mtime_ns): a worker's task, in order."""
    with quiet_pydicom():
        return [_read_one(FileStat(*file), today) for file in files]


def _read_one(file: FileStat, today: date) -> Outcome:
    header = read_header(file)
    if not isinstance(header, Header):
        return header
    try:
        instance = instance_of(header, today)
    except Exception as exc:  # noqa: BLE001 - one file's outcome, never the run's end
        said = f"{SAID[Reason.UNPARSABLE]} ({type(exc).__name__})"
        return Unreadable(file, Reason.UNPARSABLE, said)
    stored = (
        StoredHeader(
            file.path, instance.sop_instance_uid, header.header_bytes, header.sha256, header.stored
        )
        if header.stored is not None
        else None
    )
    return Read(instance, stored)


def read_in_order(todo: Iterable[W], today: date, workers: int) -> Iterator[tuple[W, Outcome]]:
    """Each file of ``todo`` with its outcome, in ``todo``'s order, read by ``workers``
    processes (:func:`fivesafes.imaging.pool.in_order`)."""
    return in_order(todo, partial(read_files, today=today), workers, given=_args)


def _args(todo: Wanted) -> tuple[str, int, int]:
    return (todo.path, todo.size, todo.mtime_ns)
