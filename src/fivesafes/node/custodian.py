"""What a node's custodian does: approve, reject or revoke a project, by the node's own
records.

An approval stores a snapshot of the hub's signed project record (version, members, dates)
and what the custodian allows: the analyses (``name@version``, a subset of the project's),
and whether every output waits for an output checker (``outputs_to_airlock``). Tasks are then
checked against the snapshot, not against anything the hub says later. A rejection is kept
with its reason; a new version of the project is a new decision.

| decision | from                     | to         | who (``governance.permissions``)     |
| -------- | ------------------------ | ---------- | ------------------------------------ |
| approve  | none, rejected, revoked, an earlier version | approved | the node's custodians |
| reject   | none, approved, revoked  | rejected   | the node's custodians                |
| revoke   | approved                 | revoked    | the node's custodians and TRE admins |
"""

from __future__ import annotations

from datetime import date

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.audit.chain import append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.governance.analyses import refs
from fivesafes.governance.people import Actor
from fivesafes.governance.permissions import check_decide_project, check_revoke_project
from fivesafes.governance.risk import tier_of
from fivesafes.node.db import AUDIT, Approval, Registration
from fivesafes.protocol.errors import BadSignature, InvalidRequest, NotFoundOrNoPermission
from fivesafes.protocol.models import ProjectRecord, SignedProject
from fivesafes.protocol.signing import verify
from fivesafes.storage.types import utcnow


def verified_project(signed: SignedProject, registration: Registration) -> ProjectRecord:
    try:
        verify(signed.payload, signed.signature, registration.hub_public_key)
        return ProjectRecord.model_validate(signed.payload)
    except (BadSignature, ValidationError) as exc:
        raise BadSignature("The project record is not signed by the hub this node trusts.") from exc


def _snapshot(
    session: Session,
    record: ProjectRecord,
    signed: SignedProject,
    *,
    state: str,
    by: Actor,
    analyses: list[str],
) -> Approval:
    approval = session.get(Approval, record.project_id)
    if approval is None:
        approval = Approval(project_id=record.project_id)
        session.add(approval)
    approval.version = record.version
    approval.title = record.title
    approval.members = list(record.members)
    approval.analyses = analyses
    approval.start_date = record.start_date
    approval.end_date = record.end_date
    approval.state = state
    approval.decided_at = utcnow()
    approval.decided_by = by.username
    approval.record_signature = signed.signature
    approval.risk_tier = tier_of(record).tier
    approval.purpose = record.purpose or None
    approval.lay_summary = record.lay_summary or None
    approval.data_domains = [str(domain) for domain in record.data_domains]
    return approval


def approve_project(
    session: Session,
    signed: SignedProject,
    registration: Registration,
    *,
    by: Actor,
    analyses: list[str] | None = None,
    outputs_to_airlock: bool = False,
) -> Approval:
    """Approve this version of the project for this node; ``analyses`` narrows what runs here
    (default: every analysis the project asks for)."""
    check_decide_project(by, registration.node_name)
    record = verified_project(signed, registration)
    if registration.node_name not in record.nodes:
        raise InvalidRequest("The project does not ask for this node.")
    if record.end_date < date.today():
        raise InvalidRequest("The project has already ended.")
    allowed = sorted(refs(analyses)) if analyses else sorted(record.analyses)
    beyond = sorted(set(allowed) - set(record.analyses))
    if beyond:
        raise InvalidRequest(f"The project does not ask for {', '.join(beyond)}.")
    approval = _snapshot(session, record, signed, state="approved", by=by, analyses=allowed)
    approval.outputs_to_airlock = outputs_to_airlock
    approval.reason = None
    append_event(
        session,
        AUDIT,
        AuditEventType.PROJECT_APPROVED,
        by=by.username,
        project_id=record.project_id,
        node=registration.node_name,
        details={
            "version": record.version,
            "members": record.members,
            "analyses": allowed,
            "outputs_to_airlock": outputs_to_airlock,
            "risk_tier": approval.risk_tier,
        },
    )
    return approval


def reject_project(
    session: Session,
    signed: SignedProject,
    registration: Registration,
    *,
    by: Actor,
    reason: str,
) -> Approval:
    """Reject this version of the project at this node, saying why (the hub is told)."""
    check_decide_project(by, registration.node_name)
    reason = reason.strip()
    if not reason:
        raise InvalidRequest("Say why the project is rejected.")
    if len(reason) > 1000:
        raise InvalidRequest("A rejection's reason has at most 1000 characters.")
    record = verified_project(signed, registration)
    if registration.node_name not in record.nodes:
        raise InvalidRequest("The project does not ask for this node.")
    approval = _snapshot(session, record, signed, state="rejected", by=by, analyses=[])
    approval.outputs_to_airlock = False
    approval.reason = reason
    append_event(
        session,
        AUDIT,
        AuditEventType.PROJECT_REJECTED,
        by=by.username,
        project_id=record.project_id,
        node=registration.node_name,
        details={"version": record.version, "reason": reason},
    )
    return approval


def revoke_project(session: Session, project_id: str, *, by: Actor, node: str) -> Approval:
    check_revoke_project(by, node)
    approval = session.get(Approval, project_id)
    if approval is None or approval.state != "approved":
        raise NotFoundOrNoPermission("approval")
    approval.state = "revoked"
    approval.decided_at = utcnow()
    approval.decided_by = by.username
    append_event(
        session, AUDIT, AuditEventType.PROJECT_REVOKED, by=by.username, project_id=project_id
    )
    return approval


def approvals(session: Session) -> list[Approval]:
    return list(session.scalars(select(Approval).order_by(Approval.decided_at)))


def trust_hub(
    session: Session, *, node_name: str, hub_url: str, hub_name: str, hub_public_key: str, by: str
) -> Registration:
    """Pin the hub's key at enrolment; later tasks must verify against it."""
    existing = session.get(Registration, 1)
    if existing is not None:
        raise InvalidRequest("This node is already enrolled.")
    registration = Registration(
        id=1,
        node_name=node_name,
        hub_url=hub_url,
        hub_name=hub_name,
        hub_public_key=hub_public_key,
        enrolled_at=utcnow(),
    )
    session.add(registration)
    append_event(
        session,
        AUDIT,
        AuditEventType.HUB_TRUSTED,
        by=by,
        node=node_name,
        details={"hub": hub_name, "hub_url": hub_url},
    )
    return registration
