"""The wire models of Kaplan-Meier: its parameters, a node's coarsened life tables, and the
curves the hub pools."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from fivesafes.analyses.catalogue import VARIABLES, VariableName
from fivesafes.analyses.parameters import CohortDefinition
from fivesafes.analyses.results.combined import NodeName, Nodes, ProfileName
from fivesafes.protocol.models import FiniteFloat, GateRecord, Label, Strict

Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


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
    """One level's blocks, or a suppression marker (no blocks) naming why. ``accuracy`` is the
    node's figure for its released blocks (``km.accuracy``): the largest difference, at a
    boundary they show, between their curve and Kaplan-Meier on the node's rows, rounded up to
    the 0.01 grid and never below what the rounding hides; None where the hub changed the
    blocks, or for a suppressed level (nothing is said about it)."""

    level: Label
    blocks: Annotated[list[SurvivalBlock], Field(max_length=200)]
    suppressed: bool
    rule: Annotated[str, StringConstraints(max_length=200)]
    accuracy: Probability | None = None

    @model_validator(mode="after")
    def _blocks_or_marker(self) -> KaplanMeierGroup:
        if self.suppressed == bool(self.blocks):
            raise ValueError("a group releases blocks or is suppressed, not both")
        if any(b.start < a.end for a, b in zip(self.blocks, self.blocks[1:], strict=False)):
            raise ValueError("blocks must follow one another")
        if self.accuracy is not None and (self.suppressed or not _on_grid(self.accuracy)):
            raise ValueError("a released level's accuracy is a multiple of 0.01")
        return self


def _on_grid(value: float) -> bool:
    return abs(value * 100 - round(value * 100)) < 1e-6


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


class PooledPoint(Strict):
    """A step of the pooled curve on a boundary every contributing node showed
    (``km.curves.CurvePoint``), with its 95 % interval (log-log)."""

    time: FiniteFloat
    at_risk: Annotated[int, Field(ge=0)]
    events: Annotated[int, Field(ge=0)]
    survival: Probability
    se: Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
    lower: Probability
    upper: Probability


class PooledGroup(Strict):
    """One level's pooled curve, who contributed, each node's released blocks and figure, and
    the largest of the figures (None unless every contributing node stated one)."""

    curve: Annotated[list[PooledPoint], Field(max_length=200)]
    accuracy: Probability | None = None
    nodes_contributing: Nodes
    nodes_suppressed: Nodes
    nodes_blocks: Annotated[
        dict[NodeName, Annotated[list[SurvivalBlock], Field(max_length=200)]],
        Field(max_length=100),
    ]
    nodes_accuracy: Annotated[dict[NodeName, Probability | None], Field(max_length=100)] = {}


class KaplanMeierCombined(Strict):
    """The pooled curve per level (``km.curves.combine``)."""

    analysis: Literal["km"]
    time: Label | None
    by: Label | None
    interval: FiniteFloat | None
    horizon: FiniteFloat | None
    groups: Annotated[dict[Label, PooledGroup], Field(max_length=50)]
    nodes_contributing: Nodes
    nodes_missing: Nodes
    profile: ProfileName
