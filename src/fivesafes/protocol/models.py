"""Pydantic models of everything that crosses the wire between researcher, hub and node.

Every request model forbids unknown fields and bounds its sizes: a task carries typed
parameters only, never code, SQL, row-level vectors or disclosure settings.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from fivesafes.protocol.projects import DataDomain, Linkage, Sensitivity
from fivesafes.protocol.runs import ReasonCode, RunState

Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
AnalysisName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
"""An analysis's name, as the registry knows it (``fivesafes.analyses.registry``)."""


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


ProjectText = Annotated[str, StringConstraints(max_length=5000)]
Username = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]


class ProjectPerson(Strict):
    """A member as custodians see them: who, from where, accredited until when."""

    username: str
    display_name: str
    organisation: str | None = None
    organisation_kind: str | None = None  # governance.people.OrganisationKind
    accredited_until: date | None = None


class ProjectRecord(Strict):
    """What the hub says a project is; a node's custodian approves a snapshot of it.

    ``analyses`` are references ``name@version``. Fields after ``analyses`` came with
    safe projects (issue 6) and have defaults, so a record signed before them still reads."""

    project_id: str
    title: str
    version: int
    start_date: date
    end_date: date
    members: list[str]
    nodes: list[str]
    analyses: list[str]
    lay_summary: str = ""
    purpose: str = ""
    public_benefit: str = ""
    pi: str | None = None
    data_domains: list[DataDomain] = [DataDomain.OMOP]
    sensitivity: Sensitivity = Sensitivity.STANDARD
    linkage: Linkage = Linkage.NONE
    people: list[ProjectPerson] = []


class SignedProject(Strict):
    payload: dict[str, Any]
    signature: str


class ApprovalReport(Strict):
    """A node tells the hub its custodian's decision (information only: the node's own
    record is what counts)."""

    project_id: Identifier
    version: Annotated[int, Field(ge=1)]
    decision: Literal["approved", "rejected", "revoked"]
    reason: Annotated[str, StringConstraints(max_length=1000)] | None = None


class SlideFactsWire(Strict):
    """A released slide's allow-listed facts, as its pack holds them."""

    width: Annotated[int, Field(ge=1, le=1_000_000)]
    height: Annotated[int, Field(ge=1, le=1_000_000)]
    stain: Annotated[str, StringConstraints(max_length=64)] | None = None
    mpp_x: Annotated[float, Field(gt=0, lt=1000)] | None = None
    mpp_y: Annotated[float, Field(gt=0, lt=1000)] | None = None
    objective_power: Annotated[float, Field(gt=0, lt=1000)] | None = None
    stored_levels: Annotated[int, Field(ge=1, le=64)]


class SlideReviewOffer(Strict):
    """A node offers the hub's review store a released slide's pack (ADR 0029): its release
    id (the slide's name outside the node), the project it is released for, its facts, and
    the pack's size and SHA-256 (sent next in chunks, checked when whole)."""

    review_id: Annotated[str, StringConstraints(pattern=r"^SL[0-9A-F]{20}$")]
    project_id: Identifier
    facts: SlideFactsWire
    bytes: Annotated[int, Field(ge=1, le=64 * 1024**3)]
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class ProjectRequest(Strict):
    """A new project, as a researcher or hub admin writes it (``POST /api/v1/projects``).
    ``pi`` defaults to the researcher creating it; ``analyses`` to every built-in one."""

    title: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    lay_summary: ProjectText = ""
    purpose: ProjectText = ""
    public_benefit: ProjectText = ""
    pi: Username | None = None
    members: Annotated[list[Username], Field(max_length=500)] = []
    nodes: Annotated[list[Name], Field(min_length=1, max_length=100)]
    data_domains: Annotated[list[DataDomain], Field(min_length=1, max_length=10)] = [
        DataDomain.OMOP
    ]
    analyses: (
        Annotated[list[Annotated[str, StringConstraints(max_length=80)]], Field(max_length=50)]
        | None
    ) = None
    start_date: date
    end_date: date
    sensitivity: Sensitivity = Sensitivity.STANDARD
    linkage: Linkage = Linkage.NONE


