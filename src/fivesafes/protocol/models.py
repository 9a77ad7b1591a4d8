"""Pydantic models of everything that crosses the wire between researcher, hub and node.

Every request model forbids unknown fields and bounds its sizes: a task carries typed
parameters only, never code, SQL, row-level vectors or disclosure settings.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from fivesafes.cohorts.criteria import Cohort
from fivesafes.protocol.runs import ReasonCode, RunState

Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
AnalysisName = Literal["count"]
ANALYSES: tuple[str, ...] = ("count",)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- enrolment ---------------------------------------------------------------------------


class EnrolRequest(Strict):
    token: Annotated[str, StringConstraints(min_length=16, max_length=128)]
    node_name: Name
    public_key: Annotated[str, StringConstraints(min_length=40, max_length=64)]


class EnrolResponse(Strict):
    node_name: str
    hub_name: str
    hub_public_key: str


class HubInfo(Strict):
    name: str
    version: str
    public_key: str
    fingerprint: str


# ---- projects ------------------------------------------------------------------------------


class ProjectRecord(Strict):
    """What the hub says a project is; a node's custodian approves a snapshot of it."""

    project_id: str
    title: str
    version: int
    start_date: date
    end_date: date
    members: list[str]
    nodes: list[str]
    analyses: list[str]


class SignedProject(Strict):
    payload: dict[str, Any]
    signature: str


class ApprovalReport(Strict):
    """A node tells the hub its custodian's decision (information only: the node's own
    record is what counts)."""

    project_id: Identifier
    version: Annotated[int, Field(ge=1)]
    decision: Literal["approved", "revoked"]


# ---- tasks ---------------------------------------------------------------------------------


class CountParameters(Strict):
    cohort: Cohort


class TaskRequest(Strict):
    project_id: Identifier
    analysis: AnalysisName
    parameters: CountParameters
    nodes: Annotated[list[Name], Field(min_length=1, max_length=100)] | None = None
    timeout_seconds: Annotated[int, Field(ge=1, le=3600)] = 120


class TaskPayload(Strict):
    """The part of a task the hub signs and every node verifies before anything else."""

    task_id: str
    project_id: str
    project_version: int
    requester: str
    analysis: str
    parameters: dict[str, Any]
    targets: list[str]
    issued_at: datetime
    expires_at: datetime


class SignedTask(Strict):
    payload: dict[str, Any]
    signature: str


class Lease(Strict):
    run_id: str
    lease_expires_at: datetime
    task: SignedTask


# ---- results -------------------------------------------------------------------------------


class ReleasedCount(Strict):
    """A count after the disclosure gate: a rounded value, or a suppression marker."""

    value: int | None
    suppressed: bool
    rule: str


class CountOutput(Strict):
    count: ReleasedCount
    profile: str


class ResultPayload(Strict):
    run_id: str
    task_id: str
    node: str
    status: Literal["succeeded", "refused", "failed"]
    reason: ReasonCode | None = None
    message: str | None = None
    output: dict[str, Any] | None = None
    unknown_concepts: Annotated[list[int], Field(max_length=1000)] | None = None
    finished_at: datetime


class SignedResult(Strict):
    payload: dict[str, Any]
    signature: str


class SubmitAck(Strict):
    run_id: str
    state: RunState
    accepted: bool


# ---- what a researcher sees -----------------------------------------------------------------


class RunView(Strict):
    run_id: str
    node: str
    state: RunState
    reason: ReasonCode | None = None
    message: str | None = None
    output: dict[str, Any] | None = None
    finished_at: datetime | None = None


class TaskView(Strict):
    task_id: str
    project_id: str
    analysis: str
    state: Literal["running", "complete"]
    created_at: datetime
    deadline: datetime
    runs: list[RunView]
    combined: dict[str, Any] | None = None


class NodeView(Strict):
    name: str
    online: bool
    last_seen_at: datetime | None
    enrolled_at: datetime
    fingerprint: str


class ProjectView(Strict):
    project_id: str
    title: str
    version: int
    start_date: date
    end_date: date
    members: list[str]
    nodes: list[str]
    approvals: dict[str, str]
