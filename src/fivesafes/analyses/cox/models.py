"""The wire model of a Cox model's parameters (its rounds send ``ModelRoundOutput``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints, model_validator

from fivesafes.analyses.catalogue import VARIABLES
from fivesafes.analyses.formula import parse_formula
from fivesafes.analyses.parameters import CohortDefinition
from fivesafes.protocol.models import Strict


class CoxParameters(Strict):
    """A Cox model stratified by node: ``time_to_x ~ term + term`` (no intercept)."""

    cohort: CohortDefinition
    formula: Annotated[str, StringConstraints(min_length=3, max_length=500)]

    @model_validator(mode="after")
    def _a_survival_outcome(self) -> CoxParameters:
        formula = parse_formula(self.formula)
        if VARIABLES[formula.outcome].kind != "survival":
            raise ValueError("a Cox model's outcome is a time to event (e.g. time_to_lung_cancer)")
        if any(VARIABLES[t].kind == "survival" for t in formula.terms):
            raise ValueError("a time to event cannot be a covariate")
        self.formula = str(formula)
        return self