class ProjectEdit(Strict):
    """A change to a project (``PATCH /api/v1/projects/{id}``): only the fields given change.
    A change to anything but the title and lay summary makes a new version, which each node's
    custodian approves again. With ``expect_version`` the edit is refused (409) if the project
    changed since it was read."""

    expect_version: Annotated[int, Field(ge=1)] | None = None
    title: Annotated[str, StringConstraints(min_length=1, max_length=300)] | None = None
    lay_summary: ProjectText | None = None
    purpose: ProjectText | None = None
    public_benefit: ProjectText | None = None
    pi: Username | None = None
    members: Annotated[list[Username], Field(min_length=1, max_length=500)] | None = None
    nodes: Annotated[list[Name], Field(min_length=1, max_length=100)] | None = None
    data_domains: Annotated[list[DataDomain], Field(min_length=1, max_length=10)] | None = None
    analyses: (
        Annotated[
            list[Annotated[str, StringConstraints(max_length=80)]],
            Field(min_length=1, max_length=50),
        ]
        | None
    ) = None
    start_date: date | None = None
    end_date: date | None = None
    sensitivity: Sensitivity | None = None
    linkage: Linkage | None = None


# ---- tasks ---------------------------------------------------------------------------------


class GateTightening(Strict):
    """Disclosure settings stricter than a profile's: every one optional. In a task, each
    node applies the stricter of its own setting and this one (``Profile.at_least``), so a
    task can tighten a node's gate and never loosen it."""

    threshold: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    rounding_base: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    zeros_are_disclosive: bool | None = None
    nk_n: Annotated[int, Field(ge=1, le=100)] | None = None
    nk_k: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    p_ratio: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    dof_threshold: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    allow_min_max: bool | None = None
    check_missing_values: bool | None = None
    glm_ratio: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    differencing: Literal["refuse", "review"] | None = None


class TaskRequest(Strict):
    """A researcher's request for an analysis. Here ``parameters`` is any object; the hub
    reads it as the named analysis's own typed parameters
    (``fivesafes.analyses.registry.Registry.task_request``), which forbid unknown fields."""

    project_id: Identifier
    analysis: AnalysisName
    analysis_version: Annotated[int, Field(ge=1, le=9999, strict=True)] | None = None
    parameters: dict[str, Any]
    gate: GateTightening | None = None
    nodes: Annotated[list[Name], Field(min_length=1, max_length=100)] | None = None
    timeout_seconds: Annotated[int, Field(ge=1, le=3600, strict=True)] = 120  # true is not 1


class TaskPayload(Strict):
    """The part of a task the hub signs and every node verifies before anything else."""

    task_id: str
    project_id: str
    project_version: int
    requester: str
    analysis: str
    parameters: dict[str, Any]
    analysis_version: int = 1  # what the analysis is, with ``analysis``: ``name@version``
    # the requester's safe-researcher accreditation as the hub holds it: shown to custodians,
    # and each node refuses a task whose requester's accreditation has expired
    requester_accredited_until: date | None = None
    gate: dict[str, Any] | None = None  # a GateTightening: stricter settings asked for
    targets: list[str]
    issued_at: datetime
    expires_at: datetime


class SignedTask(Strict):
    payload: dict[str, Any]
    signature: str


class Instruction(Strict):
    """One round of an iterative analysis, signed by the hub: which step, with what."""

    task_id: str
    round: Annotated[int, Field(ge=0, le=1000)]
    step: Literal["mean", "start", "step"]
    ybar: Annotated[float, Field(allow_inf_nan=False)] | None = None
    beta: Annotated[list[Annotated[float, Field(allow_inf_nan=False)]], Field(max_length=200)] = []


