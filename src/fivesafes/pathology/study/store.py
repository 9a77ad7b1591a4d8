"""Where a hub keeps its review studies: a small interface (the kit's store port) and an
in-memory implementation; the actions (``actions``) change records and write their audit
events through one store, so both commit together or neither does.

| record        | one per                                                                  |
| ------------- | ------------------------------------------------------------------------ |
| ``Study``     | study: its project, current design and version, state, pseudonym key    |
| ``Approval``  | node's custodian approval of one version of a study (the latest kept)    |
| ``StudyCase`` | case: its pseudonym in the study, the review store's slide, its hospital |
| ``Assigned``  | read of a case by a reader: its place in the reader's worklist and the   |
|               | read itself (``reads.Read``)                                              |

A case's hospital (``site``) is kept to allocate and to report per site; no reader's view
carries it. The pseudonym key never leaves the hub.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from fivesafes.kit.store import Audited, MemoryStore
from fivesafes.pathology.study.design import StudyDesign, StudyState
from fivesafes.pathology.study.reads import Read
from fivesafes.protocol.errors import Conflict
from fivesafes.storage.types import utcnow


@dataclass(frozen=True)
class Study:
    study_id: str
    project_id: str
    design: StudyDesign
    version: int
    state: StudyState
    key: bytes  # the study's pseudonym key for its cases: never shown, never sent
    seed: int  # the study's allocation seed, chosen by the hub
    created_by: str
    created_at: datetime
    locked_at: datetime | None = None


@dataclass(frozen=True)
class Approval:
    study_id: str
    node: str
    digest: str  # the version approved
    by: str
    at: datetime


@dataclass(frozen=True)
class StudyCase:
    study_id: str
    case: str  # its pseudonym in this study
    review_id: str  # the review store's slide
    site: str  # the hospital (node) it came from: allocation and per-site results only


@dataclass(frozen=True)
class Assigned:
    study_id: str
    position: int  # in the reader's worklist, from 1
    read: Read


class StudyStore(Audited, Protocol):
    def add_study(self, study: Study) -> None: ...

    def study(self, study_id: str) -> Study | None: ...

    def studies(self, project_id: str | None = None) -> list[Study]: ...

    def save_study(self, study: Study) -> None: ...

    def approve(self, approval: Approval) -> None:
        """Keep the node's approval (replacing its earlier one)."""
        ...

    def approvals(self, study_id: str) -> dict[str, Approval]: ...

    def add_cases(self, cases: list[StudyCase]) -> None: ...

    def cases(self, study_id: str) -> list[StudyCase]: ...

    def add_reads(self, reads: list[Assigned]) -> None: ...

    def reads(self, study_id: str, reader: str | None = None) -> list[Assigned]:
        """The study's reads (or one reader's), by reader then position."""
        ...

    def assigned(self, read_id: str) -> Assigned | None: ...

    def save_read(self, study_id: str, read: Read) -> None: ...


@dataclass
class _Records:
    studies: dict[str, Study] = field(default_factory=dict)
    approvals: dict[tuple[str, str], Approval] = field(default_factory=dict)
    cases: dict[tuple[str, str], StudyCase] = field(default_factory=dict)
    reads: dict[str, Assigned] = field(default_factory=dict)


class MemoryStudies(MemoryStore[_Records]):
    """Review studies in memory: tests, and a quick look at the rules."""

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(_Records(), clock)

    def add_study(self, study: Study) -> None:
        if study.study_id in self._records.studies:
            raise Conflict("A study of this id exists.")
        self._records.studies[study.study_id] = study

    def study(self, study_id: str) -> Study | None:
        return self._records.studies.get(study_id)

    def studies(self, project_id: str | None = None) -> list[Study]:
        found = [
            s
            for s in self._records.studies.values()
            if project_id is None or s.project_id == project_id
        ]
        return sorted(found, key=lambda s: (s.created_at, s.study_id))

    def save_study(self, study: Study) -> None:
        self._records.studies[study.study_id] = study

    def approve(self, approval: Approval) -> None:
        self._records.approvals[(approval.study_id, approval.node)] = approval

    def approvals(self, study_id: str) -> dict[str, Approval]:
        return {n: a for (s, n), a in self._records.approvals.items() if s == study_id}

    def add_cases(self, cases: list[StudyCase]) -> None:
        for case in cases:
            if (case.study_id, case.case) in self._records.cases:
                raise Conflict("A case of this study is added twice.")
        for case in cases:
            self._records.cases[(case.study_id, case.case)] = case

    def cases(self, study_id: str) -> list[StudyCase]:
        found = [c for (s, _), c in self._records.cases.items() if s == study_id]
        return sorted(found, key=lambda c: c.case)

    def add_reads(self, reads: list[Assigned]) -> None:
        for assigned in reads:
            if assigned.read.read_id in self._records.reads:
                raise Conflict("A read of this id exists.")
        for assigned in reads:
            self._records.reads[assigned.read.read_id] = assigned

    def reads(self, study_id: str, reader: str | None = None) -> list[Assigned]:
        found = [
            a
            for a in self._records.reads.values()
            if a.study_id == study_id and (reader is None or a.read.reader == reader)
        ]
        return sorted(found, key=lambda a: (a.read.reader, a.position))

    def assigned(self, read_id: str) -> Assigned | None:
        return self._records.reads.get(read_id)

    def save_read(self, study_id: str, read: Read) -> None:
        current = self._records.reads[read.read_id]
        self._records.reads[read.read_id] = Assigned(study_id, current.position, read)
