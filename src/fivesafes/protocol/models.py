"""Pydantic models of everything that crosses the wire between researcher, hub and node.

Every request model forbids unknown fields and bounds its sizes: a task carries typed
parameters only, never code, SQL, row-level vectors or disclosure settings.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from fivesafes.analyses.catalogue import VARIABLES, SummaryVariable, VariableName
from fivesafes.analyses.formula import parse_formula
from fivesafes.cohorts.circe import CirceCohort
from fivesafes.cohorts.criteria import Cohort
from fivesafes.governance.projects import DataDomain, Linkage, Sensitivity
from fivesafes.protocol.runs import ReasonCode, RunState

CohortDefinition = Cohort | CirceCohort
"""A cohort in the platform's own criteria model, or an OHDSI Circe (ATLAS) definition."""
Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
AnalysisName = Literal[
    "count",
    "summary",
    "glm",
    "coxph",
    "meta",
    "crosstab",
    "histogram",
    "km",
    "attrition",
    "characterise",
]
ANALYSES: tuple[str, ...] = (
    "count",
    "summary",
    "glm",
    "coxph",
    "meta",
    "crosstab",
    "histogram",
    "km",
    "attrition",
    "characterise",
)
ANALYSIS_VERSIONS: dict[str, int] = {name: 1 for name in ANALYSES}
"""Each built-in analysis's version: raised whenever what a node computes or releases for it
changes, so a custodian's approval of ``glm@1`` never covers a later ``glm@2``
(``fivesafes.governance.analyses``)."""
ITERATIVE: frozenset[str] = frozenset({"glm", "coxph"})
"""Analyses that run as rounds under one task: the hub sends a signed instruction each round."""


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


class CountParameters(Strict):
    cohort: CohortDefinition


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


Edges = Annotated[list[FiniteFloat], Field(min_length=2, max_length=51)]


def _increasing(edges: list[float]) -> None:
    if any(b <= a for a, b in itertools.pairwise(edges)):
        raise ValueError("bin edges must increase")


class SummaryParameters(Strict):
    """A summary of a named numeric or count variable (never a client-supplied vector; see
    docs/disclosure-control.md, "Summaries"), optionally per level of a categorical or binary
    factor; its quantiles come from bins on ``edges`` (default: the catalogue's)."""

    cohort: CohortDefinition
    variable: SummaryVariable
    by: VariableName | None = None
    edges: Edges | None = None

    @model_validator(mode="after")
    def _groups_are_categories(self) -> SummaryParameters:
        if self.by is not None and VARIABLES[self.by].kind not in ("categorical", "binary"):
            raise ValueError("a summary's grouping factor must be categorical or binary")
        if self.edges is not None:
            _increasing(self.edges)
        return self

    @property
    def bin_edges(self) -> list[float]:
        return list(self.edges) if self.edges else [float(e) for e in VARIABLES[self.variable].bins]


class GLMParameters(Strict):
    """A generalised linear model over named variables (``fivesafes.analyses.formula``)."""

    cohort: CohortDefinition
    formula: Annotated[str, StringConstraints(min_length=3, max_length=500)]
    family: Literal["gaussian", "binomial", "poisson"] = "gaussian"
    offset: VariableName | None = None
    weights: VariableName | None = None

    @model_validator(mode="after")
    def _a_model_the_catalogue_can_build(self) -> GLMParameters:
        formula = parse_formula(self.formula)  # FormulaError is a ValueError: a 422
        outcome = VARIABLES[formula.outcome].kind
        if outcome == "survival" or any(VARIABLES[t].kind == "survival" for t in formula.terms):
            raise ValueError("a time to event is for Cox models (coxph), not a GLM")
        if self.family == "binomial" and outcome != "binary":
            raise ValueError("a binomial model needs a binary (0/1) outcome")
        if self.family == "poisson" and outcome not in ("count", "binary"):
            raise ValueError("a Poisson model needs a count outcome")
        for name in (self.offset, self.weights):
            if name is not None and VARIABLES[name].kind == "categorical":
                raise ValueError("an offset or weights must be a numeric variable")
        if self.offset is not None and self.family != "poisson":
            raise ValueError("an offset is for Poisson models")
        self.formula = str(formula)
        return self


