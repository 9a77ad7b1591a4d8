"""Where extraction approvals are kept: a small interface, and an in-memory implementation.

An :class:`ExtractsStore` is one transaction's view of the module's records: the actions
(``fivesafes.extracts.actions``) read the project's decisions, add one and write its audit
event through the same store, so both commit together or neither does. It also reads, never
writes, the node's own approval of the project (``project_state``): extraction is a
permission beside the project's approval, never instead of it. ``sql_store.SqlExtracts``
keeps the decisions in the node's database; :class:`MemoryExtracts` in a list (tests, and a
quick look at the rules). One test suite runs against memory, SQLite and PostgreSQL
(``tests/unit/test_extracts_store.py``, on ``tests/store_suite.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from fivesafes.kit.store import Audited, MemoryStore
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


class ExtractsStore(Audited, Protocol):
    """One transaction's view of the extraction approvals (and, as every module's store, its
    audit events: ``audit``)."""

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


class MemoryExtracts(MemoryStore[_Records]):
    """The extraction approvals in memory, beside the node's project approvals' states
    (``set_project_state``: what the node's ``approvals`` table holds in a database)."""

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
