"""A node's custodian approving a review study (``fivesafes.pathology.study``) for this node.

The hub lists the studies this node takes part in; the node shows its custodian the design as
it received it and computes the design's digest itself, so what the custodian approves is what
they were shown, whatever the hub claims. The approval is checked here first (a custodian of
this node; the node has approved the study's project and it has not ended), written to this
node's audit log (``study_approved``), and then sent to the hub over the node's own signed
request. The node never listens. Sending again is harmless: the hub keeps the latest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.audit.chain import append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.data.source import DuckDBSource
from fivesafes.governance.errors import NotPermitted
from fivesafes.governance.roles import Role, node_scope
from fivesafes.node.accounts import acting
from fivesafes.node.db import AUDIT, SLIDE_RELEASES, Approval
from fivesafes.node.service import NodeService
from fivesafes.pathology.study.design import StudyDesign
from fivesafes.protocol.errors import InvalidRequest, NotFoundOrNoPermission
from fivesafes.slides.clinical import case_facts


@dataclass(frozen=True)
class OfferedStudy:
    """A study as the hub offered it, its digest computed here."""

    study_id: str
    project_id: str
    version: int
    state: str
    lead: str
    design: StudyDesign
    digest: str


def _offered(found: dict[str, Any]) -> OfferedStudy | None:
    try:
        design = StudyDesign.model_validate(found.get("design"))
        return OfferedStudy(
            study_id=str(found["study_id"]),
            project_id=str(found["project_id"]),
            version=int(found["version"]),
            state=str(found["state"]),
            lead=str(found["lead"]),
            design=design,
            digest=design.digest,
        )
    except (ValidationError, KeyError, TypeError, ValueError):
        return None  # not a study this node can show its custodian: never approved


def listed(service: NodeService) -> list[OfferedStudy]:
    """The studies this node takes part in that wait for approval or are open."""
    transport = service.transport()
    try:
        found = transport.list_studies()
    finally:
        transport.close()
    studies = [s for s in (_offered(f) for f in found) if s is not None]
    return [s for s in studies if service.name in s.design.nodes]


def study(service: NodeService, study_id: str) -> OfferedStudy:
    for offered in listed(service):
        if offered.study_id == study_id:
            return offered
    raise NotFoundOrNoPermission("study")


def _record(session: Session, service: NodeService, offered: OfferedStudy, by: str) -> None:
    actor = acting(session, by, service.name)
    if not actor.account.holds(Role.CUSTODIAN, node_scope(service.name)):
        raise NotPermitted(f"Only a custodian of {service.name} approves review studies here.")
    approval = session.execute(
        select(Approval.state, Approval.end_date).where(Approval.project_id == offered.project_id)
    ).one_or_none()
    if approval is None or approval.state != "approved":
        raise InvalidRequest(
            "This node has not approved the study's project: approve it first "
            "(fivesafes node approve)."
        )
    if approval.end_date < date.today():
        raise InvalidRequest("The study's project has ended.")
    append_event(
        session, AUDIT, AuditEventType.STUDY_APPROVED, by=by, project_id=offered.project_id,
        node=service.name,
        details={"study": offered.study_id, "version": offered.version, "digest": offered.digest},
    )  # fmt: skip


def clinical_facts(service: NodeService, offered: OfferedStudy) -> dict[str, dict[str, str]]:
    """Release id -> the clinical facts the study asks for, of every slide this node released
    to the study's project, each through the node's rule for one case's display
    (``slides.clinical``) at the node's own disclosure threshold."""
    fields = list(offered.design.clinical_fields)
    data = service.config.data
    if not fields or not isinstance(data, DuckDBSource):
        return {}
    t = SLIDE_RELEASES
    rows = service.read(
        lambda s: s.execute(
            select(t.c.release_id, t.c.slide_id).where(
                t.c.project_id == offered.project_id, t.c.state != "withdrawn"
            )
        ).all()
    )
    by_slide = {slide: release for release, slide in rows}
    threshold = service.config.profile.threshold
    facts = case_facts(data.path, list(by_slide), fields, threshold)
    return {by_slide[slide]: shown for slide, shown in facts.items()}


def approve(service: NodeService, study_id: str, *, by: str) -> OfferedStudy:
    """Approve the study's current version for this node, and tell the hub, with the clinical
    facts its cases may show."""
    offered = study(service, study_id)
    service.unit(lambda s: _record(s, service, offered, by))
    facts = clinical_facts(service, offered)
    transport = service.transport()
    try:
        transport.approve_study(study_id, offered.digest, by, facts)
    finally:
        transport.close()
    return offered
