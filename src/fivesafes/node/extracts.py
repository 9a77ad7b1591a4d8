"""Extraction at a node (``fivesafes.extracts``, ADR 0028): the module's service over this
node's database, its decisions read beside the node's own project approvals (an extract needs
both).

Releasing an extract also records its persons in the node's released person sets, in the
release's own transaction (as the airlock does for a held output: ``node/airlock.py``), so the
patient data account lists the project for every person whose images were released, and the
differencing defence counts them.
"""

from __future__ import annotations

from typing import Any

from pyroaring import BitMap
from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.extracts.service import Extracts
from fivesafes.extracts.sql_store import SqlExtracts
from fivesafes.extracts.store import Extract, ExtractsStore, ExtractState
from fivesafes.kit.store import SqlUnit
from fivesafes.node.db import AUDIT, EXTRACTS, Approval, NodeRun
from fivesafes.node.person_sets import record_person_set
from fivesafes.node.service import NodeService


class NodeExtractsStore(SqlExtracts):
    """The extracts' records at a node: a release records the extract's persons as released."""

    def set_extract_state(
        self, extract_id: str, state: ExtractState, *, by: str, reason: str | None = None
    ) -> Extract:
        moved = super().set_extract_state(extract_id, state, by=by, reason=reason)
        if moved.state is ExtractState.RELEASED and moved.persons:
            persons = BitMap(int(p) for p in moved.persons)
            answer: dict[str, Any] = {"analysis": "imaging_extract", "report": moved.report}
            record_person_set(
                self._s,
                moved.project_id,
                f"extract:{moved.extract_id}",
                _run_of(self._s, moved.task_id),
                persons,
                answer,
            )
        return moved


def _run_of(session: Session, task_id: str) -> str:
    """The node's run of the task (the patient data account names its analysis from it)."""
    found = session.scalars(select(NodeRun.run_id).where(NodeRun.task_id == task_id)).first()
    return found or task_id


def node_extracts(service: NodeService) -> Extracts:
    """The extraction approvals and extracts of the node ``service`` runs."""

    def store(session: Session) -> ExtractsStore:
        return NodeExtractsStore(session, EXTRACTS, AUDIT, projects=Approval.__table__)

    return Extracts(node=service.name, unit=SqlUnit(service.unit, store))
