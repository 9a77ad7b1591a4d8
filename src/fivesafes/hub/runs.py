"""The run state machine at the hub: every transition is a named action with its audit event.

    queued ──lease_next_run──▶ leased ──submit_result──▶ succeeded | refused | failed
       ▲                          │
       └──── expire_leases ───────┘          queued | leased ──expire_deadlines──▶ failed

Each transition is a conditional update guarded by the state it leaves, so a transition that
lost a race changes nothing. Submitting a result is idempotent by run id: once a run is final,
a repeated submission is acknowledged and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from fivesafes.analyses.registry import REGISTRY
from fivesafes.audit.chain import append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.hub import combination, rounds
from fivesafes.hub.db import AUDIT, Base, Node, Run, Task
from fivesafes.protocol.errors import (
    BadSignature,
    InvalidRequest,
    NotFoundOrNoPermission,
    Unauthenticated,
)
from fivesafes.protocol.models import (
    Lease,
    ResultPayload,
    SignedInstruction,
    SignedResult,
    SignedTask,
    SubmitAck,
)
from fivesafes.protocol.runs import REASON_TEXT, REFUSALS, ReasonCode, RunState
from fivesafes.protocol.signing import verify
from fivesafes.sdc.gate import as_asked
from fivesafes.sdc.profiles import Profile

ACTIVE = (RunState.QUEUED.value, RunState.LEASED.value)

# A node's poll, lease and result run for every node in every round of an iterative analysis,
# so their statements are built once, as plain SQL on the tables (no ORM objects loaded).
_RUNS, _TASKS = Base.metadata.tables["runs"], Base.metadata.tables["tasks"]
_QUEUED_FOR_NODE = (
    _RUNS.c.node_id == bindparam("node_id"),
    _RUNS.c.state == RunState.QUEUED.value,
    _TASKS.c.deadline > bindparam("now"),
)
_ANY_QUEUED = (
    select(_RUNS.c.id)
    .join(_TASKS, _TASKS.c.id == _RUNS.c.task_id)
    .where(*_QUEUED_FOR_NODE)
    .limit(1)
)
_NEXT_QUEUED = (
    select(
        _RUNS.c.id,
        _RUNS.c.instruction,
        _RUNS.c.instruction_signature,
        _TASKS.c.id.label("task_id"),
        _TASKS.c.project_id,
        _TASKS.c.payload,
        _TASKS.c.signature,
    )
    .join(_TASKS, _TASKS.c.id == _RUNS.c.task_id)
    .where(*_QUEUED_FOR_NODE)
    .order_by(_TASKS.c.created_at, _RUNS.c.id)
    .limit(1)
    .with_for_update(skip_locked=True, of=_RUNS)
)
_LEASE = (
    update(_RUNS)
    .where(_RUNS.c.id == bindparam("run_id"), _RUNS.c.state == RunState.QUEUED.value)
    .values(
        state=RunState.LEASED.value,
        lease_expires_at=bindparam("expires"),
        leases=_RUNS.c.leases + 1,
    )
    .returning(_RUNS.c.id)
)
_RUN_AND_TASK = (
    select(
        _RUNS.c.node_id,
        _RUNS.c.task_id,
        _RUNS.c.state,
        _RUNS.c.round,
        _TASKS.c.project_id,
        _TASKS.c.analysis,
        _TASKS.c.payload,
    )
    .join(_TASKS, _TASKS.c.id == _RUNS.c.task_id)
    .where(_RUNS.c.id == bindparam("run_id"))
    .with_for_update(of=_RUNS)
)
_FINISH = (
    update(_RUNS)
    .where(_RUNS.c.id == bindparam("run_id"))
    .values(
        state=bindparam("new_state"),
        reason=bindparam("new_reason"),
        message=bindparam("new_message"),
        output=bindparam("new_output", type_=_RUNS.c.output.type),
        result_signature=bindparam("new_signature"),
        finished_at=bindparam("new_finished_at", type_=_RUNS.c.finished_at.type),
        lease_expires_at=None,
    )
)
_UNFINISHED = (
    select(func.count())
    .select_from(_RUNS)
    .where(_RUNS.c.task_id == bindparam("task_id"), _RUNS.c.state.in_(ACTIVE))
)


def has_queued_run(session: Session, node: Node, now: datetime) -> bool:
    """Whether ``node`` has a run to lease (a read: a long-poll's look that usually finds none)."""
    found = session.connection().execute(_ANY_QUEUED, {"node_id": node.id, "now": now})
    return found.first() is not None


def lease_next_run(
    session: Session, node: Node, now: datetime, lease_for: timedelta
) -> Lease | None:
    """Give ``node`` its oldest queued run, leased until ``now + lease_for``."""
    connection = session.connection()
    run = connection.execute(_NEXT_QUEUED, {"node_id": node.id, "now": now}).first()
    if run is None:
        return None
    expires = now + lease_for
    leased = connection.execute(_LEASE, {"run_id": run.id, "expires": expires}).first()
    if leased is None:
        return None
    append_event(
        session,
        AUDIT,
        AuditEventType.RUN_LEASED,
        by=node.name,
        project_id=run.project_id,
        node=node.name,
        task_id=run.task_id,
        run_id=run.id,
    )
    instruction = (
        SignedInstruction(payload=run.instruction, signature=run.instruction_signature)
        if run.instruction is not None and run.instruction_signature is not None
        else None
    )
    return Lease(
        run_id=run.id,
        lease_expires_at=expires,
        task=SignedTask(payload=run.payload, signature=run.signature),
        instruction=instruction,
    )


def extend_lease(
    session: Session, node: Node, run_id: str, now: datetime, lease_for: timedelta
) -> bool:
    """The node is still working on ``run_id``: keep its lease until ``now + lease_for``.
    Only a run leased to this very node is extended (anything else is left as it is)."""
    extended = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.node_id == node.id, Run.state == RunState.LEASED.value)
        .values(lease_expires_at=now + lease_for)
    )
    return bool(getattr(extended, "rowcount", 0))


