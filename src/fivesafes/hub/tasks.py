"""Creating tasks: checked against the hub's records, signed, and split into one run per node."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.audit.chain import append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.hub import rounds
from fivesafes.hub.db import AUDIT, Node, ProjectNode, Run, Task, User
from fivesafes.hub.projects import project_for_member
from fivesafes.protocol.errors import Forbidden, InvalidRequest, NotFoundOrNoPermission
from fivesafes.protocol.models import ITERATIVE, RunView, TaskPayload, TaskRequest, TaskView
from fivesafes.protocol.runs import ReasonCode, RunState
from fivesafes.protocol.signing import sign
from fivesafes.storage.types import utcnow


def create_task(
    session: Session, request: TaskRequest, *, by: User, key: Ed25519PrivateKey
) -> tuple[Task, list[str]]:
    """Persist a signed task and a queued run per target node; return it and the node names."""
    project = project_for_member(session, request.project_id, by)
    today = utcnow().date()
    if not project.start_date <= today <= project.end_date:
        raise Forbidden("The project is outside its start and end dates.")
    if request.analysis not in project.analyses:
        raise Forbidden(f"The project does not include the {request.analysis!r} analysis.")
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
        requester=by.username,
        analysis=request.analysis,
        parameters=request.parameters.model_dump(mode="json"),
        gate=request.gate.model_dump(mode="json", exclude_none=True) if request.gate else None,
        targets=targets,
        issued_at=now,
        expires_at=deadline,
    ).model_dump(mode="json")
    task = Task(
        id=payload["task_id"],
        project_id=project.id,
        requester_id=by.id,
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
    if request.analysis in ITERATIVE:
        task.progress = rounds.first_round(task)
        instruction = rounds.first_instruction(task, key)
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
        by=by.username,
        project_id=project.id,
        task_id=task.id,
        details={"analysis": request.analysis, "targets": targets},
    )
    return task, targets


def task_for_member(session: Session, task_id: str, user: User) -> Task:
    task = session.get(Task, task_id)
    if task is None:
        raise NotFoundOrNoPermission("task")
    try:
        project_for_member(session, task.project_id, user)
    except NotFoundOrNoPermission:
        raise NotFoundOrNoPermission("task") from None
    return task


def task_view(session: Session, task: Task) -> TaskView:
    rows = session.execute(
        select(Run, Node.name).join(Node, Node.id == Run.node_id).where(Run.task_id == task.id)
    )
    runs = [
        RunView(
            run_id=run.id,
            node=name,
            state=RunState(run.state),
            reason=ReasonCode(run.reason) if run.reason else None,
            message=run.message,
            output=run.output,
            finished_at=run.finished_at,
        )
        for run, name in sorted(rows, key=lambda pair: pair[1])
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
    )