class CoxParameters(Strict):
    """A Cox model stratified by node: ``time_to_x ~ term + term`` (no intercept)."""

    cohort: CohortDefinition
    formula: Annotated[str, StringConstraints(min_length=3, max_length=500)]

    @model_validator(mode="after")
    def _a_survival_outcome(self) -> CoxParameters:
        formula = parse_formula(self.formula)
        if VARIABLES[formula.outcome].kind != "survival":
            raise ValueError("a Cox model's outcome is a time to event (e.g. time_to_lung_cancer)")
        if any(VARIABLES[t].kind == "survival" for t in formula.terms):
            raise ValueError("a time to event cannot be a covariate")
        self.formula = str(formula)
        return self


class CrosstabParameters(Strict):
    """Persons of a cohort by the levels of one or two categorical or binary variables; with
    ``value``, a magnitude table: per cell the ``statistic`` (mean or sum) of a named numeric
    or count variable over the persons who have it, and how many they are."""

    cohort: CohortDefinition
    rows: VariableName
    columns: VariableName | None = None
    value: SummaryVariable | None = None
    statistic: Literal["mean", "sum"] | None = None

    @model_validator(mode="after")
    def _categories(self) -> CrosstabParameters:
        for name in (self.rows, self.columns):
            if name is not None and VARIABLES[name].kind not in ("categorical", "binary"):
                raise ValueError("a crosstab's variables must be categorical or binary")
        if self.rows == self.columns:
            raise ValueError("rows and columns must be different variables")
        if self.statistic is not None and self.value is None:
            raise ValueError("a statistic needs a value variable to summarise")
        if self.value is not None and self.statistic is None:
            self.statistic = "mean"
        return self


class HistogramParameters(Strict):
    """Persons of a cohort by bins of a numeric variable, with edges agreed in the task (the
    same at every node, chosen by the researcher, never taken from any node's data)."""

    cohort: CohortDefinition
    variable: VariableName
    edges: Edges

    @model_validator(mode="after")
    def _numeric_and_increasing(self) -> HistogramParameters:
        if VARIABLES[self.variable].kind not in ("numeric", "count"):
            raise ValueError("a histogram's variable must be numeric or a count")
        _increasing(self.edges)
        return self


class KaplanMeierParameters(Strict):
    """Kaplan-Meier survival of a time to event, optionally by a categorical or binary factor,
    on intervals of ``interval`` years up to ``horizon`` years, agreed in the task
    (``fivesafes.analyses.km``)."""

    cohort: CohortDefinition
    time: VariableName
    by: VariableName | None = None
    interval: Annotated[float, Field(gt=0.0, le=50.0, allow_inf_nan=False)] = 1.0
    horizon: Annotated[float, Field(gt=0.0, le=100.0, allow_inf_nan=False)] = 10.0

    @model_validator(mode="after")
    def _survival_by_categories(self) -> KaplanMeierParameters:
        if VARIABLES[self.time].kind != "survival":
            raise ValueError("Kaplan-Meier needs a time to event (e.g. time_to_lung_cancer)")
        if self.by is not None and VARIABLES[self.by].kind not in ("categorical", "binary"):
            raise ValueError("a Kaplan-Meier grouping factor must be categorical or binary")
        if self.horizon / self.interval > 200:
            raise ValueError("at most 200 intervals: widen the interval or shorten the horizon")
        return self


class AttritionParameters(Strict):
    """Persons remaining after each step of a cohort definition
    (``fivesafes.analyses.attrition``)."""

    cohort: CohortDefinition


CharacteriseDomain = Literal["condition", "drug", "measurement", "procedure", "observation"]


