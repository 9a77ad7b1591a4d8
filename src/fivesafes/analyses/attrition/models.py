"""The wire models of an attrition: its parameters, and the steps a node releases."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from fivesafes.analyses.parameters import CohortDefinition
from fivesafes.protocol.models import GateRecord, ReleasedCount, Strict


class AttritionParameters(Strict):
    """Persons remaining after each step of a cohort definition
    (``fivesafes.analyses.attrition``)."""

    cohort: CohortDefinition


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
