"""The wire models of a correlation: its parameters, what a node releases per pair, and the
combined matrix the hub publishes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from fivesafes.analyses.catalogue import VARIABLES, VariableName
from fivesafes.analyses.parameters import CohortDefinition
from fivesafes.analyses.results.combined import Nodes, ProfileName
from fivesafes.protocol.models import FiniteFloat, GateRecord, Strict

CORRELATED = ("numeric", "count", "binary")
Missing = Literal["listwise", "pairwise"]


class CorrelationParameters(Strict):
    """Two to ten distinct numeric, count or binary variables of the catalogue."""

    cohort: CohortDefinition
    variables: Annotated[list[VariableName], Field(min_length=2, max_length=10)]
    missing: Missing = "listwise"

    @model_validator(mode="after")
    def _numbers(self) -> CorrelationParameters:
        if len(set(self.variables)) != len(self.variables):
            raise ValueError("each variable is named once")
        if any(VARIABLES[v].kind not in CORRELATED for v in self.variables):
            raise ValueError("a correlation's variables must be numeric, count or binary")
        return self


class CorrelationPair(Strict):
    """One pair over its complete cases: n, the means and the centred sums, or a marker."""

    row: Annotated[str, StringConstraints(max_length=64)]
    column: Annotated[str, StringConstraints(max_length=64)]
    suppressed: bool
    rule: Annotated[str, StringConstraints(max_length=200)] = ""
    n: Annotated[int, Field(ge=0)] | None = None
    mean_x: FiniteFloat | None = None
    mean_y: FiniteFloat | None = None
    sxx: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = None
    syy: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = None
    sxy: FiniteFloat | None = None

    def sums(self) -> tuple[int, float, float, float, float, float]:
        """n, the means, the centred sums of squares and the cross-product."""
        n, mx, my, sxx, syy, sxy = (self.n, self.mean_x, self.mean_y, self.sxx, self.syy, self.sxy)
        if n is None or mx is None or my is None or sxx is None or syy is None or sxy is None:
            raise ValueError("a suppressed pair has no sums")
        return n, mx, my, sxx, syy, sxy

    @model_validator(mode="after")
    def _values_or_marker(self) -> CorrelationPair:
        values = (self.n, self.mean_x, self.mean_y, self.sxx, self.syy, self.sxy)
        if self.suppressed != all(v is None for v in values):
            raise ValueError("a pair releases every sum or is suppressed, not both")
        return self


class CorrelationOutput(Strict):
    variables: Annotated[list[str], Field(min_length=2, max_length=10)]
    missing: Missing
    pairs: Annotated[list[CorrelationPair], Field(max_length=45)]
    gate: GateRecord

    @model_validator(mode="after")
    def _released_only_on_pass(self) -> CorrelationOutput:
        if (self.gate.verdict == "pass") != any(not p.suppressed for p in self.pairs):
            raise ValueError("a correlation releases pairs exactly when it passed")
        return self


VariableLabel = Annotated[str, StringConstraints(max_length=64)]


class PooledPair(Strict):
    """One pair pooled over the nodes that released it: n, r and its 95 % interval, or
    nothing if the pooled n fails the gate; the nodes that withheld it are named."""

    row: VariableLabel
    column: VariableLabel
    n: Annotated[int, Field(ge=0)] | None
    r: Annotated[float, Field(ge=-1.0, le=1.0, allow_inf_nan=False)] | None
    ci: tuple[FiniteFloat, FiniteFloat] | None
    nodes: Nodes
    nodes_suppressed: Nodes


class CorrelationCombined(Strict):
    """The pooled correlation matrix, pair by pair (``combined``)."""

    analysis: Literal["correlation"]
    variables: Annotated[list[VariableLabel], Field(max_length=10)]
    missing: Missing | None
    pairs: Annotated[list[PooledPair], Field(max_length=45)]
    nodes_contributing: Nodes
    nodes_missing: Nodes
    profile: ProfileName