@dataclass
class Submission:
    ack: SubmitAck
    task_id: str
    task_completed: bool = False
    woken: list[str] = field(default_factory=list)  # nodes with a new round queued


def submit_result(
    session: Session,
    node: Node,
    result: SignedResult,
    profile: Profile,
    now: datetime,
    key: Ed25519PrivateKey,
) -> Submission:
    """Record a node's signed result for one of its runs; idempotent by run id."""
    try:
        verify(result.payload, result.signature, node.public_key)
    except BadSignature as exc:
        raise Unauthenticated("The result is not signed by this node's key.") from exc
    payload = ResultPayload.model_validate(result.payload)
    connection = session.connection()
    run = connection.execute(_RUN_AND_TASK, {"run_id": payload.run_id}).first()
    if run is None or run.node_id != node.id or payload.node != node.name:
        raise NotFoundOrNoPermission("run")
    if run.task_id != payload.task_id:
        raise InvalidRequest("The result names a different task than its run belongs to.")
    if RunState(run.state).is_final or payload.round != run.round:
        # answered before, or a result for another round than the one queued: nothing changes
        return Submission(
            SubmitAck(run_id=payload.run_id, state=RunState(run.state), accepted=False),
            run.task_id,
        )
    asked = as_asked(profile, run.payload.get("gate"))
    state, reason, output = _checked_outcome(payload, run.analysis, asked)
    connection.execute(
        _FINISH,
        {
            "run_id": payload.run_id,
            "new_state": state.value,
            "new_reason": reason.value if reason else None,
            "new_message": _public_message(reason, payload, session, run.project_id),
            "new_output": output,
            "new_signature": result.signature,
            "new_finished_at": now,
        },
    )
    append_event(
        session,
        AUDIT,
        AuditEventType.RUN_FINISHED,
        by=node.name,
        project_id=run.project_id,
        node=node.name,
        task_id=run.task_id,
        run_id=payload.run_id,
        outcome=state.value,
        details={"reason": reason.value} if reason else {},
    )
    advance = rounds.Advance()
    if not connection.execute(_UNFINISHED, {"task_id": run.task_id}).scalar():
        task = session.get(Task, run.task_id)  # the round or the task may be complete
        assert task is not None
        advance = complete_if_done(session, task, profile, now, key)
    return Submission(
        SubmitAck(run_id=payload.run_id, state=state, accepted=True),
        run.task_id,
        advance.completed,
        advance.woken,
    )


