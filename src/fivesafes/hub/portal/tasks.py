"""Tasks and results in the hub's portal: a project's recent tasks, running a count or asking
for an imaging extract from its page (the API's own ``submit``), a task's page, which polls
itself with htmx until every node has answered: each node's disclosure verdict and the
combined result of any analysis (``hub.results``), and that result's tables as a CSV file."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from fivesafes.analyses.registry import REGISTRY
from fivesafes.governance.people import via_session
from fivesafes.hub.api.deps import Service
from fivesafes.hub.api.researcher import csv_response, submit
from fivesafes.hub.db import Task
from fivesafes.hub.portal import forms
from fivesafes.hub.portal.pages import page
from fivesafes.hub.projects import project_for
from fivesafes.hub.results import csv_name, csv_of, shown
from fivesafes.hub.tasks import task_for, task_view
from fivesafes.protocol.errors import FivesafesError
from fivesafes.protocol.models import TaskView
from fivesafes.web.signin import Posting, SignedIn

router = APIRouter(include_in_schema=False)
RECENT = 50


def recent_tasks(session: Session, project_id: str) -> list[TaskView]:
    """The project's newest tasks (the caller has checked who may see the project)."""
    query = (
        select(Task)
        .where(Task.project_id == project_id)
        .order_by(Task.created_at.desc(), Task.id)
        .limit(RECENT)
    )
    return [task_view(session, task) for task in session.scalars(query)]


@router.post("/projects/{project_id}/counts", response_class=HTMLResponse)
async def run_count(
    project_id: str, request: Request, service: Service, web: Posting
) -> HTMLResponse:
    """A count from the project page's form, through the API's own ``submit``; answers the
    task's result fragment (htmx) or its page."""
    return await _submitted(project_id, request, service, web, forms.count_request, "Count")


@router.post("/projects/{project_id}/extracts", response_class=HTMLResponse)
async def request_extract(
    project_id: str, request: Request, service: Service, web: Posting
) -> HTMLResponse:
    """An imaging extract from the project page's form, through the API's own ``submit``;
    answers the task's page (each node's counts; the files stay at the nodes)."""
    return await _submitted(
        project_id, request, service, web, forms.extract_request, "Imaging extract"
    )


async def _submitted(
    project_id: str,
    request: Request,
    service: Service,
    web: Posting,
    read: Callable[[FormData, str], dict[str, Any]],
    title: str,
) -> HTMLResponse:
    """A task from a project page's form (``read`` makes the API's request of it), checked and
    submitted as ``POST /api/v1/tasks`` is; problems in words, per field."""
    actor = via_session(web.account)
    await asyncio.to_thread(service.read, lambda s: project_for(s, project_id, actor))
    try:
        data = read(await request.form(), project_id)
    except ValueError:
        data = {}
    parsed, problems = forms.parse(REGISTRY.task_request, data)
    if parsed is None:
        return page(request, service, web, "hub/count_problems.html", status_code=422,
                    title=title, problems=problems)  # fmt: skip
    try:
        view = await submit(service, parsed, actor)
    except FivesafesError as exc:
        if exc.status == 404:
            raise
        return page(request, service, web, "hub/count_problems.html", status_code=exc.status,
                    title=title, problems=[("task", exc.message)])  # fmt: skip
    result = await asyncio.to_thread(shown, view)
    return page(request, service, web, "hub/task.html", status_code=201,
                title=f"Task {view.task_id}", task=result)  # fmt: skip


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
async def task_page(
    task_id: str, request: Request, service: Service, web: SignedIn
) -> HTMLResponse:
    actor = via_session(web.account)
    view = await asyncio.to_thread(
        service.read, lambda s: task_view(s, task_for(s, task_id, actor))
    )
    result = await asyncio.to_thread(shown, view)
    return page(request, service, web, "hub/task.html", title=f"Task {task_id}", task=result)


@router.get("/tasks/{task_id}/result.csv")
async def task_csv(task_id: str, service: Service, web: SignedIn) -> Response:
    """The task's result as its page shows it, as a CSV file (``hub.results.csv_of``); asked
    as the page is, so an outsider gets the one "not found" answer."""
    actor = via_session(web.account)
    view = await asyncio.to_thread(
        service.read, lambda s: task_view(s, task_for(s, task_id, actor))
    )
    return csv_response(await asyncio.to_thread(csv_of, view), csv_name(view))
