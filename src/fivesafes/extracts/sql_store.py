"""Extraction approvals and extracts in the node's own database (``extracts.tables``), one
transaction's view: constructed on the unit's session, it does nothing until asked.

The node's approval of a project is read from the table the node passes in (``projects``:
any table with ``project_id`` and ``state``, at a node ``node.db.Approval.__table__``), so
this module never imports the node (docs/architecture.md, "Layers").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import FromClause, func, insert, select, update
from sqlalchemy.orm import Session

from fivesafes.audit.chain import AuditTables
from fivesafes.extracts.store import (
    BASIC_PROFILE,
    DUPLICATE_EXTRACT,
    Decision,
    Extract,
    ExtractionState,
    ExtractState,
    decided_extract,
    next_decision,
)
from fivesafes.extracts.tables import ExtractsTables
from fivesafes.kit.store import SqlStore
from fivesafes.protocol.errors import InvalidRequest, NotFoundOrNoPermission
from fivesafes.storage.types import utcnow


class SqlExtracts(SqlStore):
    def __init__(
        self,
        session: Session,
        tables: ExtractsTables,
        audit_tables: AuditTables,
        *,
        projects: FromClause,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(session, audit_tables, clock=clock)
        self._t = tables
        self._projects = projects

    @staticmethod
    def _decision(row: Any) -> Decision:
        return Decision(
            project_id=row.project_id,
            seq=row.seq,
            state=ExtractionState(row.state),
            profile=row.profile,
            options=tuple(row.options),
            decided_by=row.decided_by,
            decided_at=row.decided_at,
            reason=row.reason,
        )

    def project_state(self, project_id: str) -> str | None:
        p = self._projects
        found = self._s.execute(select(p.c.state).where(p.c.project_id == project_id)).scalar()
        return str(found) if found is not None else None

    def history(self, project_id: str) -> list[Decision]:
        a = self._t.approvals
        rows = self._s.execute(select(a).where(a.c.project_id == project_id).order_by(a.c.seq))
        return [self._decision(row) for row in rows]

    def latest(self, project_id: str) -> Decision | None:
        a = self._t.approvals
        row = self._s.execute(
            select(a).where(a.c.project_id == project_id).order_by(a.c.seq.desc()).limit(1)
        ).first()
        return self._decision(row) if row is not None else None

    def current(self) -> list[Decision]:
        a = self._t.approvals
        last = (
            select(a.c.project_id, func.max(a.c.seq).label("seq"))
            .group_by(a.c.project_id)
            .subquery()
        )
        rows = self._s.execute(
            select(a)
            .join(last, (a.c.project_id == last.c.project_id) & (a.c.seq == last.c.seq))
            .order_by(a.c.project_id)
        )
        return [self._decision(row) for row in rows]

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
        self._s.execute(
            insert(self._t.approvals).values(
                project_id=decision.project_id,
                seq=decision.seq,
                state=decision.state.value,
                profile=decision.profile,
                options=list(decision.options),
                decided_by=decision.decided_by,
                decided_at=decision.decided_at,
                reason=decision.reason,
            )
        )
        return decision

    @staticmethod
    def _extract(row: Any) -> Extract:
        return Extract(
            extract_id=row.extract_id,
            project_id=row.project_id,
            task_id=row.task_id,
            requester=row.requester,
            state=ExtractState(row.state),
            options=tuple(row.options),
            folder=row.folder,
            report=dict(row.report),
            persons=tuple(row.persons),
            created_at=row.created_at,
            decided_by=row.decided_by,
            decided_at=row.decided_at,
            reason=row.reason,
        )

    def add_extract(self, extract: Extract) -> Extract:
        # asked first, not caught from the insert: a failed insert would end the transaction
        if self.extract(extract.extract_id) is not None:
            raise InvalidRequest(DUPLICATE_EXTRACT)
        self._s.execute(
            insert(self._t.extracts).values(
                extract_id=extract.extract_id,
                project_id=extract.project_id,
                task_id=extract.task_id,
                requester=extract.requester,
                state=extract.state.value,
                options=list(extract.options),
                folder=extract.folder,
                report=extract.report,
                persons=list(extract.persons),
                created_at=extract.created_at,
                decided_by=extract.decided_by,
                decided_at=extract.decided_at,
                reason=extract.reason,
            )
        )
        return extract

    def extract(self, extract_id: str) -> Extract | None:
        x = self._t.extracts
        row = self._s.execute(select(x).where(x.c.extract_id == extract_id)).first()
        return self._extract(row) if row is not None else None

    def extracts(self, project_id: str | None = None) -> list[Extract]:
        x = self._t.extracts
        query = select(x).order_by(x.c.created_at.desc(), x.c.extract_id)
        if project_id is not None:
            query = query.where(x.c.project_id == project_id)
        return [self._extract(row) for row in self._s.execute(query)]

    def set_extract_state(
        self, extract_id: str, state: ExtractState, *, by: str, reason: str | None = None
    ) -> Extract:
        found = self.extract(extract_id)
        if found is None:
            raise NotFoundOrNoPermission("extract")
        moved = decided_extract(found, state, by, reason, self._clock())
        x = self._t.extracts
        changed = self._s.execute(
            update(x)
            .where(x.c.extract_id == extract_id, x.c.state == found.state.value)
            .values(
                state=moved.state.value,
                decided_by=moved.decided_by,
                decided_at=moved.decided_at,
                reason=moved.reason,
            )
        )
        if not getattr(changed, "rowcount", 0):  # decided by another transaction meanwhile
            raise InvalidRequest("The extract was decided meanwhile: look at it again.")
        return moved
