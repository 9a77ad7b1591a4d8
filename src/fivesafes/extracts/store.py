"""Where extraction approvals and built extracts are kept: a small interface, and an
in-memory implementation.

An :class:`ExtractsStore` is one transaction's view of the module's records: the actions
(``fivesafes.extracts.actions``) read a project's decisions or an extract, change them and
write the audit event through the same store, so both commit together or neither does. It
also reads, never writes, the node's own approval of the project (``project_state``):
extraction is a permission beside the project's approval, never instead of it.
``sql_store.SqlExtracts`` keeps the records in the node's database; :class:`MemoryExtracts`
in a list and a dict (tests, and a quick look at the rules). One test suite runs against
memory, SQLite and PostgreSQL (``tests/unit/test_extracts_store.py``, on
``tests/store_suite.py``).

| record         | one per                                                                |
| -------------- | ---------------------------------------------------------------------- |
| ``Decision``   | decision of a custodian on extraction for a project (approved, revoked)|
| ``Extract``    | extract the node built for a task: held, then released or withdrawn    |

An extract's states (ADR 0028; ``requested`` and ``refused`` are the task's, kept nowhere here):

| from       | to              | when                                                        |
| ---------- | --------------- | ----------------------------------------------------------- |
| (none)     | ``held``        | the node built it into its staging folder (``add_extract``) |
| ``held``   | ``released``    | an output checker approved it: moved into the workspace     |
| ``held``   | ``withdrawn``   | an output checker rejected it, or its requester withdrew    |
|            |                 | it: the staging folder deleted                              |

Nothing leaves ``released`` or ``withdrawn`` (``NEXT_STATES``); the store refuses any other
move (``decided_extract``), whoever asks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from fivesafes.kit.store import Audited, MemoryStore
from fivesafes.protocol.errors import InvalidRequest, NotFoundOrNoPermission
from fivesafes.storage.types import utcnow

BASIC_PROFILE = "basic"
"""The profile every extract follows: DICOM PS3.15 Annex E's Basic Profile (``imaging.deid``)."""


class ExtractionState(StrEnum):
    """A project's extraction at a node: the state its latest decision left."""

    APPROVED = "approved"
    REVOKED = "revoked"


@dataclass(frozen=True)
class Decision:
    """One decision of a custodian on extraction for a project; ``seq`` orders a project's."""

    project_id: str
    seq: int
    state: ExtractionState
    profile: str
    options: tuple[str, ...]  # option names allowed (``imaging.deid.options.OPTION_NAMES``)
    decided_by: str
    decided_at: datetime
    reason: str | None = None  # why it was revoked


class ExtractState(StrEnum):
    """Where a built extract is (the table above)."""

    HELD = "held"  # built into the staging folder, waiting for an output checker
    RELEASED = "released"  # moved into the project's workspace
    WITHDRAWN = "withdrawn"  # rejected by an output checker; the staging folder deleted


NEXT_STATES: Mapping[ExtractState, frozenset[ExtractState]] = {
    ExtractState.HELD: frozenset({ExtractState.RELEASED, ExtractState.WITHDRAWN}),
    ExtractState.RELEASED: frozenset(),
    ExtractState.WITHDRAWN: frozenset(),
}
"""The states an extract may move to from each: nothing leaves a decided one."""


@dataclass(frozen=True)
class Extract:
    """An extract the node built for one task; its id is the task's (one extract per task at
    a node). Nothing in it leaves the node."""

    extract_id: str
    project_id: str
    task_id: str
    requester: str  # username of the researcher who asked
    state: ExtractState
    options: tuple[str, ...]  # option names used (as ``Decision.options``)
    folder: str  # the extract's folder, relative to the node's extracts root
    report: dict[str, Any]  # counts only (files written, rejected by reason, ...): JSON
    persons: tuple[str, ...]  # the person_ids (as text) of the persons whose files were written
    created_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None  # why it was withdrawn


def check_extract_transition(current: ExtractState, to: ExtractState) -> None:
    """Raise :class:`InvalidRequest`, naming the state the extract is in, unless an extract
    in ``current`` may move to ``to``."""
    if to not in NEXT_STATES[current]:
        raise InvalidRequest(
            f"The extract is {current.value}: only a held extract is released or withdrawn."
        )


def decided_extract(
    extract: Extract, state: ExtractState, by: str, reason: str | None, at: datetime
) -> Extract:
    """``extract`` moved to ``state`` by ``by`` at ``at``; refused unless ``NEXT_STATES``
    allows the move (no store records a move the state machine does not draw)."""
    check_extract_transition(extract.state, state)
    return replace(extract, state=state, decided_by=by, decided_at=at, reason=reason)


def newest_first(extracts: Iterable[Extract]) -> list[Extract]:
    """Extracts newest first, then by id: the order ``ExtractsStore.extracts`` answers in."""
    by_id = sorted(extracts, key=lambda e: e.extract_id)
    return sorted(by_id, key=lambda e: e.created_at, reverse=True)


