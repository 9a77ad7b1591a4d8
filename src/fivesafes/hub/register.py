"""The data use register: the public list of approved projects (``GET /api/v1/register``).

*Approved* means at least one node reported its custodian's approval of some version of the
project, at any time: the hub's audit log keeps every report (``approval_reported``), while a
project's node links keep only the latest, which may since be a revocation or a rejection of a
newer version; a project stays on the register with each node's latest decision shown.

*Released outputs* are the runs of completed tasks that succeeded with at least one value
released to the researcher after the hub's own gate (``released_any``); refused and failed
runs, and runs that released only suppression markers, are not counted. An iterative analysis
(GLM, Cox) is one run per node, however many rounds it took.

Organisations are those of the project's members (the hub's record of each person's
organisation), shown by display name; no person is named.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fivesafes.audit.events import AuditEventType
from fivesafes.hub.db import (
    AUDIT,
    Node,
    Organisation,
    Project,
    ProjectMember,
    ProjectNode,
    Run,
    Task,
    User,
)
from fivesafes.protocol.register import Register, RegisterNode, RegisterProject
from fivesafes.protocol.runs import RunState


def released_any(output: Any) -> bool:
    """Whether a gated output releases any value: some released count, cell, step or block
    (a ``suppressed`` marker that is false); an output without markers (a model) releases its
    values exactly when its gate verdict is ``pass``."""
    markers = False

    def walk(value: Any) -> bool:
        nonlocal markers
        if isinstance(value, dict):
            if isinstance(value.get("suppressed"), bool):
                markers = True
                if not value["suppressed"]:
                    return True
            return any(walk(v) for v in value.values())
        if isinstance(value, list):
            return any(walk(v) for v in value)
        return False

    if walk(output):
        return True
    gate = output.get("gate") if isinstance(output, dict) else None
    return not markers and isinstance(gate, dict) and gate.get("verdict") == "pass"


def data_use_register(session: Session, hub: str, now: datetime) -> Register:
    """The register as it stands: one entry per approved project, oldest approval first."""
    events = AUDIT.events.c
    approvals = session.execute(
        select(events.project_id, events.node, func.min(events.at))
        .where(
            events.event_type == AuditEventType.APPROVAL_REPORTED.value,
            events.outcome == "approved",
            events.project_id.is_not(None),
        )
        .group_by(events.project_id, events.node)
    ).all()
    first_approved: dict[str, datetime] = {}
    approving: dict[str, set[str]] = {}
    for project_id, node, at in approvals:
        first_approved[project_id] = min(first_approved.get(project_id, at), at)
        approving.setdefault(project_id, set()).add(node)
    ids = sorted(first_approved)
    organisations = _organisations(session, ids)
    decisions = _node_decisions(session, ids)
    released = _released_outputs(session, ids)
    entries = []
    for project in session.scalars(select(Project).where(Project.id.in_(ids))):
        outputs, last_output_at = released.get(project.id, (0, None))
        entries.append(
            RegisterProject(
                project_id=project.id,
                title=project.title,
                version=project.version,
                lay_summary=project.lay_summary or None,
                purpose=project.purpose or None,
                public_benefit=project.public_benefit or None,
                organisations=organisations.get(project.id, []),
                nodes=[n for n in decisions.get(project.id, []) if n.node in approving[project.id]],
                start_date=project.start_date,
                end_date=project.end_date,
                first_approved_at=_aware(first_approved[project.id]),
                released_outputs=outputs,
                last_output_at=last_output_at,
            )
        )
    entries.sort(key=lambda e: (e.first_approved_at, e.project_id))
    return Register(hub=hub, generated_at=now, projects=entries)


def _organisations(session: Session, ids: list[str]) -> dict[str, list[str]]:
    rows = session.execute(
        select(ProjectMember.project_id, Organisation.display_name)
        .join(User, User.id == ProjectMember.user_id)
        .join(Organisation, Organisation.name == User.organisation)
        .where(ProjectMember.project_id.in_(ids))
    )
    found: dict[str, set[str]] = {}
    for project_id, name in rows:
        found.setdefault(project_id, set()).add(name)
    return {project_id: sorted(names) for project_id, names in found.items()}


def _node_decisions(session: Session, ids: list[str]) -> dict[str, list[RegisterNode]]:
    rows = session.execute(
        select(ProjectNode, Node.name, Organisation.display_name)
        .join(Node, Node.id == ProjectNode.node_id)
        .outerjoin(Organisation, Organisation.name == Node.organisation)
        .where(ProjectNode.project_id.in_(ids))
        .order_by(Node.name)
    )
    found: dict[str, list[RegisterNode]] = {}
    for link, name, organisation in rows:
        decision = link.approval if link.approval in ("approved", "rejected", "revoked") else None
        found.setdefault(link.project_id, []).append(
            RegisterNode(
                node=name,
                organisation=organisation,
                decision=decision or "pending",
                version=link.approved_version,
                reported_at=link.reported_at,
            )
        )
    return found


def _released_outputs(session: Session, ids: list[str]) -> dict[str, tuple[int, datetime | None]]:
    rows = session.execute(
        select(Task.project_id, Run.output, Run.finished_at)
        .join(Task, Task.id == Run.task_id)
        .where(
            Task.project_id.in_(ids),
            Task.state == "complete",
            Run.state == RunState.SUCCEEDED.value,
        )
        .execution_options(yield_per=500)
    )
    found: dict[str, tuple[int, datetime | None]] = {}
    for project_id, output, finished_at in rows:
        if output is None or not released_any(output):
            continue
        count, last = found.get(project_id, (0, None))
        newest = finished_at if last is None or (finished_at and finished_at > last) else last
        found[project_id] = (count + 1, newest)
    return found


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


class RegisterCache:
    """The register built at most once every ``ttl`` seconds (0: every time), so a public,
    unauthenticated route cannot make the hub read every run's output on every request."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._built: tuple[float, Register] | None = None

    def get(self, build: Callable[[], Register]) -> Register:
        with self._lock:
            now = self._clock()
            if self._built is None or now - self._built[0] >= self._ttl:
                self._built = (now, build())
            return self._built[1]
