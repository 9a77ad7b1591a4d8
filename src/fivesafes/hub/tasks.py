"""Creating tasks: checked against the hub's records, signed, and split into one run per node."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from fivesafes.analyses.asked import asked_line
from fivesafes.analyses.parameters import cohorts_in
from fivesafes.analyses.registry import REGISTRY, parameters_json
from fivesafes.audit.chain import append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.governance import analyses as refs
from fivesafes.governance.people import Account, Actor
from fivesafes.governance.permissions import can_read_task, check_read_task, check_submit_task
from fivesafes.governance.policies import check_project_active
from fivesafes.hub import rounds
from fivesafes.hub.combination import public
from fivesafes.hub.db import AUDIT, POOLS, Node, Project, ProjectNode, Run, Task
from fivesafes.hub.projects import access_to, project_access
from fivesafes.protocol.errors import Forbidden, InvalidRequest, NotFoundOrNoPermission
from fivesafes.protocol.models import RunView, TaskPayload, TaskRequest, TaskSummary, TaskView
from fivesafes.protocol.runs import ReasonCode, RunState
from fivesafes.protocol.signing import sign
from fivesafes.storage.types import utcnow


def _runs_in_a_pool(session: Session, project_id: str) -> bool:
    """Whether the project is a pool's (its analyses run on pooled, date-shifted rows)."""
    found = session.execute(select(POOLS.c.pool_id).where(POOLS.c.pool_project_id == project_id))
    return found.first() is not None


def create_task(
    session: Session, request: TaskRequest, *, by: Actor | Account, key: Ed25519PrivateKey
) -> tuple[Task, list[str]]:
    """Persist a signed task and a queued run per target node; return it and the node names.

    Who may (``check_submit_task``: a member, a researcher, accredited today, through a token
    that may submit) is asked before what the project's state allows (its dates, its
    analyses); nothing is written when either says no."""
    actor = by if isinstance(by, Actor) else Actor(by)
    project = session.get(Project, request.project_id)
    if project is None:
        raise NotFoundOrNoPermission("project")
    today = utcnow().date()
    check_submit_task(actor, project_access(session, project), today)
    check_project_active(project.start_date, project.end_date, today)
    version = request.analysis_version or refs.current(request.analysis).version
    reference = str(refs.AnalysisRef(request.analysis, version))
    if reference not in project.analyses:
        raise Forbidden(f"The project does not include the analysis {reference}.")
    analysis = REGISTRY[request.analysis]
    parameters = request.parameters
    read = (
        analysis.domains_of(parameters) if isinstance(parameters, BaseModel) else analysis.domains
    )
    unasked = sorted(read - set(project.data_domains or ["omop"]))
    if unasked:
        raise Forbidden(f"The project does not ask for the data domain {', '.join(unasked)}.")
    if isinstance(parameters, BaseModel) and _runs_in_a_pool(session, project.id):
        named = sorted({d for c in cohorts_in(parameters) for d in c.calendar_dates()})
        if named:
            raise InvalidRequest(
                "This project's analyses run in a pool, where each person's dates are shifted "
                f"by their own amount: the cohort names a calendar date ({', '.join(named)}), "
                "which would mean a different day for each person. Define it by persons' own "
                "events instead (their first event as the index, days from the index)."
            )
    project_nodes = {
        name: node_id
        for name, node_id in session.execute(
            select(Node.name, Node.id)
            .join(ProjectNode, ProjectNode.node_id == Node.id)
            .where(ProjectNode.project_id == project.id)
        )
    }
    targets = sorted(request.nodes or project_nodes)
    outside = sorted(set(targets) - set(project_nodes))
    if outside:
        raise InvalidRequest(f"These nodes are not part of the project: {', '.join(outside)}.")
    now = utcnow().replace(microsecond=0)
    deadline = now + timedelta(seconds=request.timeout_seconds)
    payload = TaskPayload(
        task_id="t_" + secrets.token_hex(8),
        project_id=project.id,
        project_version=project.version,
        requester=actor.username,
        analysis=request.analysis,
        analysis_version=version,
        requester_accredited_until=actor.account.accredited_until,
        parameters=parameters_json(request),
        gate=request.gate.model_dump(mode="json", exclude_none=True) if request.gate else None,
        targets=targets,
        issued_at=now,
        expires_at=deadline,
    ).model_dump(mode="json")
    task = Task(
        id=payload["task_id"],
        project_id=project.id,
        requester_id=actor.id,
        analysis=request.analysis,
        payload=payload,
        signature=sign(payload, key),
        created_at=now,
        deadline=deadline,
        state="running",
        combined=None,
        completed_at=None,
    )
    instruction: tuple[dict[str, Any], str] | tuple[None, None] = (None, None)
    iterative = REGISTRY[request.analysis].rounds
    if iterative is not None:
        task.progress = rounds.first_round(task, iterative)
        instruction = rounds.first_instruction(task, iterative, key)
    session.add(task)
    session.flush()
    for name in targets:
        session.add(
            Run(
                id="r_" + secrets.token_hex(8),
                task_id=task.id,
                node_id=project_nodes[name],
                state=RunState.QUEUED.value,
                leases=0,
                round=0,
                instruction=instruction[0],
                instruction_signature=instruction[1],
            )
        )
    append_event(
        session,
        AUDIT,
        AuditEventType.TASK_CREATED,
        by=actor.username,
        project_id=project.id,
        task_id=task.id,
        details={"analysis": reference, "targets": targets},
    )
    return task, targets


