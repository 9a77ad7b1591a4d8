"""The wire models of an attrition: its parameters, the steps a node releases, and the steps
the hub sums."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from fivesafes.analyses.parameters import CohortDefinition
from fivesafes.analyses.results.combined import Nodes, ProfileName
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


class CombinedStep(Strict):
    """A step's count summed over the nodes and judged again; a step some node suppressed is
    a lower bound naming those nodes."""

    name: Annotated[str, StringConstraints(max_length=300)]
    count: ReleasedCount
    nodes_suppressed: Nodes


class AttritionCombined(Strict):
    """Persons remaining after each step, summed over the nodes (``attrition.steps.combine``)."""

    analysis: Literal["attrition"]
    steps: Annotated[list[CombinedStep], Field(max_length=100)]
    nodes_contributing: Nodes
    nodes_missing: Nodes
    profile: ProfileName