DUPLICATE_EXTRACT = "An extract of this task is already recorded at this node."


class ExtractsStore(Audited, Protocol):
    """One transaction's view of the extraction approvals and the extracts built (and, as
    every module's store, its audit events: ``audit``)."""

    def latest(self, project_id: str) -> Decision | None:
        """The project's latest decision: its current state (``None``: never decided)."""
        ...

    def history(self, project_id: str) -> list[Decision]:
        """Every decision on the project, oldest first."""
        ...

    def current(self) -> list[Decision]:
        """The latest decision of every project decided, by project id."""
        ...

    def decide(
        self,
        project_id: str,
        state: ExtractionState,
        options: Sequence[str],
        *,
        by: str,
        reason: str | None = None,
        profile: str = BASIC_PROFILE,
    ) -> Decision:
        """Keep a new decision on the project, after its latest, decided now."""
        ...

    def project_state(self, project_id: str) -> str | None:
        """The state of the node's own approval of the project (``approved``, ``rejected``,
        ``revoked``; ``None``: no decision), as the node's custodian left it."""
        ...

    def add_extract(self, extract: Extract) -> Extract:
        """Keep a newly built extract; :class:`InvalidRequest` if one of its id is kept."""
        ...

    def extract(self, extract_id: str) -> Extract | None:
        """The extract of that id (``None``: none)."""
        ...

    def extracts(self, project_id: str | None = None) -> list[Extract]:
        """Every extract kept (or the project's), newest first, then by id."""
        ...

    def set_extract_state(
        self, extract_id: str, state: ExtractState, *, by: str, reason: str | None = None
    ) -> Extract:
        """Move the extract to ``state``, decided now by ``by`` (refused as
        ``decided_extract`` says; :class:`NotFoundOrNoPermission` if there is none)."""
        ...


def next_decision(
    last: Decision | None,
    project_id: str,
    state: ExtractionState,
    options: Sequence[str],
    by: str,
    reason: str | None,
    profile: str,
    at: datetime,
) -> Decision:
    """The decision that follows ``last`` (the project's latest, or None: its first)."""
    return Decision(
        project_id=project_id,
        seq=last.seq + 1 if last is not None else 1,
        state=state,
        profile=profile,
        options=tuple(options),
        decided_by=by,
        decided_at=at,
        reason=reason,
    )


@dataclass
class _Records:
    decisions: list[Decision] = field(default_factory=list)
    projects: dict[str, str] = field(default_factory=dict)  # the node's approvals' states
    extracts: dict[str, Extract] = field(default_factory=dict)  # by id


class MemoryExtracts(MemoryStore[_Records]):
    """The extraction approvals and extracts in memory, beside the node's project approvals'
    states (``set_project_state``: what the node's ``approvals`` table holds in a database)."""

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(_Records(), clock)

    def set_project_state(self, project_id: str, state: str | None) -> None:
        """The node's own decision on the project (``None``: none)."""
        if state is None:
            self._records.projects.pop(project_id, None)
        else:
            self._records.projects[project_id] = state

    def project_state(self, project_id: str) -> str | None:
        return self._records.projects.get(project_id)

    def history(self, project_id: str) -> list[Decision]:
        found = [d for d in self._records.decisions if d.project_id == project_id]
        return sorted(found, key=lambda d: d.seq)

    def latest(self, project_id: str) -> Decision | None:
        found = self.history(project_id)
        return found[-1] if found else None

    def current(self) -> list[Decision]:
        projects = sorted({d.project_id for d in self._records.decisions})
        return [d for p in projects if (d := self.latest(p)) is not None]

    def decide(
        self,
        project_id: str,
        state: ExtractionState,
        options: Sequence[str],
        *,
        by: str,
        reason: str | None = None,
        profile: str = BASIC_PROFILE,
    ) -> Decision:
        decision = next_decision(
            self.latest(project_id), project_id, state, options, by, reason, profile, self._clock()
        )
        self._records.decisions.append(decision)
        return decision

    def add_extract(self, extract: Extract) -> Extract:
        if extract.extract_id in self._records.extracts:
            raise InvalidRequest(DUPLICATE_EXTRACT)
        self._records.extracts[extract.extract_id] = extract
        return extract

    def extract(self, extract_id: str) -> Extract | None:
        return self._records.extracts.get(extract_id)

    def extracts(self, project_id: str | None = None) -> list[Extract]:
        kept = self._records.extracts.values()
        return newest_first(e for e in kept if project_id in (None, e.project_id))

    def set_extract_state(
        self, extract_id: str, state: ExtractState, *, by: str, reason: str | None = None
    ) -> Extract:
        found = self.extract(extract_id)
        if found is None:
            raise NotFoundOrNoPermission("extract")
        moved = decided_extract(found, state, by, reason, self._clock())
        self._records.extracts[extract_id] = moved
        return moved
