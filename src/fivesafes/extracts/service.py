"""Extraction approvals and extracts at one node: its name and its transactions, wired once;
each method is one action in one transaction (``fivesafes.extracts.actions``).

    extracts = Extracts(node="northfield",
                        unit=sql_unit(core.unit, EXTRACTS, AUDIT, projects=Approval.__table__))
    extracts.approve("p_1", ["clean-descriptors"], by=custodian)
    extracts.hold(built)                       # the node, once an extract is built
    extracts.release("t_1", by=output_checker)

The same class runs on the in-memory store (``MemoryExtracts.transaction`` as ``unit``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import FromClause

from fivesafes.audit.chain import AuditTables
from fivesafes.extracts import actions
from fivesafes.extracts.policy import can_extract, check_extraction
from fivesafes.extracts.sql_store import SqlExtracts
from fivesafes.extracts.store import Decision, Extract, ExtractsStore
from fivesafes.extracts.tables import ExtractsTables
from fivesafes.governance.people import Actor
from fivesafes.imaging.deid.options import Options
from fivesafes.kit.store import SessionUnit, SqlUnit, Unit
from fivesafes.storage.types import utcnow

ExtractsUnit = Unit[ExtractsStore]
"""Runs an action on a store in one transaction: ``MemoryExtracts.transaction``, or
:func:`sql_unit` over a node's database."""


def sql_unit(
    unit: SessionUnit,
    tables: ExtractsTables,
    audit: AuditTables,
    *,
    projects: FromClause,
    clock: Callable[[], datetime] = utcnow,
) -> SqlUnit[ExtractsStore]:
    """A node's transactions (``ServiceCore.unit``) as the module's: each on a fresh
    :class:`SqlExtracts` over the unit's session, reading the node's approvals (``projects``)."""
    return SqlUnit(
        unit, lambda session: SqlExtracts(session, tables, audit, projects=projects, clock=clock)
    )


class Extracts:
    def __init__(self, *, node: str, unit: ExtractsUnit) -> None:
        self.node = node
        self._unit = unit

    def approve(self, project_id: str, options: Iterable[str], *, by: Actor) -> Decision:
        names = list(options)
        return self._unit(
            lambda s: actions.approve_extraction(s, project_id, names, by=by, node=self.node)
        )

    def revoke(self, project_id: str, reason: str, *, by: Actor) -> Decision:
        return self._unit(
            lambda s: actions.revoke_extraction(s, project_id, reason, by=by, node=self.node)
        )

    def decisions(self, *, by: Actor) -> list[Decision]:
        return self._unit(lambda s: actions.decisions(s, by=by, node=self.node))

    def current(self) -> list[Decision]:
        """Every project's current decision, for the node's own command line (as
        ``fivesafes node approvals`` lists the node's project decisions)."""
        return self._unit(lambda s: s.current())

    def history(self, project_id: str, *, by: Actor) -> list[Decision]:
        return self._unit(lambda s: actions.history(s, project_id, by=by, node=self.node))

    def check(self, project_id: str, options: Options) -> None:
        """Raise ``policy.ExtractionRefused`` unless the node allows this extract now."""
        self._unit(lambda s: check_extraction(s, project_id, options))

    def allows(self, project_id: str, options: Options) -> bool:
        return self._unit(lambda s: can_extract(s, project_id, options))

    def hold(self, extract: Extract) -> Extract:
        """Keep an extract this node built, held for an output checker (no person acts)."""
        return self._unit(lambda s: actions.hold_extract(s, extract, node=self.node))

    def release(self, extract_id: str, *, by: Actor) -> Extract:
        return self._unit(lambda s: actions.release_extract(s, extract_id, by=by, node=self.node))

    def withdraw(self, extract_id: str, reason: str, *, by: Actor) -> Extract:
        return self._unit(
            lambda s: actions.withdraw_extract(s, extract_id, reason, by=by, node=self.node)
        )

    def extracts(self, *, by: Actor, project_id: str | None = None) -> list[Extract]:
        return self._unit(
            lambda s: actions.list_extracts(s, by=by, node=self.node, project_id=project_id)
        )

    def extract(self, extract_id: str, *, by: Actor) -> Extract:
        return self._unit(lambda s: actions.get_extract(s, extract_id, by=by, node=self.node))
