"""The node agent: pull work from the hub, decide by the node's own records, run, gate, answer.

The agent only ever calls out (a long-poll for the next run); nothing calls in. Its transport,
clock and runner (where analyses run, within the run's deadline: ``node.runners``) are
injected, so it can be tested without a network.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from fivesafes.node import runs
from fivesafes.node.db import Approval
from fivesafes.node.outcome import Outcome
from fivesafes.node.policy import (
    Refusal,
    check_task,
    held_by_approval,
    verified_instruction,
    verified_task,
)
from fivesafes.node.runners import Runner
from fivesafes.node.transport import HubRejected, HubTransport, HubUnreachable
from fivesafes.protocol.models import Instruction, Lease, SignedResult, TaskPayload
from fivesafes.storage.types import utcnow

log = logging.getLogger("fivesafes.node.agent")

Unit = Callable[[Callable[[Session], Any]], Any]


class Agent:
    def __init__(
        self,
        *,
        name: str,
        key: Ed25519PrivateKey,
        hub_public_key: str,
        unit: Unit,
        transport: HubTransport,
        runner: Runner,
        poll_wait: float = 20.0,
        retry_max: float = 15.0,
        run_limit: float = 300.0,
        clock: Callable[[], datetime] = utcnow,
        pooled: bool = False,
    ) -> None:
        self.name = name
        self._pooled = pooled  # a pool's agent: its data's dates are shifted per person
        self._key = key
        self._hub_key = hub_public_key
        self._unit = unit
        self._transport = transport
        self._runner = runner
        self._poll_wait = poll_wait
        self._retry_max = retry_max
        self._run_limit = run_limit
        self._clock = clock
        # False until the outbox was read and emptied; a delivery that fails sets it again, so
        # a step reads the outbox only when something may be waiting in it
        self._outbox_empty = False

    # ---- the loop -----------------------------------------------------------------------

    def warm_up(self) -> None:
        """Open the data source and compile a first query now, so the first run is fast."""
        self._runner.warm_up()

    def run_forever(self, stop: threading.Event) -> None:
        self.warm_up()
        backoff = 0.5
        while not stop.is_set():
            try:
                self.step()
                backoff = 0.5
            except HubUnreachable:
                log.warning("hub unreachable; retrying in %.1f s", backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, self._retry_max)
            except HubRejected as exc:
                log.error("hub refused a request: %s (%s)", exc.hub_code, exc.message)
                stop.wait(backoff)
                backoff = min(backoff * 2, self._retry_max)
            except Exception as exc:  # noqa: BLE001 - the agent must outlive one bad run
                log.error("agent step failed with %s; retrying", type(exc).__name__)
                stop.wait(backoff)
                backoff = min(backoff * 2, self._retry_max)
        self.close()

    def step(self) -> bool:
        """Deliver anything undelivered, then wait for and handle one run; True if one came."""
        if not self._outbox_empty:
            self.flush_outbox()
        lease = self._transport.next_run(self._poll_wait)
        if lease is None:
            return False
        self.handle(lease)
        return True

    def close(self) -> None:
        self._runner.close()

    # ---- one run -------------------------------------------------------------------------

    def handle(self, lease: Lease) -> None:
        round_ = int(lease.instruction.payload.get("round", 0)) if lease.instruction else 0
        key = runs.round_key(lease.run_id, round_)
        project_id = lease.task.payload.get("project_id")

        def records(s: Session) -> tuple[SignedResult | None, Approval | None]:
            approval = s.get(Approval, project_id) if isinstance(project_id, str) else None
            return runs.known_result(s, key), approval

        result, approval = self._unit(records)
        if result is None:
            result = self._execute(lease, approval)
        else:
            log.info("run %s was answered before; sending the recorded result", lease.run_id)
        self._deliver(result)

    def _execute(self, lease: Lease, approval: Approval | None) -> SignedResult:
        """Run the lease's task; ``approval`` is this node's record for the project the task
        names (read before the task was verified, so it is checked to be that project's)."""
        now = self._clock()
        task: TaskPayload | None = None
        try:
            task = verified_task(lease.task.payload, lease.task.signature, self._hub_key)
            if approval is not None and approval.project_id != task.project_id:
                approval = None  # cannot happen for a verified payload; never trust it anyway
            check_task(task, approval, node=self.name, now=now, pooled=self._pooled)
            instruction = (
                verified_instruction(lease.instruction, task, self._hub_key)
                if lease.instruction
                else None
            )
            outcome = held_by_approval(self._run(lease.run_id, task, instruction), approval)
        except Refusal as refusal:
            outcome = Outcome("refused", refusal.reason)
        task_id = task.task_id if task else str(lease.task.payload.get("task_id", "unknown"))[:64]
        log.info(
            "run %s (task %s): %s%s",
            lease.run_id,
            task_id,
            outcome.status,
            f" ({outcome.reason.value})" if outcome.reason else "",
        )
        result: SignedResult = self._unit(
            lambda s: runs.record_outcome(
                s,
                run_id=lease.run_id,
                task_id=task_id,
                task=task,
                outcome=outcome,
                node=self.name,
                key=self._key,
                now=self._clock(),
                round_=int(lease.instruction.payload.get("round", 0)) if lease.instruction else 0,
            )
        )
        return result

    def _run(self, run_id: str, task: TaskPayload, instruction: Instruction | None) -> Outcome:
        """The task's analysis within the run's deadline (``node.runners``): this node's
        limit, or sooner if the task expires sooner; the hub hears a heartbeat meanwhile."""
        seconds = max(1.0, min(self._run_limit, (task.expires_at - self._clock()).total_seconds()))
        return self._runner.run(
            task, instruction, seconds=seconds, heartbeat=lambda: self._transport.working(run_id)
        )

    # ---- delivery --------------------------------------------------------------------------

    def flush_outbox(self) -> None:
        for result in self._unit(runs.outbox):
            self._deliver(result)
        self._outbox_empty = True

    def _deliver(self, result: SignedResult) -> None:
        run_id = runs.round_key(str(result.payload["run_id"]), int(result.payload.get("round", 0)))
        self._outbox_empty = False  # until this result is marked submitted
        try:
            ack = self._transport.submit(result)
        except HubRejected as exc:
            if exc.http_status in (401, 503) or exc.http_status >= 500:
                raise  # not our result's fault: keep it in the outbox and retry
            log.error("hub rejected the result of run %s: %s", run_id, exc.hub_code)
            self._unit(lambda s: runs.mark_submitted(s, run_id, self._clock(), accepted=False))
        else:
            self._unit(
                lambda s: runs.mark_submitted(s, run_id, self._clock(), accepted=ack.accepted)
            )
        self._outbox_empty = True  # anything older was flushed before this run was taken
