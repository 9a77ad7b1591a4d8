"""Extraction approvals in the node's own database (``extracts.tables``), one transaction's
view: constructed on the unit's session, it does nothing until asked.

The node's approval of a project is read from the table the node passes in (``projects``:
any table with ``project_id`` and ``state``, at a node ``node.db.Approval.__table__``), so
this module never imports the node (docs/architecture.md, "Layers").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import FromClause, func, insert, select
from sqlalchemy.orm import Session

from fivesafes.audit.chain import AuditTables
from fivesafes.extracts.store import BASIC_PROFILE, Decision, ExtractionState, next_decision
from fivesafes.extracts.tables import ExtractsTables
from fivesafes.kit.store import SqlStore
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