def _public_message(
    reason: ReasonCode | None, payload: ResultPayload, session: Session, project_id: str
) -> str | None:
    """The hub's own words for a reason; a node's free text never reaches a researcher."""
    if reason is None:
        return None
    text = REASON_TEXT[reason]
    if reason is ReasonCode.UNKNOWN_CONCEPT and payload.unknown_concepts:
        shown = ", ".join(str(int(c)) for c in payload.unknown_concepts[:20])
        text = f"{text} Unknown: {shown}."
    if reason is ReasonCode.DIFFERENCING_RISK or (
        reason is ReasonCode.HELD_FOR_REVIEW and payload.colliding_runs
    ):
        text += colliding_tasks(session, project_id, payload.colliding_runs or [])
    return text


_COLLIDING = (
    select(_TASKS.c.id, _TASKS.c.analysis, _TASKS.c.created_at)
    .join(_RUNS, _RUNS.c.task_id == _TASKS.c.id)
    .where(_RUNS.c.id.in_(bindparam("run_ids", expanding=True)))
    .where(_TASKS.c.project_id == bindparam("project_id"))
    .distinct()
    .order_by(_TASKS.c.created_at, _TASKS.c.id)
)


def colliding_tasks(session: Session, project_id: str, run_ids: list[str]) -> str:
    """The earlier tasks of the project a differencing refusal combines with, in words, and
    what to change; runs a node names outside the project are never named."""
    rows = (
        session.connection()
        .execute(_COLLIDING, {"run_ids": run_ids, "project_id": project_id})
        .all()
        if run_ids
        else []
    )
    if not rows:
        return (
            " Change the cohort so that its population differs from what this project was given"
            " by at least the threshold, or ask again for a population released already."
        )
    named = "; ".join(f"task {row.id} ({row.analysis}, {row.created_at:%Y-%m-%d})" for row in rows)
    return (
        f" It combines with what this project was given in {named}. Change the cohort so that"
        " its population differs from theirs by at least the threshold (a wider or different"
        " criterion), or ask again for exactly one of their populations."
    )


def _checked_outcome(
    payload: ResultPayload, analysis: str, profile: Profile
) -> tuple[RunState, ReasonCode | None, dict[str, object] | None]:
    """The state a result moves its run to. A success must carry a gated output that the
    hub's own gate accepts; anything else is recorded as a failure, never passed on."""
    if payload.status == "succeeded":
        if payload.output is None:
            return RunState.FAILED, ReasonCode.GATE_ERROR, None
        regated = combination.regate(analysis, payload.output, profile)
        if regated is None:
            return RunState.FAILED, ReasonCode.GATE_ERROR, None
        return RunState.SUCCEEDED, None, regated
    reason = payload.reason or ReasonCode.INTERNAL_ERROR
    if payload.status == "refused":
        return RunState.REFUSED, reason if reason in REFUSALS else ReasonCode.INTERNAL_ERROR, None
    return RunState.FAILED, reason if reason not in REFUSALS else ReasonCode.INTERNAL_ERROR, None


def for_task(task: Task, profile: Profile) -> Profile:
    """The hub's profile, made at least as strict as the task asked (as each node does)."""
    return as_asked(profile, task.payload.get("gate"))


