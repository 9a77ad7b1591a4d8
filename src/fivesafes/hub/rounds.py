"""Iterative analyses at the hub: rounds of one task, each with an instruction the hub signs.

A GLM task starts with one run per node at round 0, each carrying the first instruction. When
every run of the round is final the hub adds the nodes' sums, gates the pooled sums, and either
queues the same runs again at the next round with a new signed instruction, or finishes:

- a node that did not succeed at round 0 is left out of the fit and named in the result;
- a node that did not succeed at a later round would change the fit's data mid-way, so the task
  ends with an error naming it.

The IRLS state between rounds is kept in ``tasks.progress``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from fivesafes.analyses.cox import CoxSums, Newton
from fivesafes.analyses.formula import parse_formula
from fivesafes.analyses.glm import IRLS, GLMError, Instruction, RoundSums
from fivesafes.audit.chain import append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.hub.db import AUDIT, Run, Task
from fivesafes.protocol.models import CoxParameters, GLMParameters, ModelRoundOutput
from fivesafes.protocol.models import Instruction as WireInstruction
from fivesafes.protocol.runs import RunState
from fivesafes.protocol.signing import sign
from fivesafes.sdc.gate import ModelEvidence, judge
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Verdict


@dataclass
class Advance:
    """What finishing a round led to: the nodes to wake for the next round, or the end."""

    woken: list[str] = field(default_factory=list)
    completed: bool = False


def first_round(task: Task) -> dict[str, Any]:
    """The state a new iterative task starts from (kept in ``task.progress``): IRLS for a
    GLM, Newton-Raphson for a Cox model."""
    start: dict[str, Any] = {"round": 0, "nodes": list(task.payload["targets"])}
    if task.analysis == "coxph":
        cox = CoxParameters.model_validate(task.payload["parameters"])
        columns = parse_formula(cox.formula).columns[1:]  # no intercept in a Cox model
        return {**start, "newton": Newton(columns).state()}
    glm = GLMParameters.model_validate(task.payload["parameters"])
    irls = IRLS(glm.family, parse_formula(glm.formula).columns)
    return {**start, "irls": irls.state()}


def instruction_for(
    task: Task, round_: int, step: Instruction, key: Ed25519PrivateKey
) -> tuple[dict[str, Any], str]:
    payload = WireInstruction(
        task_id=task.id, round=round_, step=step.step, ybar=step.ybar, beta=list(step.beta)
    ).model_dump(mode="json")
    return payload, sign(payload, key)


def first_instruction(task: Task, key: Ed25519PrivateKey) -> tuple[dict[str, Any], str]:
    assert task.progress is not None
    if "newton" in task.progress:
        newton = Newton.from_state(task.progress["newton"])
        return instruction_for(task, 0, Instruction("step", beta=newton.first()), key)
    return instruction_for(task, 0, IRLS.from_state(task.progress["irls"]).first(), key)


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
            return _finish(session, task, progress, now, error="no node could fit the model")
    elif failed:
        return _finish(
            session,
            task,
            progress,
            now,
            error=(
                f"node(s) {', '.join(failed)} stopped at round {round_}; a federated fit needs "
                "the same nodes in every round, so it was stopped"
            ),
        )
    outputs = [ModelRoundOutput.model_validate(run.output) for run, _ in current]
    try:
        following, fit = _step(progress, outputs, profile)
    except GLMError as exc:
        return _finish(session, task, progress, now, error=str(exc))
    if following is None:
        progress["fit"] = fit
        progress["missing"] = sum(o.missing for o in outputs)
        return _finish(session, task, progress, now)
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


def _step(
    progress: dict[str, Any], outputs: list[ModelRoundOutput], profile: Profile
) -> tuple[Instruction | None, dict[str, Any] | None]:
    """One step of the hub's algorithm on the pooled round: the next instruction, or the fit.
    Updates the algorithm's state in ``progress``. Raises GLMError."""
    if "newton" in progress:
        newton = Newton.from_state(progress["newton"])
        pooled = _pool_cox(outputs, len(newton.names))
        _gate_pooled(pooled.n, (pooled.events,), outputs, len(newton.names), profile)
        beta = newton.advance(pooled)
        progress["newton"] = newton.state()
        if beta is None:
            assert newton.fit is not None
            return None, newton.fit.as_dict()
        return Instruction("step", beta=beta), None
    irls = IRLS.from_state(progress["irls"])
    total = _pool(outputs)
    _gate_pooled(total.n, (), outputs, len(irls.names), profile)
    following = irls.advance(outputs[0].step, total)
    progress["irls"] = irls.state()
    if following is None:
        assert irls.fit is not None
        return None, irls.fit.as_dict()
    return following, None


def _pool_cox(outputs: list[ModelRoundOutput], p: int) -> CoxSums:
    total = CoxSums(0, 0, 0.0, np.zeros(p), np.zeros((p, p)))
    for o in outputs:
        total = total + CoxSums(
            o.n,
            o.events,
            o.loglike,
            np.asarray(o.xtwz, dtype=float),
            np.asarray(o.xtwx, dtype=float).reshape(p, p),
        )
    return total


def _pool(outputs: list[ModelRoundOutput]) -> RoundSums:
    total = RoundSums(n=0)
    for o in outputs:
        total = total + RoundSums(
            n=o.n,
            sum_y=o.sum_y,
            deviance=o.deviance,
            xtwx=np.asarray(o.xtwx, dtype=float).reshape(len(o.xtwz), len(o.xtwz)),
            xtwz=np.asarray(o.xtwz, dtype=float),
            pearson=o.pearson,
            loglike=o.loglike,
        )
    return total


def _gate_pooled(
    n: int, levels: tuple[int, ...], outputs: list[ModelRoundOutput], p: int, profile: Profile
) -> None:
    """The hub's own gate on the pooled round (it may be stricter than a node's)."""
    if any(len(o.xtwz) not in (0, p) for o in outputs):
        raise GLMError("a node's sums do not fit the model's design")
    judgement = judge(ModelEvidence(n=n, parameters=p, level_counts=levels), profile)
    if judgement.verdict is not Verdict.PASS:
        raise GLMError(f"the pooled model fails the hub's gate ({', '.join(judgement.rules)})")


def _finish(
    session: Session, task: Task, progress: dict[str, Any], now: datetime, error: str | None = None
) -> Advance:
    task.progress = progress
    task.combined = {
        "analysis": task.analysis,
        "formula": task.payload["parameters"]["formula"],
        "fit": progress.get("fit") if error is None else None,
        "error": error,
        "rounds": int(progress["round"]) + 1,
        "nodes_contributing": progress["nodes"] if error is None else [],
        "nodes_left_out": progress.get("left_out", []),
        "persons_missing_a_variable": progress.get("missing"),
    }
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
