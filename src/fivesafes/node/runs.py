"""Runs as the node records them: each result is stored (signed) before it is sent, and the
persons behind a released output are remembered in the same transaction.

The stored, unsent results are the outbox: a node killed between computing a result and
delivering it sends it on restart, and a run it already answered is answered again from the
record rather than recomputed.
"""

from __future__ import annotations

from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from fivesafes.audit.chain import append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.node.db import AUDIT, Base, NodeRun
from fivesafes.node.outcome import Outcome
from fivesafes.node.person_sets import record_person_set
from fivesafes.protocol.models import ResultPayload, SignedResult, TaskPayload
from fivesafes.protocol.signing import sign

# Every round of every task reads, records and marks one run: these statements are built once
# and run on the session's connection (no ORM object is loaded).
_RUNS = Base.metadata.tables["runs"]
_KNOWN = select(_RUNS.c.result_payload, _RUNS.c.result_signature).where(
    _RUNS.c.run_id == bindparam("key")
)
_MARK_SUBMITTED = (
    update(_RUNS)
    .where(_RUNS.c.run_id == bindparam("key"), _RUNS.c.submitted_at.is_(None))
    .values(submitted_at=bindparam("now", type_=_RUNS.c.submitted_at.type))
    .returning(_RUNS.c.project_id, _RUNS.c.task_id, _RUNS.c.result_payload)
)


def round_key(run_id: str, round_: int = 0) -> str:
    """The node's key for one round of a run (a run of an iterative analysis has several)."""
    return run_id if round_ == 0 else f"{run_id}/{round_}"


def known_result(session: Session, run_id: str) -> SignedResult | None:
    run = session.connection().execute(_KNOWN, {"key": run_id}).first()
    if run is None:
        return None
    return SignedResult(payload=run.result_payload, signature=run.result_signature)


def record_outcome(
    session: Session,
    *,
    run_id: str,
    task_id: str,
    task: TaskPayload | None,
    outcome: Outcome,
    node: str,
    key: Ed25519PrivateKey,
    now: datetime,
    round_: int = 0,
) -> SignedResult:
    """Sign and store a run's result (the outbox), with its audit event, in one transaction."""
    payload = ResultPayload(
        run_id=run_id,
        task_id=task_id,
        node=node,
        status=outcome.status,
        reason=outcome.reason,
        output=outcome.output,
        unknown_concepts=outcome.unknown_concepts,
        colliding_runs=list(outcome.colliding) or None,
        round=round_,
        finished_at=now,
    ).model_dump(mode="json")
    stored_as = round_key(run_id, round_)
    signature = sign(payload, key)
    if outcome.release is not None and task is not None and outcome.output is not None:
        released = outcome.release
        for n, persons in enumerate((released.persons, *released.also)):
            output_key = released.output_key if n == 0 else f"{released.output_key}#{n}"
            record_person_set(
                session, task.project_id, output_key, stored_as, persons, outcome.output
            )
    session.connection().execute(
        _RUNS.insert(),
        {
            "run_id": stored_as,
            "task_id": task_id,
            "project_id": task.project_id if task else None,
            "requester": task.requester if task else None,
            "analysis": task.analysis if task else None,
            "requester_accredited_until": task.requester_accredited_until if task else None,
            "received_at": now,
            "state": outcome.status,
            "reason": outcome.reason.value if outcome.reason else None,
            "result_payload": payload,
            "result_signature": signature,
            "submitted_at": None,
            "held_output": outcome.held,
        },
    )
    event = (
        AuditEventType.RUN_EXECUTED if outcome.status != "refused" else AuditEventType.RUN_REFUSED
    )
    append_event(
        session,
        AUDIT,
        event,
        by=task.requester if task else "unknown",
        outcome=outcome.status,
        project_id=task.project_id if task else None,
        node=node,
        task_id=task_id,
        run_id=stored_as,
        details={"reason": outcome.reason.value} if outcome.reason else {},
    )
    return SignedResult(payload=payload, signature=signature)


def outbox(session: Session) -> list[SignedResult]:
    rows = session.scalars(
        select(NodeRun).where(NodeRun.submitted_at.is_(None)).order_by(NodeRun.received_at)
    )
    return [SignedResult(payload=r.result_payload, signature=r.result_signature) for r in rows]


def mark_submitted(session: Session, run_id: str, now: datetime, accepted: bool) -> None:
    """The hub acknowledged ``run_id``'s result: it leaves the outbox (once)."""
    run = session.connection().execute(_MARK_SUBMITTED, {"key": run_id, "now": now}).first()
    if run is None:  # unknown, or marked before
        return
    append_event(
        session,
        AUDIT,
        AuditEventType.RESULT_SUBMITTED,
        by="node",
        node=run.result_payload.get("node"),
        project_id=run.project_id,
        task_id=run.task_id,
        run_id=run_id,
        outcome="accepted" if accepted else "already_final",
    )


def recent_runs(session: Session, limit: int = 50) -> list[NodeRun]:
    return list(session.scalars(select(NodeRun).order_by(NodeRun.received_at.desc()).limit(limit)))
