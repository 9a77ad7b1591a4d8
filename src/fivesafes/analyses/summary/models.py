"""The wire models of a summary: its parameters, what a node releases, and what the hub pools
(each plain or by a grouping factor)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, RootModel, model_validator

from fivesafes.analyses.catalogue import VARIABLES, SummaryVariable, VariableName
from fivesafes.analyses.cells import PooledCells
from fivesafes.analyses.parameters import CohortDefinition, Edges, increasing
from fivesafes.analyses.results.combined import Nodes, ProfileName
from fivesafes.protocol.models import (
    CrosstabCell,
    FiniteFloat,
    GateRecord,
    Label,
    ReleasedCount,
    Strict,
)


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
            increasing(self.edges)
        return self

    @property
    def bin_edges(self) -> list[float]:
        return list(self.edges) if self.edges else [float(e) for e in VARIABLES[self.variable].bins]


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


class GroupedSummaryOutput(Strict):
    """A summary per level of a grouping factor, each judged by the gate on its own."""

    variable: SummaryVariable
    by: str
    groups: Annotated[list[SummaryOutput], Field(max_length=50)]


class PooledSummary(Strict):
    """Per-node summaries pooled (``summary.hub.combine_summaries``): n summed and judged
    again; mean and sd with the released n as weights; the released missing counts summed (a
    lower bound naming the nodes that suppressed theirs); bins summed, quantiles from them."""

    analysis: Literal["summary"]
    variable: SummaryVariable | None
    n: ReleasedCount
    missing: Annotated[int, Field(ge=0)] | None
    missing_suppressed: Nodes
    mean: FiniteFloat | None
    sd: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None
    quantiles: Annotated[dict[Label, FiniteFloat], Field(max_length=20)]
    bins: PooledCells
    weights: Literal["released (rounded) n per node"]
    nodes_contributing: Nodes
    nodes_suppressed: Nodes
    nodes_missing: Nodes
    profile: ProfileName


class PooledGroupedSummary(Strict):
    """A grouped summary pooled level by level, each level as a plain one."""

    analysis: Literal["summary"]
    variable: SummaryVariable
    by: Label
    groups: Annotated[dict[Label, PooledSummary], Field(max_length=50)]
    nodes_contributing: Nodes
    nodes_missing: Nodes
    profile: ProfileName


class SummaryCombined(RootModel[PooledSummary | PooledGroupedSummary]):
    """A summary's combined result: plain, or by the levels of its grouping factor."""