def task_for(session: Session, task_id: str, actor: Actor) -> Task:
    """The task, if ``actor`` may read it (a member of its project); otherwise one answer for
    'absent or not yours'."""
    task = session.get(Task, task_id)
    access = access_to(session, task.project_id) if task is not None else None
    if task is None or access is None:
        raise NotFoundOrNoPermission("task")
    check_read_task(actor, access)
    return task


_RUN_VIEWS = (
    select(Run.id, Run.state, Run.reason, Run.message, Run.output, Run.finished_at, Node.name)
    .join(Node, Node.id == Run.node_id)
    .where(Run.task_id == bindparam("task_id"))
)
"""A task's runs as its view shows them (read at every look at a task: built once)."""


def task_view(session: Session, task: Task) -> TaskView:
    rows = session.execute(_RUN_VIEWS, {"task_id": task.id})
    runs = [
        RunView(
            run_id=row.id,
            node=row.name,
            state=RunState(row.state),
            reason=ReasonCode(row.reason) if row.reason else None,
            message=row.message,
            output=public(task.analysis, row.output),
            finished_at=row.finished_at,
        )
        for row in sorted(rows, key=lambda row: str(row.name))
    ]
    return TaskView(
        task_id=task.id,
        project_id=task.project_id,
        analysis=task.analysis,
        state="complete" if task.state == "complete" else "running",
        created_at=task.created_at,
        deadline=task.deadline,
        runs=runs,
        combined=task.combined,
        asked=asked_line(task.analysis, task.payload.get("parameters") or {}),
    )


MAX_TASKS_PAGE = 100


def tasks_for(
    session: Session,
    actor: Actor,
    *,
    project_id: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> list[TaskSummary]:
    """The tasks of the projects ``actor`` may read tasks of (a member's), newest first, a page
    at a time; ``project_id`` narrows to one (a project they may not read lists nothing)."""
    readable = [
        p.id
        for p in session.scalars(select(Project))
        if (project_id is None or p.id == project_id)
        and can_read_task(actor, project_access(session, p))
    ]
    if not readable:
        return []
    tasks = session.scalars(
        select(Task)
        .where(Task.project_id.in_(readable))
        .order_by(Task.created_at.desc(), Task.id)
        .limit(min(limit, MAX_TASKS_PAGE))
        .offset(offset)
    ).all()
    states: dict[str, dict[str, int]] = {t.id: {} for t in tasks}
    if tasks:
        for task_id, state, many in session.execute(
            select(Run.task_id, Run.state, func.count())
            .where(Run.task_id.in_(list(states)))
            .group_by(Run.task_id, Run.state)
        ):
            states[task_id][state] = int(many)
    return [
        TaskSummary(
            task_id=t.id,
            project_id=t.project_id,
            analysis=t.analysis,
            asked=asked_line(t.analysis, t.payload.get("parameters") or {}),
            state="complete" if t.state == "complete" else "running",
            created_at=t.created_at,
            nodes=states[t.id],
        )
        for t in tasks
    ]
