"""Routes for researchers: their projects, the nodes, and tasks with their results."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from fivesafes.hub.api.deps import Researcher, Service
from fivesafes.hub.db import Node
from fivesafes.hub.enrolment import is_online
from fivesafes.hub.projects import project_for_member, project_view, projects_of
from fivesafes.hub.tasks import create_task, task_for_member, task_view
from fivesafes.protocol.models import NodeView, ProjectView, TaskRequest, TaskView
from fivesafes.protocol.signing import fingerprint
from fivesafes.storage.types import utcnow

router = APIRouter(prefix="/api/v1", tags=["researcher"])


@router.get("/me")
async def me(user: Researcher) -> dict[str, Any]:
    return {"username": user.username, "display_name": user.display_name, "role": user.role}


@router.get("/projects")
async def list_projects(user: Researcher, service: Service) -> list[ProjectView]:
    return await asyncio.to_thread(
        service.read, lambda s: [project_view(s, p) for p in projects_of(s, user)]
    )


@router.get("/projects/{project_id}")
async def get_project(project_id: str, user: Researcher, service: Service) -> ProjectView:
    return await asyncio.to_thread(
        service.read, lambda s: project_view(s, project_for_member(s, project_id, user))
    )


@router.get("/nodes")
async def list_nodes(_user: Researcher, service: Service) -> list[NodeView]:
    def work(session: Any) -> list[NodeView]:
        now = utcnow()
        return [
            NodeView(
                name=node.name,
                online=is_online(node, now, service.offline_after),
                last_seen_at=node.last_seen_at,
                enrolled_at=node.enrolled_at,
                fingerprint=fingerprint(node.public_key),
            )
            for node in session.scalars(select(Node).order_by(Node.name))
        ]

    return await asyncio.to_thread(service.read, work)


@router.post("/tasks", status_code=201)
async def submit_task(request: TaskRequest, user: Researcher, service: Service) -> TaskView:
    def work(session: Any) -> tuple[TaskView, list[str]]:
        task, targets = create_task(session, request, by=user, key=service.key)
        return task_view(session, task), targets

    view, targets = await asyncio.to_thread(service.unit, work)
    for name in targets:
        service.notifier.notify(f"node:{name}")
    return view


@router.get("/tasks/{task_id}")
async def get_task(
    task_id: str,
    user: Researcher,
    service: Service,
    wait: Annotated[float, Query(ge=0, le=60)] = 0,
) -> TaskView:
    """The task and its runs; with ``wait``, hold the request until it completes (long-poll)."""
    deadline = time.monotonic() + wait
    while True:
        woken = service.notifier.current(f"task:{task_id}")
        view = await asyncio.to_thread(
            service.read, lambda s: task_view(s, task_for_member(s, task_id, user))
        )
        remaining = deadline - time.monotonic()
        if view.state == "complete" or remaining <= 0 or service.notifier.stopping:
            return view
        await service.notifier.wait(woken, min(remaining, 1.0))
