"""Projects as the hub knows them: terms, versions and history, and the per-node approval
state nodes report.

The hub's record is what a custodian reviews; the node's own approval, bound to a project
version, is what decides whether anything runs there. Changing what the project may do, for
whom, where, with what or when makes a new version (``governance.projects``), which each node's
custodian approves again: until they do, their node refuses the new version's tasks.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import date

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from fivesafes.audit.chain import append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.governance import analyses as refs
from fivesafes.governance.people import Actor
from fivesafes.governance.permissions import (
    ProjectAccess,
    check_create_project,
    check_edit_project,
    check_list_projects,
    check_see_project,
)
from fivesafes.governance.projects import (
    DataDomain,
    Linkage,
    ProjectTerms,
    Sensitivity,
    changed_fields,
    check_terms,
    domains,
    needs_new_version,
)
from fivesafes.governance.risk import tier_of
from fivesafes.governance.roles import HUB, Role
from fivesafes.hub.db import (
    AUDIT,
    Node,
    Organisation,
    Project,
    ProjectMember,
    ProjectNode,
    ProjectVersion,
    User,
)
from fivesafes.hub.people import hub_accounts
from fivesafes.protocol.errors import Conflict, InvalidRequest, NotFoundOrNoPermission
from fivesafes.protocol.models import (
    ApprovalReport,
    NodeApprovalView,
    ProjectEdit,
    ProjectPerson,
    ProjectRecord,
    ProjectRequest,
    ProjectVersionView,
    ProjectView,
    SignedProject,
)
from fivesafes.protocol.signing import sign
from fivesafes.storage.types import utcnow

# ---- creating -------------------------------------------------------------------------------


def create_project(
    session: Session,
    *,
    title: str,
    members: list[str],
    nodes: list[str],
    start_date: date,
    end_date: date,
    analyses: Iterable[str] | None = None,
    lay_summary: str = "",
    purpose: str = "",
    public_benefit: str = "",
    pi: str | None = None,
    data_domains: Iterable[str] = ("omop",),
    sensitivity: str = "standard",
    linkage: str = "none",
    by: str,
) -> Project:
    """Create a project at version 1 (no permission check: the hub admin's CLI and the API
    route, after :func:`create_project_as`'s check, call this)."""
    try:
        terms = ProjectTerms(
            title=title.strip(),
            lay_summary=lay_summary,
            purpose=purpose,
            public_benefit=public_benefit,
            pi=pi,
            members=frozenset(members),
            nodes=frozenset(nodes),
            data_domains=domains(tuple(data_domains)),
            analyses=refs.refs(analyses) if analyses is not None else refs.every_builtin(),
            start_date=start_date,
            end_date=end_date,
            sensitivity=Sensitivity(sensitivity),
            linkage=Linkage(linkage),
        )
    except ValueError as exc:  # an unknown sensitivity or linkage
        raise InvalidRequest(str(exc)) from None
    check_terms(terms)
    users = _researchers(session, terms.members)
    node_rows = _nodes(session, terms.nodes)
    project = Project(
        id="p_" + secrets.token_hex(6),
        title=terms.title,
        version=1,
        start_date=terms.start_date,
        end_date=terms.end_date,
        analyses=sorted(terms.analyses),
        created_at=utcnow(),
        lay_summary=terms.lay_summary,
        purpose=terms.purpose,
        public_benefit=terms.public_benefit,
        pi_id=users[terms.pi].id if terms.pi else None,
        data_domains=sorted(d.value for d in terms.data_domains),
        sensitivity=terms.sensitivity.value,
        linkage=terms.linkage.value,
    )
    session.add(project)
    session.flush()
    for user in users.values():
        session.add(ProjectMember(project_id=project.id, user_id=user.id))
    for node in node_rows:
        session.add(ProjectNode(project_id=project.id, node_id=node.id, approval="pending"))
    session.flush()
    _record_version(session, project, [], by)
    append_event(
        session,
        AUDIT,
        AuditEventType.PROJECT_CREATED,
        by=by,
        project_id=project.id,
        details={
            "title": project.title,
            "members": sorted(terms.members),
            "nodes": sorted(terms.nodes),
            "pi": terms.pi,
        },
    )
    return project


def create_project_as(session: Session, request: ProjectRequest, actor: Actor) -> Project:
    """``POST /api/v1/projects``: an accredited researcher (who becomes its PI unless they
    name another member) or a hub admin."""
    check_create_project(actor, utcnow().date())
    is_admin = actor.account.holds(Role.HUB_ADMIN)
    members = list(request.members)
    pi = request.pi
    if not is_admin:
        pi = pi or actor.username
        if actor.username not in members:
            members.append(actor.username)
    return create_project(
        session,
        title=request.title,
        members=members,
        nodes=list(request.nodes),
        start_date=request.start_date,
        end_date=request.end_date,
        analyses=request.analyses,
        lay_summary=request.lay_summary,
        purpose=request.purpose,
        public_benefit=request.public_benefit,
        pi=pi,
        data_domains=[d.value for d in request.data_domains],
        sensitivity=request.sensitivity.value,
        linkage=request.linkage.value,
        by=actor.username,
    )


def _researchers(session: Session, usernames: Iterable[str]) -> dict[str, User]:
    names = sorted(set(usernames))
    users = {u.username: u for u in session.scalars(select(User).where(User.username.in_(names)))}
    missing = [n for n in names if n not in users]
    if missing:
        raise InvalidRequest(f"Unknown users: {', '.join(missing)}.")
    store = hub_accounts()
    not_researchers = []
    for name, user in users.items():
        account = store.get(session, user.id)
        if (
            account is None
            or account.disabled
            or not (account.holds(Role.RESEARCHER, HUB) or account.holds(Role.REVIEWER, HUB))
        ):  # a reviewer is a member to read a review study's cases, never to submit work
            not_researchers.append(name)
    if not_researchers:
        raise InvalidRequest(
            "Project members must be researchers or reviewers: "
            f"{', '.join(sorted(not_researchers))}."
        )
    return users


def _nodes(session: Session, names: Iterable[str]) -> list[Node]:
    wanted = sorted(set(names))
    if not wanted:
        raise InvalidRequest("A project needs at least one node.")
    rows = list(session.scalars(select(Node).where(Node.name.in_(wanted))))
    missing = sorted(set(wanted) - {n.name for n in rows})
    if missing:
        raise InvalidRequest(f"Unknown or not yet enrolled nodes: {', '.join(missing)}.")
    return rows


# ---- reading --------------------------------------------------------------------------------


# who may read or ask a project's tasks is looked up on every researcher's request about a
# task: these statements are built once
_MEMBER_NAMES = (
    select(User.username)
    .join(ProjectMember, ProjectMember.user_id == User.id)
    .where(ProjectMember.project_id == bindparam("project_id"))
    .order_by(User.username)
)
_PROJECT_AND_PI = (
    select(Project.id, User.username)
    .outerjoin(User, User.id == Project.pi_id)
    .where(Project.id == bindparam("project_id"))
)


def member_names(session: Session, project_id: str) -> list[str]:
    return list(session.scalars(_MEMBER_NAMES, {"project_id": project_id}))


def node_names(session: Session, project_id: str) -> list[str]:
    return list(
        session.scalars(
            select(Node.name)
            .join(ProjectNode, ProjectNode.node_id == Node.id)
            .where(ProjectNode.project_id == project_id)
            .order_by(Node.name)
        )
    )


def pi_name(session: Session, project: Project) -> str | None:
    if project.pi_id is None:
        return None
    user = session.get(User, project.pi_id)
    return user.username if user else None


def project_access(session: Session, project: Project) -> ProjectAccess:
    return ProjectAccess(
        project.id, pi_name(session, project), frozenset(member_names(session, project.id))
    )


def access_to(session: Session, project_id: str) -> ProjectAccess | None:
    """``project_access`` of the project ``project_id`` (None if there is none), without
    loading the project: what a task's permissions need."""
    found = session.execute(_PROJECT_AND_PI, {"project_id": project_id}).first()
    if found is None:
        return None
    return ProjectAccess(found.id, found.username, frozenset(member_names(session, project_id)))


def terms_of(session: Session, project: Project) -> ProjectTerms:
    return ProjectTerms(
        title=project.title,
        lay_summary=project.lay_summary,
        purpose=project.purpose,
        public_benefit=project.public_benefit,
        pi=pi_name(session, project),
        members=frozenset(member_names(session, project.id)),
        nodes=frozenset(node_names(session, project.id)),
        data_domains=frozenset(DataDomain(d) for d in project.data_domains),
        analyses=frozenset(project.analyses),
        start_date=project.start_date,
        end_date=project.end_date,
        sensitivity=Sensitivity(project.sensitivity),
        linkage=Linkage(project.linkage),
    )


def project_record(session: Session, project: Project) -> ProjectRecord:
    people = []
    rows = session.execute(
        select(User, Organisation.kind)
        .join(ProjectMember, ProjectMember.user_id == User.id)
        .outerjoin(Organisation, Organisation.name == User.organisation)
        .where(ProjectMember.project_id == project.id)
        .order_by(User.username)
    )
    for user, kind in rows:
        people.append(
            ProjectPerson(
                username=user.username,
                display_name=user.display_name,
                organisation=user.organisation,
                organisation_kind=kind,
                accredited_until=user.accredited_until,
            )
        )
    return ProjectRecord(
        project_id=project.id,
        title=project.title,
        version=project.version,
        start_date=project.start_date,
        end_date=project.end_date,
        members=[p.username for p in people],
        nodes=node_names(session, project.id),
        analyses=sorted(project.analyses),
        lay_summary=project.lay_summary,
        purpose=project.purpose,
        public_benefit=project.public_benefit,
        pi=pi_name(session, project),
        data_domains=[DataDomain(d) for d in sorted(project.data_domains)],
        sensitivity=Sensitivity(project.sensitivity),
        linkage=Linkage(project.linkage),
        people=people,
    )


def project_for(session: Session, project_id: str, actor: Actor) -> Project:
    """The project, if ``actor`` may see it; otherwise one answer for 'absent or not yours'."""
    project = session.get(Project, project_id)
    if project is None:
        raise NotFoundOrNoPermission("project")
    check_see_project(actor, project_access(session, project))
    return project


def projects_visible_to(session: Session, actor: Actor) -> list[Project]:
    check_list_projects(actor)
    query = select(Project).order_by(Project.created_at)
    if not actor.account.holds(Role.HUB_ADMIN):
        query = query.join(ProjectMember, ProjectMember.project_id == Project.id).where(
            ProjectMember.user_id == actor.id
        )
    if actor.scope is not None and actor.scope.project_id is not None:
        query = query.where(Project.id == actor.scope.project_id)
    return list(session.scalars(query))


def project_view(session: Session, project: Project) -> ProjectView:
    record = project_record(session, project)
    states: dict[str, NodeApprovalView] = {}
    approvals: dict[str, str] = {}
    for name, link in session.execute(
        select(Node.name, ProjectNode)
        .join(ProjectNode, ProjectNode.node_id == Node.id)
        .where(ProjectNode.project_id == project.id)
        .order_by(Node.name)
    ):
        state = link.approval if link.approval in ("approved", "rejected", "revoked") else "pending"
        version = link.approved_version
        states[name] = NodeApprovalView(
            state=state,
            version=version,
            current=state == "approved" and version == project.version,
            reason=link.reason,
            reported_at=link.reported_at,
        )
        approvals[name] = f"approved v{version}" if state == "approved" and version else state
    tier = tier_of(record)
    today = utcnow().date()
    return ProjectView(
        **record.model_dump(exclude={"analyses", "people", "data_domains"}),
        analyses=record.analyses,
        people=record.people,
        data_domains=record.data_domains,
        approvals=approvals,
        approval_states=states,
        risk_tier=tier.tier,
        risk_reasons=tier.explain(),
        active=project.start_date <= today <= project.end_date,
    )


def project_versions(session: Session, project: Project) -> list[ProjectVersionView]:
    rows = session.scalars(
        select(ProjectVersion)
        .where(ProjectVersion.project_id == project.id)
        .order_by(ProjectVersion.version)
    )
    return [
        ProjectVersionView(
            version=row.version,
            created_at=row.created_at,
            created_by=row.created_by,
            changed=list(row.changed),
            record=ProjectRecord.model_validate(row.record),
        )
        for row in rows
    ]


# ---- editing --------------------------------------------------------------------------------


def edit_project_as(session: Session, project_id: str, edit: ProjectEdit, actor: Actor) -> Project:
    """``PATCH /api/v1/projects/{id}``: its PI or a hub admin."""
    project = session.get(Project, project_id)
    if project is None:
        raise NotFoundOrNoPermission("project")
    check_edit_project(actor, project_access(session, project))
    return edit_project(session, project, edit, by=actor.username)


def edit_project(session: Session, project: Project, edit: ProjectEdit, *, by: str) -> Project:
    """Apply ``edit``: a new version if anything but the title or lay summary changes (each
    node's custodian approves it again), recorded in the project's history and audited."""
    if edit.expect_version is not None and edit.expect_version != project.version:
        raise Conflict(
            f"The project is at version {project.version} now, not {edit.expect_version}; "
            "read it again before editing."
        )
    old = terms_of(session, project)
    given = edit.model_dump(exclude_unset=True, exclude={"expect_version"})
    try:
        new = ProjectTerms(
            title=given.get("title", old.title).strip(),
            lay_summary=given.get("lay_summary", old.lay_summary),
            purpose=given.get("purpose", old.purpose),
            public_benefit=given.get("public_benefit", old.public_benefit),
            pi=given.get("pi", old.pi),
            members=frozenset(given["members"]) if "members" in given else old.members,
            nodes=frozenset(given["nodes"]) if "nodes" in given else old.nodes,
            data_domains=domains(given["data_domains"])
            if "data_domains" in given
            else old.data_domains,
            analyses=refs.refs(given["analyses"]) if "analyses" in given else old.analyses,
            start_date=given.get("start_date", old.start_date),
            end_date=given.get("end_date", old.end_date),
            sensitivity=Sensitivity(given.get("sensitivity", old.sensitivity)),
            linkage=Linkage(given.get("linkage", old.linkage)),
        )
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    check_terms(new)
    changed = changed_fields(old, new)
    if not changed:
        return project
    users = _researchers(session, new.members)
    if "nodes" in changed:
        node_rows = {n.name: n for n in _nodes(session, new.nodes)}
    project.title = new.title
    project.lay_summary = new.lay_summary
    project.purpose = new.purpose
    project.public_benefit = new.public_benefit
    project.pi_id = users[new.pi].id if new.pi else None
    project.data_domains = sorted(d.value for d in new.data_domains)
    project.analyses = sorted(new.analyses)
    project.start_date = new.start_date
    project.end_date = new.end_date
    project.sensitivity = new.sensitivity.value
    project.linkage = new.linkage.value
    if "members" in changed:
        session.execute(delete(ProjectMember).where(ProjectMember.project_id == project.id))
        for user in users.values():
            session.add(ProjectMember(project_id=project.id, user_id=user.id))
    if "nodes" in changed:
        for name in old.nodes - new.nodes:
            session.execute(
                delete(ProjectNode).where(
                    ProjectNode.project_id == project.id,
                    ProjectNode.node_id == _node_id(session, name),
                )
            )
        for name in new.nodes - old.nodes:
            session.add(
                ProjectNode(project_id=project.id, node_id=node_rows[name].id, approval="pending")
            )
    bumped = needs_new_version(changed)
    if bumped:
        project.version += 1
    session.flush()
    if bumped:
        _record_version(session, project, changed, by)
    append_event(
        session,
        AUDIT,
        AuditEventType.PROJECT_EDITED,
        by=by,
        project_id=project.id,
        details={"changed": changed, "version": project.version, "new_version": bumped},
    )
    return project


def _node_id(session: Session, name: str) -> int:
    node_id = session.scalar(select(Node.id).where(Node.name == name))
    assert node_id is not None
    return node_id


def _record_version(session: Session, project: Project, changed: list[str], by: str) -> None:
    session.add(
        ProjectVersion(
            project_id=project.id,
            version=project.version,
            record=project_record(session, project).model_dump(mode="json"),
            changed=changed,
            created_at=utcnow(),
            created_by=by,
        )
    )


# ---- nodes ------------------------------------------------------------------------------------


def project_for_node(
    session: Session, project_id: str, node: Node, key: Ed25519PrivateKey
) -> SignedProject:
    """The signed project record a custodian reviews; only for nodes the project names."""
    project = session.get(Project, project_id)
    if project is None or session.get(ProjectNode, (project_id, node.id)) is None:
        raise NotFoundOrNoPermission("project")
    payload = project_record(session, project).model_dump(mode="json")
    return SignedProject(payload=payload, signature=sign(payload, key))


def projects_for_node(session: Session, node: Node, key: Ed25519PrivateKey) -> list[SignedProject]:
    """Every project that asks for ``node``, oldest first, each as the signed record its
    custodian reviews (the node's portal builds its approvals queue from these)."""
    query = (
        select(Project)
        .join(ProjectNode, ProjectNode.project_id == Project.id)
        .where(ProjectNode.node_id == node.id)
        .order_by(Project.created_at, Project.id)
    )
    signed = []
    for project in session.scalars(query):
        payload = project_record(session, project).model_dump(mode="json")
        signed.append(SignedProject(payload=payload, signature=sign(payload, key)))
    return signed


def record_approval_report(session: Session, node: Node, report: ApprovalReport) -> None:
    link = session.get(ProjectNode, (report.project_id, node.id))
    if link is None:
        raise NotFoundOrNoPermission("project")
    link.approval = report.decision
    link.approved_version = report.version
    link.reason = report.reason if report.decision == "rejected" else None
    link.reported_at = utcnow()
    append_event(
        session,
        AUDIT,
        AuditEventType.APPROVAL_REPORTED,
        by=node.name,
        project_id=report.project_id,
        node=node.name,
        outcome=report.decision,
        details={"version": report.version, "reason": link.reason},
    )
