"""The wire models of a Cox model: its parameters (its rounds send ``ModelRoundOutput``) and
the fit the hub returns."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from fivesafes.analyses.catalogue import VARIABLES
from fivesafes.analyses.formula import parse_formula
from fivesafes.analyses.parameters import CohortDefinition
from fivesafes.analyses.results.combined import Coefficients, FittedModel, Intervals, Terms
from fivesafes.protocol.models import FiniteFloat, Strict


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


Ratio = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


class CoxFitted(Strict):
    """A fitted Cox model, stratified by node, Breslow ties (``cox.newton.CoxFit.as_dict``)."""

    names: Terms
    params: Coefficients
    hazard_ratios: Annotated[list[Ratio], Field(max_length=200)]
    bse: Coefficients
    z: Coefficients
    pvalues: Coefficients
    conf_int: Intervals
    loglik: FiniteFloat
    n: Annotated[int, Field(ge=0)]
    events: Annotated[int, Field(ge=0)]
    iterations: Annotated[int, Field(ge=0)]
    ties: Literal["breslow"]


class CoxCombined(FittedModel):
    """A federated Cox model's result: its fit, or the error that stopped it."""

    analysis: Literal["coxph"]
    fit: CoxFitted | None
