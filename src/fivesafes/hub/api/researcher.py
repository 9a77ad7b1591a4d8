"""Routes for people with an API token: who they are, projects, the nodes, and tasks with
their results. Every route asks ``fivesafes.governance.permissions`` before anything else."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from fivesafes.analyses.registry import REGISTRY
from fivesafes.governance.people import Actor
from fivesafes.governance.permissions import check_list_nodes
from fivesafes.hub.api.deps import Caller, Service
from fivesafes.hub.api.errors import ERROR_RESPONSES
from fivesafes.hub.combination import published
from fivesafes.hub.enrolment import node_views
from fivesafes.hub.projects import (
    create_project_as,
    edit_project_as,
    project_for,
    project_versions,
    project_view,
    projects_visible_to,
)
from fivesafes.hub.results import csv_name, csv_of
from fivesafes.hub.service import HubService
from fivesafes.hub.tasks import MAX_TASKS_PAGE, create_task, task_for, task_view, tasks_for
from fivesafes.protocol.models import (
    NodeView,
    ProjectEdit,
    ProjectRequest,
    ProjectVersionView,
    ProjectView,
    TaskRequest,
    TaskSummary,
    TaskView,
)
from fivesafes.storage.types import utcnow

router = APIRouter(prefix="/api/v1", tags=["researcher"], responses=ERROR_RESPONSES)

TypedTaskRequest = REGISTRY.task_request
"""A task request with each registered analysis's typed parameters (its OpenAPI schema)."""
TypedTaskView = REGISTRY.task_view
"""A task's view with each registered analysis's typed combined result (its OpenAPI schema)."""


@router.get("/me")
async def me(actor: Caller) -> dict[str, Any]:
    account = actor.account
    roles = [str(g) for g in sorted(account.grants)]
    hub_roles = [r.value for r in account.roles_at()]
    scope = actor.scope
    return {
        "username": account.username,
        "display_name": account.display_name,
        "role": hub_roles[0] if hub_roles else None,  # before roles were grants: one role
        "roles": roles,
        "organisation": account.organisation,
        "accredited_until": account.accredited_until,
        "token": None
        if scope is None
        else {"project_id": scope.project_id, "actions": sorted(a.value for a in scope.actions)},
    }


@router.get("/projects")
async def list_projects(actor: Caller, service: Service) -> list[ProjectView]:
    return await asyncio.to_thread(
        service.read, lambda s: [project_view(s, p) for p in projects_visible_to(s, actor)]
    )


@router.post("/projects", status_code=201)
async def create_project(request: ProjectRequest, actor: Caller, service: Service) -> ProjectView:
    return await asyncio.to_thread(
        service.unit, lambda s: project_view(s, create_project_as(s, request, actor))
    )


@router.get("/projects/{project_id}")
async def get_project(project_id: str, actor: Caller, service: Service) -> ProjectView:
    return await asyncio.to_thread(
        service.read, lambda s: project_view(s, project_for(s, project_id, actor))
    )


@router.patch("/projects/{project_id}")
async def edit_project(
    project_id: str, edit: ProjectEdit, actor: Caller, service: Service
) -> ProjectView:
    """Change a project; anything but its title or lay summary makes a new version, which
    each node's custodian approves again before their node runs it."""
    return await asyncio.to_thread(
        service.unit, lambda s: project_view(s, edit_project_as(s, project_id, edit, actor))
    )


@router.get("/projects/{project_id}/versions")
async def list_project_versions(
    project_id: str, actor: Caller, service: Service
) -> list[ProjectVersionView]:
    return await asyncio.to_thread(
        service.read, lambda s: project_versions(s, project_for(s, project_id, actor))
    )


@router.get("/nodes")
async def list_nodes(actor: Caller, service: Service) -> list[NodeView]:
    """Every enrolled node, online or offline (it has polled within ``[hub]
    node_offline_after_seconds``), when it was last seen, and its key's fingerprint."""
    check_list_nodes(actor)
    return await asyncio.to_thread(
        service.read, lambda s: node_views(s, utcnow(), service.offline_after)
    )


@router.post("/tasks", status_code=201, response_model=TypedTaskView)
async def submit_task(
    request: TypedTaskRequest,  # type: ignore[valid-type]
    actor: Caller,
    service: Service,
) -> TaskView:
    return published(await submit(service, request, actor))


async def submit(service: HubService, request: TaskRequest, actor: Actor) -> TaskView:
    """Create the task and wake its nodes' long-polls (the API's and the portal's way)."""

    def work(session: Any) -> tuple[TaskView, list[str]]:
        task, targets = create_task(session, request, by=actor, key=service.key)
        return task_view(session, task), targets

    view, targets = await asyncio.to_thread(service.unit, work)
    for name in targets:
        service.notifier.notify(f"node:{name}")
    return view


@router.get("/tasks")
async def list_tasks(
    actor: Caller,
    service: Service,
    project: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_TASKS_PAGE)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> list[TaskSummary]:
    """The tasks of the projects the caller is a member of (or of ``project``), newest first:
    what each asked, its state and how its nodes answered; a page of ``limit`` from
    ``offset``."""
    return await asyncio.to_thread(
        service.read,
        lambda s: tasks_for(s, actor, project_id=project, limit=limit, offset=offset),
    )


@router.get("/tasks/{task_id}", response_model=TypedTaskView)
async def get_task(
    task_id: str,
    actor: Caller,
    service: Service,
    wait: Annotated[float, Query(ge=0, le=60)] = 0,
) -> TaskView:
    """The task and its runs; with ``wait``, hold the request until it completes (long-poll).
    Each look checks the caller may read the task; its view is built only to be answered."""
    deadline = time.monotonic() + wait
    while True:
        woken = service.notifier.current(f"task:{task_id}")
        last = deadline - time.monotonic() <= 0 or service.notifier.stopping

        def look(session: Session, last: bool = last) -> TaskView | None:
            task = task_for(session, task_id, actor)
            return task_view(session, task) if last or task.state == "complete" else None

        view = await asyncio.to_thread(service.read, look)
        if view is not None:
            return published(view)
        await service.notifier.wait(woken, min(deadline - time.monotonic(), 1.0))


ERROR_BODY = "#/components/schemas/ErrorBody"  # ERROR_RESPONSES' model, as the document names it


class CSVResponse(Response):
    media_type = "text/csv; charset=utf-8"


def csv_response(text: str, name: str) -> Response:
    """A CSV file to download (the API's and the portal's), never kept by a cache."""
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    return CSVResponse(text.encode("utf-8"), headers=headers)


@router.get(
    "/tasks/{task_id}/result.csv",
    response_class=CSVResponse,
    responses={
        200: {"description": "The result's tables as the task's page shows them."},
        "4XX": {  # a refusal is the one JSON error shape, not CSV
            "description": ERROR_RESPONSES["4XX"]["description"],
            "content": {"application/json": {"schema": {"$ref": ERROR_BODY}}},
        },
    },
)
async def get_task_csv(task_id: str, actor: Caller, service: Service) -> Response:
    """The task's result as its portal page shows it, as one CSV file: each table's rows under
    a column ``table`` naming it, suppressed cells as the page marks them, and the page's notes
    (``analyses/results/download.py``). A task still running is a conflict (409)."""
    view = await asyncio.to_thread(
        service.read, lambda s: task_view(s, task_for(s, task_id, actor))
    )
    return csv_response(await asyncio.to_thread(csv_of, view), csv_name(view))