class CharacteriseParameters(Strict):
    """Age bands, sex and the most recorded concepts of a cohort
    (``fivesafes.analyses.characterise``)."""

    cohort: CohortDefinition
    top: Annotated[int, Field(ge=1, le=50)] = 10
    window_days: Annotated[int, Field(ge=1, le=3650)] = 365
    domains: Annotated[list[CharacteriseDomain], Field(min_length=1, max_length=5)] = [
        "condition",
        "drug",
        "measurement",
    ]


PARAMETERS: dict[str, type[Strict]] = {
    "count": CountParameters,
    "summary": SummaryParameters,
    "glm": GLMParameters,
    "coxph": CoxParameters,
    "meta": GLMParameters,  # each node fits the model alone; the hub meta-analyses
    "crosstab": CrosstabParameters,
    "histogram": HistogramParameters,
    "km": KaplanMeierParameters,
    "attrition": AttritionParameters,
    "characterise": CharacteriseParameters,
}


class TaskRequest(Strict):
    project_id: Identifier
    analysis: AnalysisName
    analysis_version: Annotated[int, Field(ge=1, le=9999)] | None = None  # default: current
    parameters: (
        CountParameters
        | SummaryParameters
        | GLMParameters
        | CoxParameters
        | CrosstabParameters
        | HistogramParameters
        | KaplanMeierParameters
        | AttritionParameters
        | CharacteriseParameters
    )
    gate: GateTightening | None = None
    nodes: Annotated[list[Name], Field(min_length=1, max_length=100)] | None = None
    timeout_seconds: Annotated[int, Field(ge=1, le=3600)] = 120

    @model_validator(mode="before")
    @classmethod
    def _parameters_of_the_analysis(cls, data: Any) -> Any:
        """Read the parameters as the named analysis's own type (several have the same
        fields: a histogram's parameters are also a summary's with its own bins)."""
        if isinstance(data, dict) and isinstance(data.get("parameters"), dict):
            model = PARAMETERS.get(str(data.get("analysis")))
            if model is not None:
                data = {**data, "parameters": model.model_validate(data["parameters"])}
        return data

    @model_validator(mode="after")
    def _parameters_fit_the_analysis(self) -> TaskRequest:
        """Parameters are exactly the analysis's typed parameters (each model forbids unknown
        fields, so no vectors, seeds, row ids, SQL or disclosure settings can ride along)."""
        if not isinstance(self.parameters, PARAMETERS[self.analysis]):
            raise ValueError(f"the parameters are not those of the {self.analysis} analysis")
        return self


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


class CountOutput(Strict):
    count: ReleasedCount
    gate: GateRecord

    @model_validator(mode="after")
    def _released_only_on_pass(self) -> CountOutput:
        if (self.gate.verdict == "pass") == self.count.suppressed:
            raise ValueError("a count is released exactly when its verdict is pass")
        return self


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


class SummaryOutput(Strict):
    """A summary of one variable over a cohort: ``n`` contributors (rounded), their mean and
    standard deviation (ddof 1), how many of the cohort lack the variable, and the persons per
    agreed bin as the table checker released them (``fivesafes.analyses.quantiles``; a bin's
    row is its label, its column ``count``). Nothing but suppression markers when the verdict
    is ``fail``."""

    variable: SummaryVariable
    level: Label | None = None  # of the ``by`` factor
    n: ReleasedCount
    missing: ReleasedCount
    mean: Annotated[float, Field(allow_inf_nan=False)] | None
    sd: Annotated[float, Field(allow_inf_nan=False)] | None
    bins: Annotated[list[CrosstabCell], Field(max_length=50)] = []
    gate: GateRecord

    @model_validator(mode="after")
    def _released_only_on_pass(self) -> SummaryOutput:
        released = (self.n.value, self.mean, self.sd)
        if self.gate.verdict == "pass":
            if self.n.suppressed or self.mean is None:
                raise ValueError("a passed summary releases n and its mean")
        elif any(v is not None for v in released) or self.missing.value is not None or self.bins:
            raise ValueError("a summary that failed the gate releases no value")
        return self


