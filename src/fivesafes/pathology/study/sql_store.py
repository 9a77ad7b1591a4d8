"""Review studies in the hub's database (``tables``), one transaction's view: constructed on
the unit's session, it does nothing until asked."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fivesafes.audit.chain import AuditTables
from fivesafes.kit.store import SqlStore
from fivesafes.pathology.study.design import StudyDesign, StudyState
from fivesafes.pathology.study.reads import Read, ReadState
from fivesafes.pathology.study.store import Approval, Assigned, Study, StudyCase
from fivesafes.pathology.study.tables import StudyTables
from fivesafes.protocol.errors import Conflict
from fivesafes.storage.types import utcnow


class SqlStudies(SqlStore):
    def __init__(
        self,
        session: Session,
        tables: StudyTables,
        audit_tables: AuditTables,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(session, audit_tables, clock=clock)
        self._t = tables

    # ---- studies -------------------------------------------------------------------------

    @staticmethod
    def _study(row: Any) -> Study:
        return Study(
            study_id=row.study_id,
            project_id=row.project_id,
            design=StudyDesign.model_validate(row.design),
            version=row.version,
            state=StudyState(row.state),
            key=bytes(row.key),
            seed=row.seed,
            created_by=row.created_by,
            created_at=row.created_at,
            locked_at=row.locked_at,
        )

    @staticmethod
    def _study_values(study: Study) -> dict[str, Any]:
        return {
            "project_id": study.project_id,
            "design": study.design.model_dump(mode="json"),
            "version": study.version,
            "state": study.state.value,
            "key": study.key,
            "seed": study.seed,
            "created_by": study.created_by,
            "created_at": study.created_at,
            "locked_at": study.locked_at,
        }

    def add_study(self, study: Study) -> None:
        if self.study(study.study_id) is not None:
            raise Conflict("A study of this id exists.")
        values = self._study_values(study)
        self._s.execute(insert(self._t.studies).values(study_id=study.study_id, **values))

    def study(self, study_id: str) -> Study | None:
        t = self._t.studies
        row = self._s.execute(select(t).where(t.c.study_id == study_id)).first()
        return self._study(row) if row is not None else None

    def studies(self, project_id: str | None = None) -> list[Study]:
        t = self._t.studies
        query = select(t).order_by(t.c.created_at, t.c.study_id)
        if project_id is not None:
            query = query.where(t.c.project_id == project_id)
        return [self._study(row) for row in self._s.execute(query)]

    def save_study(self, study: Study) -> None:
        t = self._t.studies
        values = self._study_values(study)
        self._s.execute(update(t).where(t.c.study_id == study.study_id).values(**values))

    # ---- approvals -----------------------------------------------------------------------

    def approve(self, approval: Approval) -> None:
        t = self._t.approvals
        key = (t.c.study_id == approval.study_id) & (t.c.node == approval.node)
        self._s.execute(t.delete().where(key))
        self._s.execute(
            insert(t).values(
                study_id=approval.study_id,
                node=approval.node,
                digest=approval.digest,
                approved_by=approval.by,
                approved_at=approval.at,
            )
        )

    def approvals(self, study_id: str) -> dict[str, Approval]:
        t = self._t.approvals
        rows = self._s.execute(select(t).where(t.c.study_id == study_id))
        return {
            r.node: Approval(r.study_id, r.node, r.digest, r.approved_by, r.approved_at)
            for r in rows
        }

    # ---- cases ---------------------------------------------------------------------------

    def add_cases(self, cases: list[StudyCase]) -> None:
        if not cases:
            return
        rows = [
            {"study_id": c.study_id, "case": c.case, "review_id": c.review_id, "site": c.site}
            for c in cases
        ]
        try:
            with self._s.begin_nested():
                self._s.execute(insert(self._t.cases), rows)
        except IntegrityError:
            raise Conflict("A case of this study is added twice.") from None

    def cases(self, study_id: str) -> list[StudyCase]:
        t = self._t.cases
        rows = self._s.execute(select(t).where(t.c.study_id == study_id).order_by(t.c.case))
        return [StudyCase(r.study_id, r.case, r.review_id, r.site) for r in rows]

    # ---- reads ---------------------------------------------------------------------------

    @staticmethod
    def _assigned(row: Any) -> Assigned:
        read = Read(
            read_id=row.read_id,
            reader=row.reader,
            case=row.case,
            condition=row.condition,
            reread=row.reread,
            state=ReadState(row.state),
            unaided=row.unaided,
            aided=row.aided,
            feedback=dict(row.feedback or {}),
            opened_at=row.opened_at,
            locked_at=row.locked_at,
            revealed_at=row.revealed_at,
            submitted_at=row.submitted_at,
            seconds=row.seconds,
        )
        return Assigned(row.study_id, row.position, read)

    @staticmethod
    def _read_values(read: Read) -> dict[str, Any]:
        return {
            "state": read.state.value,
            "unaided": read.unaided,
            "aided": read.aided,
            "feedback": dict(read.feedback),
            "opened_at": read.opened_at,
            "locked_at": read.locked_at,
            "revealed_at": read.revealed_at,
            "submitted_at": read.submitted_at,
            "seconds": read.seconds,
        }

    def add_reads(self, reads: list[Assigned]) -> None:
        if not reads:
            return
        rows = [
            {
                "read_id": a.read.read_id,
                "study_id": a.study_id,
                "reader": a.read.reader,
                "case": a.read.case,
                "position": a.position,
                "condition": a.read.condition,
                "reread": a.read.reread,
                **self._read_values(a.read),
            }
            for a in reads
        ]
        try:
            with self._s.begin_nested():
                self._s.execute(insert(self._t.reads), rows)
        except IntegrityError:
            raise Conflict("A read of this id exists.") from None

    def reads(self, study_id: str, reader: str | None = None) -> list[Assigned]:
        t = self._t.reads
        query = select(t).where(t.c.study_id == study_id).order_by(t.c.reader, t.c.position)
        if reader is not None:
            query = query.where(t.c.reader == reader)
        return [self._assigned(row) for row in self._s.execute(query)]

    def assigned(self, read_id: str) -> Assigned | None:
        t = self._t.reads
        row = self._s.execute(select(t).where(t.c.read_id == read_id)).first()
        return self._assigned(row) if row is not None else None

    def save_read(self, study_id: str, read: Read) -> None:
        t = self._t.reads
        where = (t.c.read_id == read.read_id) & (t.c.study_id == study_id)
        self._s.execute(update(t).where(where).values(**self._read_values(read)))
