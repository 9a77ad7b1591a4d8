"""The wire models of Kaplan-Meier: its parameters, and a node's coarsened life tables."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from fivesafes.analyses.catalogue import VARIABLES, VariableName
from fivesafes.analyses.parameters import CohortDefinition
from fivesafes.protocol.models import FiniteFloat, GateRecord, Label, Strict


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