class SignedInstruction(Strict):
    payload: dict[str, Any]
    signature: str


class Lease(Strict):
    run_id: str
    lease_expires_at: datetime
    task: SignedTask
    instruction: SignedInstruction | None = None


# ---- results -------------------------------------------------------------------------------


class ReleasedCount(Strict):
    """A count after the disclosure gate: a rounded value, or a suppression marker."""

    value: Annotated[int, Field(ge=0)] | None
    suppressed: bool
    rule: str

    @model_validator(mode="after")
    def _value_or_marker(self) -> ReleasedCount:
        if self.suppressed != (self.value is None):
            raise ValueError("a released count has a value or is suppressed, not both")
        return self


class GateRecord(Strict):
    """The gate's verdict that every released output carries: the profile it was judged
    under and the rules that fired (names only, never values)."""

    verdict: Literal["pass", "fail"]  # a ``review`` verdict is held at the node, never sent
    profile: str
    rules: Annotated[list[str], Field(max_length=50)] = []


Label = Annotated[str, StringConstraints(max_length=64)]


class CrosstabCell(Strict):
    """One cell: persons (rounded, or suppressed) and, in a magnitude table, the statistic of
    the value over them, released exactly when the count is."""

    row: Label
    column: Label
    count: ReleasedCount
    value: FiniteFloat | None = None

    @model_validator(mode="after")
    def _value_with_its_count(self) -> CrosstabCell:
        if self.value is not None and self.count.suppressed:
            raise ValueError("a cell's magnitude is released only with its count")
        return self


MAX_COLLIDING_RUNS = 10


class ResultPayload(Strict):
    run_id: str
    task_id: str
    node: str
    status: Literal["succeeded", "refused", "failed"]
    reason: ReasonCode | None = None
    message: str | None = None
    output: dict[str, Any] | None = None
    unknown_concepts: Annotated[list[int], Field(max_length=1000)] | None = None
    # a differencing refusal: the earlier runs of the project whose outputs it combines with
    colliding_runs: (
        Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=MAX_COLLIDING_RUNS)]
        | None
    ) = None
    round: Annotated[int, Field(ge=0, le=1000)] = 0
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
    asked: str | None = None  # what was asked, in a line (cohort, formula, variables)


class TaskSummary(Strict):
    """A task as a list shows it: what was asked, when, and how its nodes answered."""

    task_id: str
    project_id: str
    analysis: str
    asked: str
    state: Literal["running", "complete"]
    created_at: datetime
    nodes: dict[str, int]  # run state -> how many nodes are in it


class NodeView(Strict):
    name: str
    online: bool
    last_seen_at: datetime | None
    enrolled_at: datetime
    fingerprint: str


class NodeApprovalView(Strict):
    """A node's last report of its custodian's decision (information: the node decides)."""

    state: Literal["pending", "approved", "rejected", "revoked"]
    version: int | None = None  # the version decided on
    current: bool = False  # approved, and for the project's current version
    reason: str | None = None  # a rejection's reason
    reported_at: datetime | None = None


class ProjectView(Strict):
    project_id: str
    title: str
    version: int
    start_date: date
    end_date: date
    members: list[str]
    nodes: list[str]
    approvals: dict[str, str]  # node -> "pending", "approved v2", "rejected", "revoked"
    lay_summary: str = ""
    purpose: str = ""
    public_benefit: str = ""
    pi: str | None = None
    data_domains: list[DataDomain] = [DataDomain.OMOP]
    analyses: list[str] = []
    sensitivity: Sensitivity = Sensitivity.STANDARD
    linkage: Linkage = Linkage.NONE
    people: list[ProjectPerson] = []
    approval_states: dict[str, NodeApprovalView] = {}
    risk_tier: int = 1
    risk_reasons: list[str] = []
    active: bool = True  # today within its dates


class ProjectVersionView(Strict):
    version: int
    created_at: datetime
    created_by: str
    changed: list[str]
    record: ProjectRecord
