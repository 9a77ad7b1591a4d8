"""The wire models of a count: its parameters, and what a node releases."""

from __future__ import annotations

from pydantic import model_validator

from fivesafes.analyses.parameters import CohortDefinition
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
