"""Projects as the hub knows them, and the per-node approval state nodes report.

The hub's record is what a custodian reviews; the node's own approval, bound to a project
version, is what decides whether anything runs there.
"""

from __future__ import annotations

import secrets
from datetime import date

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.audit.chain import append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.hub.db import AUDIT, Node, Project, ProjectMember, ProjectNode, User
from fivesafes.protocol.errors import InvalidRequest, NotFoundOrNoPermission
from fivesafes.protocol.models import (
    ANALYSES,
    ApprovalReport,
    ProjectRecord,
    ProjectView,
    SignedProject,
)
from fivesafes.protocol.signing import sign
from fivesafes.storage.types import utcnow


def create_project(
    session: Session,
    *,
    title: str,
    members: list[str],
    nodes: list[str],
    start_date: date,
    end_date: date,
    analyses: list[str] | None = None,
    by: str,
) -> Project:
    if not title.strip():
        raise InvalidRequest("A project needs a title.")
    if end_date < start_date:
        raise InvalidRequest("A project cannot end before it starts.")
    analyses = list(analyses or ANALYSES)
    unknown = sorted(set(analyses) - set(ANALYSES))
    if unknown:
        raise InvalidRequest(f"Unknown analyses: {', '.join(unknown)}.")
    users = _users(session, members)
    node_rows = _nodes(session, nodes)
    project = Project(
        id="p_" + secrets.token_hex(6),
        title=title.strip(),
        version=1,
        start_date=start_date,
        end_date=end_date,
        analyses=analyses,
        created_at=utcnow(),
    )
    session.add(project)
    session.flush()
    for user in users:
        session.add(ProjectMember(project_id=project.id, user_id=user.id))
    for node in node_rows:
        session.add(ProjectNode(project_id=project.id, node_id=node.id, approval="pending"))
    append_event(
        session,
        AUDIT,
        AuditEventType.PROJECT_CREATED,
        by=by,
        project_id=project.id,
        details={"title": project.title, "members": members, "nodes": nodes},
    )
    return project


def _users(session: Session, usernames: list[str]) -> list[User]:
    users = list(session.scalars(select(User).where(User.username.in_(usernames))))
    missing = sorted(set(usernames) - {u.username for u in users})
    if missing:
        raise InvalidRequest(f"Unknown users: {', '.join(missing)}.")
    return users


def _nodes(session: Session, names: list[str]) -> list[Node]:
    if not names:
        raise InvalidRequest("A project needs at least one node.")
    rows = list(session.scalars(select(Node).where(Node.name.in_(names))))
    missing = sorted(set(names) - {n.name for n in rows})
    if missing:
        raise InvalidRequest(f"Unknown or not yet enrolled nodes: {', '.join(missing)}.")
    return rows


def project_record(session: Session, project: Project) -> ProjectRecord:
    members = session.scalars(
        select(User.username)
        .join(ProjectMember, ProjectMember.user_id == User.id)
        .where(ProjectMember.project_id == project.id)
        .order_by(User.username)
    )
    nodes = session.scalars(
        select(Node.name)
        .join(ProjectNode, ProjectNode.node_id == Node.id)
        .where(ProjectNode.project_id == project.id)
        .order_by(Node.name)
    )
    return ProjectRecord(
        project_id=project.id,
        title=project.title,
        version=project.version,
        start_date=project.start_date,
        end_date=project.end_date,
        members=list(members),
        nodes=list(nodes),
        analyses=list(project.analyses),
    )


def is_member(session: Session, project_id: str, user: User) -> bool:
    row = session.get(ProjectMember, (project_id, user.id))
    return row is not None


def project_for_member(session: Session, project_id: str, user: User) -> Project:
    """The project, if ``user`` is a member; otherwise one answer for 'absent or not yours'."""
    project = session.get(Project, project_id)
    if project is None or not is_member(session, project_id, user):
        raise NotFoundOrNoPermission("project")
    return project


def project_for_node(
    session: Session, project_id: str, node: Node, key: Ed25519PrivateKey
) -> SignedProject:
    """The signed project record a custodian reviews; only for nodes the project names."""
    project = session.get(Project, project_id)
    if project is None or session.get(ProjectNode, (project_id, node.id)) is None:
        raise NotFoundOrNoPermission("project")
    payload = project_record(session, project).model_dump(mode="json")
    return SignedProject(payload=payload, signature=sign(payload, key))


def record_approval_report(session: Session, node: Node, report: ApprovalReport) -> None:
    link = session.get(ProjectNode, (report.project_id, node.id))
    if link is None:
        raise NotFoundOrNoPermission("project")
    link.approval = report.decision
    link.approved_version = report.version if report.decision == "approved" else None
    link.reported_at = utcnow()
    append_event(
        session,
        AUDIT,
        AuditEventType.APPROVAL_REPORTED,
        by=node.name,
        project_id=report.project_id,
        node=node.name,
        outcome=report.decision,
        details={"version": report.version},
    )


def project_view(session: Session, project: Project) -> ProjectView:
    record = project_record(session, project)
    approvals = {
        name: (
            f"approved v{version}" if approval == "approved" and version is not None else approval
        )
        for name, approval, version in session.execute(
            select(Node.name, ProjectNode.approval, ProjectNode.approved_version)
            .join(ProjectNode, ProjectNode.node_id == Node.id)
            .where(ProjectNode.project_id == project.id)
        )
    }
    return ProjectView(**record.model_dump(exclude={"analyses"}), approvals=approvals)


def projects_of(session: Session, user: User) -> list[Project]:
    return list(
        session.scalars(
            select(Project)
            .join(ProjectMember, ProjectMember.project_id == Project.id)
            .where(ProjectMember.user_id == user.id)
            .order_by(Project.created_at)
        )
    )