class ModelRoundOutput(Strict):
    """One node's sums for one round of a model: never a row, and only after the node's model
    traps passed (``gate.verdict`` is ``pass``). A GLM sends its deviance, XᵀWX and XᵀWz
    (``fivesafes.analyses.glm.RoundSums``); a Cox model its log partial likelihood as
    ``loglike``, its information matrix as ``xtwx`` and its gradient as ``xtwz``."""

    round: Annotated[int, Field(ge=0, le=1000)]
    step: Literal["mean", "start", "step"]
    n: Annotated[int, Field(ge=0)]
    events: Annotated[int, Field(ge=0)] = 0
    missing: Annotated[int, Field(ge=0)]
    sum_y: FiniteFloat = 0.0
    deviance: FiniteFloat = 0.0
    xtwx: Annotated[list[list[FiniteFloat]], Field(max_length=200)] = []
    xtwz: Annotated[list[FiniteFloat], Field(max_length=200)] = []
    pearson: FiniteFloat = 0.0
    loglike: FiniteFloat = 0.0
    gate: GateRecord

    @model_validator(mode="after")
    def _consistent(self) -> ModelRoundOutput:
        if self.gate.verdict != "pass":
            raise ValueError("a model round is sent only when it passed the node's traps")
        p = len(self.xtwz)
        if len(self.xtwx) != p or any(len(row) != p for row in self.xtwx):
            raise ValueError("XᵀWX must be square and match XᵀWz")
        if self.step != "mean" and p == 0:
            raise ValueError("a start or step round carries XᵀWX and XᵀWz")
        return self


class NodeModelOutput(Strict):
    """A model fitted on one node's rows alone (for a meta-analysis): coefficients and
    standard errors, only after the node's model traps passed."""

    names: Annotated[list[str], Field(max_length=200)]
    params: Annotated[list[FiniteFloat], Field(max_length=200)]
    bse: Annotated[list[FiniteFloat], Field(max_length=200)]
    n: Annotated[int, Field(ge=0)]
    missing: Annotated[int, Field(ge=0)]
    gate: GateRecord

    @model_validator(mode="after")
    def _consistent(self) -> NodeModelOutput:
        if self.gate.verdict != "pass":
            raise ValueError("a model is sent only when it passed the node's traps")
        if not len(self.names) == len(self.params) == len(self.bse):
            raise ValueError("names, coefficients and standard errors must match")
        return self


class CrosstabOutput(Strict):
    """A table of distinct persons, as the node's checker released it: every cell of the
    catalogue's levels, suppressed (primary or secondary) or rounded. ``fail`` means some
    cells are suppressed; the others may still be read."""

    rows: str
    columns: str | None
    cells: Annotated[list[CrosstabCell], Field(max_length=400)]
    gate: GateRecord
    value: str | None = None  # a magnitude table: the variable summarised
    statistic: Literal["mean", "sum"] | None = None

    @model_validator(mode="after")
    def _magnitudes_in_a_magnitude_table(self) -> CrosstabOutput:
        if self.statistic is None and any(c.value is not None for c in self.cells):
            raise ValueError("a table of counts carries no magnitudes")
        if self.statistic is not None and any(
            (c.value is None) != c.count.suppressed for c in self.cells
        ):
            raise ValueError("a magnitude table releases a value with every released count")
        return self


class GroupedSummaryOutput(Strict):
    """A summary per level of a grouping factor, each judged by the gate on its own."""

    variable: SummaryVariable
    by: str
    groups: Annotated[list[SummaryOutput], Field(max_length=50)]


class SurvivalBlock(Strict):
    """Consecutive agreed intervals (start, end] shown as one step of a node's life table:
    persons at risk at ``start``, events and censorings in the block, rounded."""

    start: FiniteFloat
    end: FiniteFloat
    at_risk: Annotated[int, Field(ge=0)]
    events: Annotated[int, Field(ge=0)]
    censored: Annotated[int, Field(ge=0)]

    @model_validator(mode="after")
    def _forward(self) -> SurvivalBlock:
        if not 0.0 <= self.start < self.end:
            raise ValueError("a block ends after it starts, at or after 0")
        return self


