"""Extraction approvals at a node (``fivesafes.extracts``, ADR 0028): the module's service over
this node's database, its decisions read beside the node's own project approvals (an extract
needs both)."""

from __future__ import annotations

from fivesafes.extracts.service import Extracts, sql_unit
from fivesafes.node.db import AUDIT, EXTRACTS, Approval
from fivesafes.node.service import NodeService


def node_extracts(service: NodeService) -> Extracts:
    """The extraction approvals of the node ``service`` runs."""
    unit = sql_unit(service.unit, EXTRACTS, AUDIT, projects=Approval.__table__)
    return Extracts(node=service.name, unit=unit)
