"""What a node releases for a meta-analysis: its own fit of the model (the parameters are a
GLM's)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

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