class KaplanMeierGroup(Strict):
    """One level's blocks, or a suppression marker (no blocks) naming why."""

    level: Label
    blocks: Annotated[list[SurvivalBlock], Field(max_length=200)]
    suppressed: bool
    rule: Annotated[str, StringConstraints(max_length=200)]

    @model_validator(mode="after")
    def _blocks_or_marker(self) -> KaplanMeierGroup:
        if self.suppressed == bool(self.blocks):
            raise ValueError("a group releases blocks or is suppressed, not both")
        if any(b.start < a.end for a, b in zip(self.blocks, self.blocks[1:], strict=False)):
            raise ValueError("blocks must follow one another")
        return self


class KaplanMeierOutput(Strict):
    """A node's coarsened life tables, one group per level of ``by`` (or one, ``all``)."""

    time: str
    by: str | None
    interval: FiniteFloat
    horizon: FiniteFloat
    groups: Annotated[list[KaplanMeierGroup], Field(max_length=50)]
    gate: GateRecord

    @model_validator(mode="after")
    def _released_only_on_pass(self) -> KaplanMeierOutput:
        if (self.gate.verdict == "pass") != any(not g.suppressed for g in self.groups):
            raise ValueError("a survival output releases blocks exactly when it passed")
        return self


class AttritionStep(Strict):
    name: Annotated[str, StringConstraints(max_length=300)]
    count: ReleasedCount


class AttritionOutput(Strict):
    """Persons remaining after each step, each count released or suppressed by the gate."""

    steps: Annotated[list[AttritionStep], Field(max_length=100)]
    gate: GateRecord

    @model_validator(mode="after")
    def _released_only_on_pass(self) -> AttritionOutput:
        if (self.gate.verdict == "pass") != any(not s.count.suppressed for s in self.steps):
            raise ValueError("an attrition releases counts exactly when it passed")
        return self


class ConceptCount(Strict):
    """A concept recorded for at least the threshold of a cohort's persons, and how many."""

    concept_id: Annotated[int, Field(ge=1)]
    name: Annotated[str, StringConstraints(max_length=200)]
    count: ReleasedCount

    @model_validator(mode="after")
    def _released(self) -> ConceptCount:
        if self.count.suppressed:
            raise ValueError("a listed concept has a released count")
        return self


class CharacteriseOutput(Strict):
    """A cohort's size, age bands and sex (one-way tables) and its top concepts per domain."""

    count: ReleasedCount
    age: Annotated[list[CrosstabCell], Field(max_length=20)]
    sex: Annotated[list[CrosstabCell], Field(max_length=5)]
    concepts: dict[CharacteriseDomain, Annotated[list[ConceptCount], Field(max_length=50)]]
    gate: GateRecord

    @model_validator(mode="after")
    def _released_only_on_pass(self) -> CharacteriseOutput:
        released = not self.count.suppressed
        if (self.gate.verdict == "pass") != released:
            raise ValueError("a characterisation releases figures exactly when it passed")
        if not released and (
            any(not c.count.suppressed for c in [*self.age, *self.sex])
            or any(self.concepts.values())
        ):
            raise ValueError("a characterisation of a suppressed cohort releases nothing")
        return self


OUTPUTS: dict[str, type[Strict]] = {
    "count": CountOutput,
    "summary": SummaryOutput,
    "glm": ModelRoundOutput,
    "coxph": ModelRoundOutput,
    "meta": NodeModelOutput,
    "crosstab": CrosstabOutput,
    "histogram": CrosstabOutput,  # one column, "count"; a row per bin
    "km": KaplanMeierOutput,
    "attrition": AttritionOutput,
    "characterise": CharacteriseOutput,
}


class ResultPayload(Strict):
    run_id: str
    task_id: str
    node: str
    status: Literal["succeeded", "refused", "failed"]
    reason: ReasonCode | None = None
    message: str | None = None
    output: dict[str, Any] | None = None
    unknown_concepts: Annotated[list[int], Field(max_length=1000)] | None = None
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
