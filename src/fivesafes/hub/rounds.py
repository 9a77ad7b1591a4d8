"""Iterative analyses at the hub: rounds of one task, each with an instruction the hub signs.

An iterative analysis (``Analysis.rounds``: a GLM's IRLS, a Cox model's Newton-Raphson)
starts with one run per node at round 0, each carrying the first instruction. When every run
of the round is final the analysis pools the nodes' sums and gates the pool, and the hub either
queues the same runs again at the next round with a new signed instruction, or finishes:

- a node that did not succeed at round 0 is left out of the fit and named in the result;
- a node that did not succeed at a later round would change the fit's data mid-way, so the task
  ends with an error naming it.

The algorithm's state between rounds is kept in ``tasks.progress``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from fivesafes.analyses.plugin import Rounds, Step
from fivesafes.analyses.registry import REGISTRY
from fivesafes.audit.chain import append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.hub.combination import typed
from fivesafes.hub.db import AUDIT, Run, Task
from fivesafes.protocol.models import Instruction as WireInstruction
from fivesafes.protocol.runs import RunState
from fivesafes.protocol.signing import sign
from fivesafes.sdc.profiles import Profile


@dataclass
class Advance:
    """What finishing a round led to: the nodes to wake for the next round, or the end."""

    woken: list[str] = field(default_factory=list)
    completed: bool = False


def first_round(task: Task, rounds: Rounds) -> dict[str, Any]:
    """The state a new iterative task starts from (kept in ``task.progress``): which round,
    which nodes, and the analysis's own algorithm's state."""
    start: dict[str, Any] = {"round": 0, "nodes": list(task.payload["targets"])}
    return {**start, **rounds.start(task.payload["parameters"])}


def instruction_for(
    task: Task, round_: int, step: Step, key: Ed25519PrivateKey
) -> tuple[dict[str, Any], str]:
    payload = WireInstruction(
        task_id=task.id, round=round_, step=step.step, ybar=step.ybar, beta=list(step.beta)
    ).model_dump(mode="json")
    return payload, sign(payload, key)


def first_instruction(
    task: Task, rounds: Rounds, key: Ed25519PrivateKey
) -> tuple[dict[str, Any], str]:
    assert task.progress is not None
    return instruction_for(task, 0, rounds.first(task.progress), key)


def advance(
    session: Session,
    task: Task,
    rows: list[tuple[Run, str]],
    profile: Profile,
    now: datetime,
    key: Ed25519PrivateKey,
) -> Advance:
    """Every run of the task's current round is final: pool, gate, and queue or finish."""
    progress = dict(task.progress or {})
    round_ = int(progress["round"])
    in_fit = set(progress["nodes"])
    current = [(run, name) for run, name in rows if name in in_fit]
    failed = sorted(name for run, name in current if run.state != RunState.SUCCEEDED.value)
    if round_ == 0:
        progress["nodes"] = sorted(set(in_fit) - set(failed))
        progress["left_out"] = failed
        current = [(run, name) for run, name in current if name not in failed]
        if not current:
            error = "no node could fit the model"
            return _finish(session, task, progress, profile, now, error=error)
    elif failed:
        return _finish(
            session,
            task,
            progress,
            profile,
            now,
            error=(
                f"node(s) {', '.join(failed)} stopped at round {round_}; a federated fit needs "
                "the same nodes in every round, so it was stopped"
            ),
        )
    outputs = [dict(run.output or {}) for run, _ in current]
    own = REGISTRY[task.analysis].rounds
    assert own is not None, "only an iterative analysis has rounds"
    try:
        following, fit = own.step(progress, outputs, profile)
    except ValueError as exc:  # the algorithm stops the fit, in words
        return _finish(session, task, progress, profile, now, error=str(exc))
    if following is None:
        progress["fit"] = fit
        progress["missing"] = sum(int(o.get("missing", 0)) for o in outputs)
        return _finish(session, task, progress, profile, now)
    progress["round"] = round_ + 1
    task.progress = progress
    woken = []
    instruction, signature = instruction_for(task, round_ + 1, following, key)  # one per round
    for run, name in current:
        run.round = round_ + 1
        run.instruction, run.instruction_signature = instruction, signature
        run.state = RunState.QUEUED.value
        run.output = None
        run.lease_expires_at = None
        run.finished_at = None
        woken.append(name)
    append_event(
        session,
        AUDIT,
        AuditEventType.TASK_ROUND_STARTED,
        by="hub",
        project_id=task.project_id,
        task_id=task.id,
        details={"round": round_ + 1, "step": following.step},
    )
    return Advance(woken=woken)


def _finish(
    session: Session,
    task: Task,
    progress: dict[str, Any],
    profile: Profile,
    now: datetime,
    error: str | None = None,
) -> Advance:
    """The fit (or the error that stopped it) as the analysis's combined result, and the task
    complete."""
    task.progress = progress
    analysis = REGISTRY[task.analysis]
    own = analysis.rounds
    assert own is not None, "only an iterative analysis has rounds"
    made = {
        "analysis": task.analysis,
        **own.finished(task.payload["parameters"], progress, error),
        "fit": progress.get("fit") if error is None else None,
        "error": error,
        "rounds": int(progress["round"]) + 1,
        "nodes_contributing": progress["nodes"] if error is None else [],
        "nodes_left_out": progress.get("left_out", []),
        "persons_missing_a_variable": progress.get("missing"),
    }
    task.combined = typed(analysis, made, list(task.payload["targets"]), profile)
    return complete_task(session, task, now)


def complete_task(session: Session, task: Task, now: datetime) -> Advance:
    """Mark ``task`` (its ``combined`` set) complete, with its audit event."""
    task.state = "complete"
    task.completed_at = now
    append_event(
        session,
        AUDIT,
        AuditEventType.TASK_COMPLETED,
        by="hub",
        project_id=task.project_id,
        task_id=task.id,
    )
    return Advance(completed=True)
