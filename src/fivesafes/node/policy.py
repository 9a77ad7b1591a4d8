"""What a node lets run: decided by its own records, never by the hub's word.

A task runs only if its signature verifies against the pinned hub key, it is addressed to this
node and not expired, and this node's custodian approved this version of the project, for this
requester (whose accreditation, as the hub signed it, has not expired), for this analysis at
this version, within the project's dates. With the approval's ``outputs_to_airlock`` every
output is then held for an output checker (:func:`held_by_approval`).

| check, in order                                        | refusal                          |
| ------------------------------------------------------ | -------------------------------- |
| the task names this node                               | ``not_a_target``                 |
| the task has not expired                               | ``task_expired``                 |
| the project is approved here (not rejected, revoked)   | ``project_not_approved``         |
| for the task's project version                         | ``project_version_not_approved`` |
| today within the approved dates                        | ``project_not_active``           |
| the requester is an approved member                    | ``requester_not_member``         |
| the requester's accreditation runs through today       | ``requester_not_accredited``     |
| the approval allows ``analysis@version``, run here too | ``analysis_not_allowed``         |
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from fivesafes.analyses.parameters import cohorts_in
from fivesafes.analyses.registry import REGISTRY
from fivesafes.data.domains import DOMAINS
from fivesafes.governance.analyses import allows
from fivesafes.node.db import Approval
from fivesafes.node.outcome import Outcome, held_output
from fivesafes.protocol.errors import BadSignature
from fivesafes.protocol.models import Instruction, SignedInstruction, TaskPayload
from fivesafes.protocol.projects import DataDomain
from fivesafes.protocol.runs import ReasonCode
from fivesafes.protocol.signing import verify


class Refusal(Exception):
    """The node will not run the task; ``reason`` is what it tells the hub."""

    def __init__(self, reason: ReasonCode) -> None:
        super().__init__(reason.value)
        self.reason = reason


def verified_task(payload: dict[str, Any], signature: str, hub_public_key: str) -> TaskPayload:
    try:
        verify(payload, signature, hub_public_key)
    except BadSignature:
        raise Refusal(ReasonCode.BAD_SIGNATURE) from None
    try:
        return TaskPayload.model_validate(payload)
    except ValidationError:
        raise Refusal(ReasonCode.INVALID_PARAMETERS) from None


def verified_instruction(
    signed: SignedInstruction, task: TaskPayload, hub_public_key: str
) -> Instruction:
    """A round's instruction, only if the hub signed it for this very task."""
    try:
        verify(signed.payload, signed.signature, hub_public_key)
    except BadSignature:
        raise Refusal(ReasonCode.BAD_SIGNATURE) from None
    try:
        instruction = Instruction.model_validate(signed.payload)
    except ValidationError:
        raise Refusal(ReasonCode.INVALID_PARAMETERS) from None
    if instruction.task_id != task.task_id:
        raise Refusal(ReasonCode.BAD_SIGNATURE)  # a round of another task
    return instruction


def check_task(
    task: TaskPayload,
    approval: Approval | None,
    *,
    node: str,
    now: datetime,
    pooled: bool = False,
) -> None:
    """Raise :class:`Refusal` unless this node's records allow ``task`` to run now. At a pool
    (``pooled``: its data's dates are shifted per person) a cohort naming a calendar date is
    refused."""
    if node not in task.targets:
        raise Refusal(ReasonCode.NOT_A_TARGET)
    if task.expires_at <= now:
        raise Refusal(ReasonCode.TASK_EXPIRED)
    if approval is None or approval.state != "approved":
        raise Refusal(ReasonCode.PROJECT_NOT_APPROVED)
    if approval.version != task.project_version:
        raise Refusal(ReasonCode.PROJECT_VERSION_NOT_APPROVED)
    if not approval.start_date <= now.date() <= approval.end_date:
        raise Refusal(ReasonCode.PROJECT_NOT_ACTIVE)
    if task.requester not in approval.members:
        raise Refusal(ReasonCode.REQUESTER_NOT_MEMBER)
    accredited = task.requester_accredited_until
    if accredited is None or accredited < now.date():
        raise Refusal(ReasonCode.REQUESTER_NOT_ACCREDITED)
    analysis = REGISTRY.get(task.analysis)
    if (
        analysis is None
        or analysis.version != task.analysis_version
        or not allows(approval.analyses, task.analysis, task.analysis_version)
    ):
        raise Refusal(ReasonCode.ANALYSIS_NOT_ALLOWED)
    approved = approved_domains(approval)
    if not analysis.domains <= approved:
        raise Refusal(ReasonCode.DOMAIN_NOT_APPROVED)
    if approved < frozenset(DOMAINS) or pooled:  # the parameters decide
        try:
            parameters = analysis.parameters.model_validate(task.parameters)
        except ValidationError:
            return  # the run refuses them (invalid_parameters), saying which
        if not analysis.domains_of(parameters) <= approved:
            raise Refusal(ReasonCode.DOMAIN_NOT_APPROVED)
        if pooled and any(c.calendar_dates() for c in cohorts_in(parameters)):
            raise Refusal(ReasonCode.CALENDAR_DATE_AT_POOL)


def approved_domains(approval: Approval) -> frozenset[str]:
    """The data domains the approval covers (one made before domains were kept: OMOP)."""
    return frozenset(approval.data_domains or [DataDomain.OMOP.value])


def can_run(task: TaskPayload, approval: Approval | None, *, node: str, now: datetime) -> bool:
    try:
        check_task(task, approval, node=node, now=now)
    except Refusal:
        return False
    return True


def held_by_approval(outcome: Outcome, approval: Approval | None) -> Outcome:
    """With the approval's ``outputs_to_airlock``, an output that would have been released is
    held for an output checker instead: nothing is sent and nothing is remembered as released
    (the differencing check never counts an output nobody received). The output and the
    persons behind it are kept at the node, for its airlock (``fivesafes.node.airlock``), which
    records them as released if two checkers approve it and it is released."""
    if approval is not None and approval.outputs_to_airlock and outcome.status == "succeeded":
        released = outcome.release
        persons = (released.persons, *released.also) if released is not None else ()
        held = held_output("outputs_to_airlock", outcome.output or {}, persons)
        return Outcome("refused", ReasonCode.HELD_FOR_REVIEW, held=held)
    return outcome
