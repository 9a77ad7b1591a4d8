"""Projects in the hub's portal: the list, creating one, its page (terms, members, each node's
approval as the hub last heard it and whether it is online now, the risk tier with its reasons,
tasks and a count form) and editing it. Every handler goes through the same
``fivesafes.hub.projects`` functions and permission checks as ``/api/v1/projects``, so an
outsider gets the one "not found" answer."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.governance.people import Actor, via_session
from fivesafes.governance.permissions import (
    can_edit_project,
    can_read_task,
    can_submit_task,
    check_edit_project,
)
from fivesafes.governance.projects import DataDomain, Linkage, Sensitivity
from fivesafes.governance.roles import Role
from fivesafes.hub.api.deps import Service
from fivesafes.hub.db import Node
from fivesafes.hub.enrolment import node_views
from fivesafes.hub.linkage import gated_view
from fivesafes.hub.pools import pool_views
from fivesafes.hub.portal import forms
from fivesafes.hub.portal.pages import page
from fivesafes.hub.portal.tasks import recent_tasks
from fivesafes.hub.projects import (
    create_project_as,
    edit_project_as,
    project_access,
    project_for,
    project_view,
    projects_visible_to,
)
from fivesafes.hub.service import HubService
from fivesafes.imaging.deid.options import OPTION_NAMES
from fivesafes.protocol.errors import FivesafesError
from fivesafes.protocol.models import ProjectEdit, ProjectRequest, ProjectView
from fivesafes.sdc.profiles import Profile
from fivesafes.storage.types import utcnow
from fivesafes.web.signin import Posting, SignedIn

router = APIRouter(include_in_schema=False)


def choices(session: Session) -> dict[str, Any]:
    """What the project form offers: enrolled nodes and the closed lists of terms."""
    return {
        "all_nodes": list(session.scalars(select(Node.name).order_by(Node.name))),
        "all_domains": [d.value for d in DataDomain],
        "all_sensitivities": [s.value for s in Sensitivity],
        "all_linkages": [k.value for k in Linkage],
    }


@router.get("/projects", response_class=HTMLResponse)
async def projects(request: Request, service: Service, web: SignedIn) -> HTMLResponse:
    actor = via_session(web.account)
    views = await asyncio.to_thread(
        service.read, lambda s: [project_view(s, p) for p in projects_visible_to(s, actor)]
    )
    is_admin = web.account.holds(Role.HUB_ADMIN)
    return page(request, service, web, "hub/projects.html", title="Projects", projects=views,
                is_admin=is_admin)  # fmt: skip


@router.get("/projects/new", response_class=HTMLResponse)
async def new_project(request: Request, service: Service, web: SignedIn) -> HTMLResponse:
    offered = await asyncio.to_thread(service.read, choices)
    today = utcnow().date()
    values = {"start_date": today.isoformat(), "members": web.account.username,
              "data_domains": ["omop"], "sensitivity": "standard", "linkage": "none"}  # fmt: skip
    return page(request, service, web, "hub/project_form.html", title="New project",
                values=values, problems=[], project=None, **offered)  # fmt: skip


@router.post("/projects", response_class=HTMLResponse)
async def create_project(request: Request, service: Service, web: Posting) -> Response:
    actor = via_session(web.account)
    data = forms.project_fields(await request.form())
    parsed, problems = forms.parse(ProjectRequest, data)
    if parsed is not None:
        try:
            created = await asyncio.to_thread(
                service.unit, lambda s: create_project_as(s, parsed, actor).id
            )
        except FivesafesError as exc:
            if exc.status in (403, 404):  # who may act: the error page, not the form
                raise
            problems = [("project", exc.message)]
        else:
            return RedirectResponse(f"/projects/{created}", status_code=303)
    return await _form_again(request, service, web, data, problems, None)


async def _form_again(
    request: Request,
    service: HubService,
    web: Any,
    values: dict[str, Any],
    problems: list[tuple[str, str]],
    project: ProjectView | None,
) -> HTMLResponse:
    offered = await asyncio.to_thread(service.read, choices)
    values = {**values, "members": " ".join(values.get("members", []))}
    title = "New project" if project is None else f"Edit {project.title}"
    return page(request, service, web, "hub/project_form.html", status_code=422, title=title,
                values=values, problems=problems, project=project, **offered)  # fmt: skip


def _project_page(
    session: Session, project_id: str, actor: Actor, offline_after: timedelta, profile: Profile
) -> dict[str, Any]:
    project = project_for(session, project_id, actor)  # permission first: one answer
    access = project_access(session, project)
    view = project_view(session, project)
    now = utcnow()
    today = now.date()
    nodes = node_views(session, now, offline_after, names=list(view.approval_states))
    return {
        "project": view,
        "presence": {node.name: node for node in nodes},  # online or offline, last seen
        "now": now,
        "may_edit": can_edit_project(actor, access),
        "may_count": can_submit_task(actor, access, today),
        "may_read_results": can_read_task(actor, access),  # members only, not a hub admin
        "tasks": recent_tasks(session, project.id),
        "domains": forms.COHORT_DOMAINS,
        "extract_modalities": forms.EXTRACT_MODALITIES,
        "extract_options": sorted(OPTION_NAMES),
        "linkage": gated_view(session, project, profile)
        if project.linkage == Linkage.ACROSS_NODES and can_read_task(actor, access) else None,
        "pools": pool_views(session, project.id, now)
        if project.linkage == Linkage.ACROSS_NODES and can_read_task(actor, access) else [],
    }  # fmt: skip


@router.get("/projects/{project_id}", response_class=HTMLResponse)
async def project_page(
    project_id: str, request: Request, service: Service, web: SignedIn
) -> HTMLResponse:
    actor = via_session(web.account)
    shown = await asyncio.to_thread(
        service.read,
        lambda s: _project_page(
            s, project_id, actor, service.offline_after, service.config.profile
        ),
    )
    return page(request, service, web, "hub/project.html", title=shown["project"].title,
                **shown)  # fmt: skip


@router.get("/projects/{project_id}/edit", response_class=HTMLResponse)
async def edit_form(
    project_id: str, request: Request, service: Service, web: SignedIn
) -> HTMLResponse:
    actor = via_session(web.account)

    def work(session: Session) -> tuple[ProjectView, dict[str, Any]]:
        project = project_for(session, project_id, actor)
        check_edit_project(actor, project_access(session, project))
        return project_view(session, project), choices(session)

    view, offered = await asyncio.to_thread(service.read, work)
    values = view.model_dump(mode="json")
    values["members"] = " ".join(view.members)
    return page(request, service, web, "hub/project_form.html", title=f"Edit {view.title}",
                values=values, problems=[], project=view, **offered)  # fmt: skip


@router.post("/projects/{project_id}/edit", response_class=HTMLResponse)
async def edit_project(
    project_id: str, request: Request, service: Service, web: Posting
) -> Response:
    actor = via_session(web.account)
    form = await request.form()
    data = forms.project_fields(form)
    expect = forms.field(form, "expect_version")
    if expect:
        data["expect_version"] = expect
    view = await asyncio.to_thread(
        service.read, lambda s: project_view(s, project_for(s, project_id, actor))
    )
    parsed, problems = forms.parse(ProjectEdit, data)
    if parsed is not None:
        try:
            await asyncio.to_thread(
                service.unit, lambda s: edit_project_as(s, project_id, parsed, actor)
            )
        except FivesafesError as exc:
            if exc.status in (403, 404):
                raise
            problems = [("project", exc.message)]
        else:
            return RedirectResponse(f"/projects/{project_id}", status_code=303)
    return await _form_again(request, service, web, data, problems, view)
