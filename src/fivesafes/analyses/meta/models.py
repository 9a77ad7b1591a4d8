"""What a node releases for a meta-analysis: its own fit of the model (the parameters are a
GLM's); and the hub's meta-analysis of those fits."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, RootModel, StringConstraints, model_validator

from fivesafes.analyses.results.combined import Coefficients, NodeName, Nodes, Terms, Words
from fivesafes.protocol.models import FiniteFloat, GateRecord, Strict


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


class NodeEstimates(Strict):
    """A node's own coefficients and standard errors, as the hub passes them on."""

    params: Coefficients
    bse: Coefficients
    n: Annotated[int, Field(ge=0)]


class PooledTerm(Strict):
    """One term meta-analysed (``meta.pooling.Combined.as_dict``)."""

    term: Annotated[str, StringConstraints(max_length=200)]
    k: Annotated[int, Field(ge=1)]
    fixed: FiniteFloat
    fixed_se: FiniteFloat
    fixed_ci: tuple[FiniteFloat, FiniteFloat]
    fixed_p: FiniteFloat
    random: FiniteFloat
    random_se: FiniteFloat
    random_ci: tuple[FiniteFloat, FiniteFloat]
    random_p: FiniteFloat
    tau2: Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
    q: Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
    i2: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class MetaAnalysed(Strict):
    """The nodes' own fits and, per term, their fixed- and random-effects combination."""

    analysis: Literal["meta"]
    nodes: Annotated[dict[NodeName, NodeEstimates], Field(max_length=100)]
    nodes_contributing: Nodes
    nodes_missing: Nodes
    terms: Annotated[list[PooledTerm], Field(max_length=200)]
    error: None
    names: Terms


class MetaNotAnalysed(Strict):
    """No meta-analysis: no node fitted the model, or their models' terms differ."""

    analysis: Literal["meta"]
    nodes: Annotated[dict[NodeName, NodeEstimates], Field(max_length=100)]
    nodes_contributing: Nodes
    nodes_missing: Nodes
    terms: Annotated[list[PooledTerm], Field(max_length=0)]
    error: Words


class MetaCombined(RootModel[MetaAnalysed | MetaNotAnalysed]):
    """A meta-analysis's combined result, or why there is none."""
