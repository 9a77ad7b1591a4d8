"""What a node's custodian does: approve or revoke a project, by the node's own records.

An approval stores a snapshot of the hub's signed project record (version, members, analyses,
dates); tasks are then checked against the snapshot, not against anything the hub says later.
"""

from __future__ import annotations

from datetime import date

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.audit.chain import append_event
from fivesafes.audit.events import AuditEventType
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


def approve_project(
    session: Session, signed: SignedProject, registration: Registration, *, by: str
) -> Approval:
    record = verified_project(signed, registration)
    if registration.node_name not in record.nodes:
        raise InvalidRequest("The project does not ask for this node.")
    if record.end_date < date.today():
        raise InvalidRequest("The project has already ended.")
    approval = session.get(Approval, record.project_id)
    if approval is None:
        approval = Approval(project_id=record.project_id)
        session.add(approval)
    approval.version = record.version
    approval.title = record.title
    approval.members = list(record.members)
    approval.analyses = list(record.analyses)
    approval.start_date = record.start_date
    approval.end_date = record.end_date
    approval.state = "approved"
    approval.decided_at = utcnow()
    approval.decided_by = by
    approval.record_signature = signed.signature
    append_event(
        session,
        AUDIT,
        AuditEventType.PROJECT_APPROVED,
        by=by,
        project_id=record.project_id,
        node=registration.node_name,
        details={"version": record.version, "members": record.members},
    )
    return approval


def revoke_project(session: Session, project_id: str, *, by: str) -> Approval:
    approval = session.get(Approval, project_id)
    if approval is None:
        raise NotFoundOrNoPermission("approval")
    approval.state = "revoked"
    approval.decided_at = utcnow()
    approval.decided_by = by
    append_event(session, AUDIT, AuditEventType.PROJECT_REVOKED, by=by, project_id=project_id)
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
