"""Where release requests are kept: a small interface, and an in-memory implementation.

An :class:`AirlockStore` is one transaction's view of the airlock's records: the actions
(``fivesafes.airlock.actions``) load a request, change it through its own methods, save it
and write its audit events through the same store, so the change and its events commit
together or not at all. ``sql_store.SqlAirlockStore`` keeps them in the service's database;
:class:`MemoryAirlockStore` in a dict (tests, and a quick look at the rules). Both are built on
the domain-module kit (``fivesafes.kit.store``); one test suite runs against memory, SQLite and
PostgreSQL (``tests/unit/test_airlock_store.py``, on ``tests/store_suite.py``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from fivesafes.airlock.bundle import Bundle
from fivesafes.airlock.request import ReleaseRequest
from fivesafes.airlock.states import RequestState
from fivesafes.governance.roles import Scope
from fivesafes.kit.store import Audited, MemoryStore
from fivesafes.storage.types import utcnow


@dataclass(frozen=True)
class Summary:
    """A request as a list shows it (no file bytes, no votes)."""

    id: str
    scope: Scope
    author: str
    title: str
    project_id: str | None
    run_id: str | None
    state: RequestState
    version: int
    files: int
    updated_at: datetime


@dataclass(frozen=True)
class StoredBundle:
    request_id: str
    version: int
    manifest: dict[str, Any]
    signature: str
    archive: bytes
    released_at: datetime
    released_by: str


class AirlockStore(Audited, Protocol):
    """One transaction's view of the airlock's records (and, as every module's store, its
    audit events: ``audit``)."""

    def load(self, request_id: str) -> ReleaseRequest | None:
        """The request with its current files (and their bytes), votes and history."""
        ...

    def add(self, request: ReleaseRequest, *, run_id: str | None = None) -> None:
        """Keep a new request (``run_id``: the held run at a node it was made from)."""
        ...

    def save(self, request: ReleaseRequest) -> None:
        """Keep every change made to a loaded request."""
        ...

    def summaries(self, scope: Scope, *, states: Collection[RequestState] = ()) -> list[Summary]:
        """The requests of ``scope`` (in ``states``, if any are given), newest first."""
        ...

    def from_run(self, run_id: str) -> str | None:
        """The id of the request made from a node's held run, if there is one."""
        ...

    def put_bundle(self, stored: StoredBundle) -> None:
        """Keep a release's bundle (one per version released)."""
        ...

    def bundle(self, request_id: str) -> StoredBundle | None:
        """The request's latest bundle, if any of its versions was released."""
        ...


def summary_of(request: ReleaseRequest, run_id: str | None, updated_at: datetime) -> Summary:
    return Summary(
        id=request.id,
        scope=request.scope,
        author=request.author,
        title=request.title,
        project_id=request.project_id,
        run_id=run_id,
        state=request.state,
        version=request.version,
        files=len(request.files),
        updated_at=updated_at,
    )


def saved_copy(request: ReleaseRequest) -> ReleaseRequest:
    """What a store keeps of a request: everything but its events (they went to the audit)."""
    kept = copy.deepcopy(request)
    kept.events = []
    return kept


@dataclass
class _Records:
    requests: dict[str, ReleaseRequest] = field(default_factory=dict)
    runs: dict[str, str | None] = field(default_factory=dict)  # request id -> run id
    updated: dict[str, datetime] = field(default_factory=dict)
    bundles: dict[tuple[str, int], StoredBundle] = field(default_factory=dict)


class MemoryAirlockStore(MemoryStore[_Records]):
    """The airlock's records in memory; ``transaction`` gives the all-or-nothing unit the SQL
    store gets from its database (``fivesafes.kit.store.MemoryStore``)."""

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(_Records(), clock)

    def load(self, request_id: str) -> ReleaseRequest | None:
        found = self._records.requests.get(request_id)
        return copy.deepcopy(found) if found is not None else None

    def add(self, request: ReleaseRequest, *, run_id: str | None = None) -> None:
        if request.id in self._records.requests:
            raise ValueError(f"request {request.id} exists")
        self._records.runs[request.id] = run_id
        self.save(request)

    def save(self, request: ReleaseRequest) -> None:
        self._records.requests[request.id] = saved_copy(request)
        self._records.updated[request.id] = self._clock()

    def summaries(self, scope: Scope, *, states: Collection[RequestState] = ()) -> list[Summary]:
        found = [
            summary_of(r, self._records.runs.get(r.id), self._records.updated[r.id])
            for r in self._records.requests.values()
            if r.scope == scope and (not states or r.state in states)
        ]
        return sorted(found, key=lambda s: (s.updated_at, s.id), reverse=True)

    def from_run(self, run_id: str) -> str | None:
        return next((rid for rid, run in self._records.runs.items() if run == run_id), None)

    def put_bundle(self, stored: StoredBundle) -> None:
        key = (stored.request_id, stored.version)
        if key in self._records.bundles:
            raise ValueError(f"request {stored.request_id} version {stored.version} is released")
        self._records.bundles[key] = stored

    def bundle(self, request_id: str) -> StoredBundle | None:
        found = [b for (rid, _), b in self._records.bundles.items() if rid == request_id]
        return max(found, key=lambda b: b.version) if found else None


def stored_bundle(request: ReleaseRequest, made: Bundle, *, by: str, at: datetime) -> StoredBundle:
    return StoredBundle(
        request_id=request.id,
        version=request.version,
        manifest=made.manifest,
        signature=made.signature,
        archive=made.archive,
        released_at=at,
        released_by=by,
    )