def complete_if_done(
    session: Session, task: Task, profile: Profile, now: datetime, key: Ed25519PrivateKey
) -> rounds.Advance:
    """Combine and gate a task whose runs are all final (an iterative one: finish its round,
    then queue the next or finish); says whether it completed and which nodes to wake."""
    if task.state == "complete":
        return rounds.Advance()
    rows = list(
        session.execute(
            select(Run, Node.name).join(Node, Node.id == Run.node_id).where(Run.task_id == task.id)
        )
    )
    if any(not RunState(run.state).is_final for run, _ in rows):
        return rounds.Advance()
    profile = for_task(task, profile)
    analysis = REGISTRY[task.analysis]
    if analysis.rounds is not None:
        return rounds.advance(session, task, [(r, n) for r, n in rows], profile, now, key)
    outputs = {name: run.output for run, name in rows if run.state == RunState.SUCCEEDED.value}
    missing = [name for run, name in rows if run.state != RunState.SUCCEEDED.value]
    for run, name in rows:  # a node whose whole output was withheld is named, not summed as 0
        why = combination.withheld(analysis, run.output) if name in outputs else None
        if why is not None:
            run.message = why
            outputs.pop(name)
            missing.append(name)
    task.combined = combination.combined(
        analysis,
        {name: out for name, out in outputs.items() if out is not None},
        missing,
        profile,
    )
    for run, _ in rows:  # once combined, the hub keeps of each output what anyone may see
        if run.output is not None:
            run.output = combination.public(task.analysis, run.output)
    return rounds.complete_task(session, task, now)


@dataclass
class SweepOutcome:
    requeued_nodes: set[int] = field(default_factory=set)
    changed_tasks: set[str] = field(default_factory=set)
    woken: set[str] = field(default_factory=set)  # nodes with a new round queued


def sweep(
    session: Session, profile: Profile, now: datetime, key: Ed25519PrivateKey
) -> SweepOutcome:
    """Return expired leases to the queue and end runs whose task passed its deadline."""
    outcome = SweepOutcome()
    expired = session.execute(
        select(Run, Task)
        .join(Task, Task.id == Run.task_id)
        .where(Run.state == RunState.LEASED.value, Run.lease_expires_at < now, Task.deadline > now)
        .with_for_update(of=Run)
    ).all()
    for run, task in expired:
        run.state = RunState.QUEUED.value
        run.lease_expires_at = None
        outcome.requeued_nodes.add(run.node_id)
        append_event(
            session,
            AUDIT,
            AuditEventType.RUN_LEASE_EXPIRED,
            by="hub",
            project_id=task.project_id,
            task_id=task.id,
            run_id=run.id,
        )
    overdue = session.execute(
        select(Run, Task, Node.name)
        .join(Task, Task.id == Run.task_id)
        .join(Node, Node.id == Run.node_id)
        .where(Run.state.in_(ACTIVE), Task.deadline <= now)
        .with_for_update(of=Run)
    ).all()
    for run, task, node_name in overdue:
        run.state = RunState.FAILED.value
        run.reason = ReasonCode.NODE_UNAVAILABLE.value
        run.message = REASON_TEXT[ReasonCode.NODE_UNAVAILABLE]
        run.lease_expires_at = None
        run.finished_at = now
        outcome.changed_tasks.add(task.id)
        append_event(
            session,
            AUDIT,
            AuditEventType.RUN_TIMED_OUT,
            by="hub",
            project_id=task.project_id,
            node=node_name,
            task_id=task.id,
            run_id=run.id,
            outcome=RunState.FAILED.value,
        )
    session.flush()
    for task_id in outcome.changed_tasks:
        overdue_task = session.get(Task, task_id)
        if overdue_task is not None:
            outcome.woken.update(complete_if_done(session, overdue_task, profile, now, key).woken)
    return outcome
