"""The wire models of a count: its parameters, what a node releases, and the total the hub
combines."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from fivesafes.analyses.parameters import CohortDefinition
from fivesafes.analyses.results.combined import Nodes, ProfileName
from fivesafes.protocol.models import GateRecord, ReleasedCount, Strict


class CountParameters(Strict):
    cohort: CohortDefinition


class CountOutput(Strict):
    count: ReleasedCount
    gate: GateRecord

    @model_validator(mode="after")
    def _released_only_on_pass(self) -> CountOutput:
        if (self.gate.verdict == "pass") == self.count.suppressed:
            raise ValueError("a count is released exactly when its verdict is pass")
        return self


class CountCombined(Strict):
    """The total of the released counts, judged again as a count; the nodes whose count was
    suppressed add nothing and are named (``Count.combine``)."""

    analysis: Literal["count"]
    total: ReleasedCount
    nodes_contributing: Nodes
    nodes_suppressed: Nodes
    nodes_missing: Nodes
    profile: ProfileName
