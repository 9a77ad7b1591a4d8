"""The wire models of a GLM: its parameters, a node's sums for one round (a Cox model's
rounds send the same shape), and the fit the hub returns."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from fivesafes.analyses.catalogue import VARIABLES, VariableName
from fivesafes.analyses.formula import parse_formula
from fivesafes.analyses.parameters import CohortDefinition
from fivesafes.analyses.results.combined import Coefficients, FittedModel, Intervals, Terms
from fivesafes.protocol.models import FiniteFloat, GateRecord, Strict


class GLMParameters(Strict):
    """A generalised linear model over named variables (``fivesafes.analyses.formula``)."""

    cohort: CohortDefinition
    formula: Annotated[str, StringConstraints(min_length=3, max_length=500)]
    family: Literal["gaussian", "binomial", "poisson"] = "gaussian"
    offset: VariableName | None = None
    weights: VariableName | None = None

    @model_validator(mode="after")
    def _a_model_the_catalogue_can_build(self) -> GLMParameters:
        formula = parse_formula(self.formula)  # FormulaError is a ValueError: a 422
        outcome = VARIABLES[formula.outcome].kind
        if outcome == "survival" or any(VARIABLES[t].kind == "survival" for t in formula.terms):
            raise ValueError("a time to event is for Cox models (coxph), not a GLM")
        if self.family == "binomial" and outcome != "binary":
            raise ValueError("a binomial model needs a binary (0/1) outcome")
        if self.family == "poisson" and outcome not in ("count", "binary"):
            raise ValueError("a Poisson model needs a count outcome")
        for name in (self.offset, self.weights):
            if name is not None and VARIABLES[name].kind == "categorical":
                raise ValueError("an offset or weights must be a numeric variable")
        if self.offset is not None and self.family != "poisson":
            raise ValueError("an offset is for Poisson models")
        self.formula = str(formula)
        return self


class ModelRoundOutput(Strict):
    """One node's sums for one round of a model: never a row, and only after the node's model
    traps passed (``gate.verdict`` is ``pass``). A GLM sends its deviance, XᵀWX and XᵀWz
    (``fivesafes.analyses.glm.RoundSums``); a Cox model its log partial likelihood as
    ``loglike``, its information matrix as ``xtwx`` and its gradient as ``xtwz``."""

    round: Annotated[int, Field(ge=0, le=1000)]
    step: Literal["mean", "start", "step"]
    n: Annotated[int, Field(ge=0)]
    events: Annotated[int, Field(ge=0)] = 0
    missing: Annotated[int, Field(ge=0)]
    sum_y: FiniteFloat = 0.0
    deviance: FiniteFloat = 0.0
    xtwx: Annotated[list[list[FiniteFloat]], Field(max_length=200)] = []
    xtwz: Annotated[list[FiniteFloat], Field(max_length=200)] = []
    pearson: FiniteFloat = 0.0
    loglike: FiniteFloat = 0.0
    gate: GateRecord

    @model_validator(mode="after")
    def _consistent(self) -> ModelRoundOutput:
        if self.gate.verdict != "pass":
            raise ValueError("a model round is sent only when it passed the node's traps")
        p = len(self.xtwz)
        if len(self.xtwx) != p or any(len(row) != p for row in self.xtwx):
            raise ValueError("XᵀWX must be square and match XᵀWz")
        if self.step != "mean" and p == 0:
            raise ValueError("a start or step round carries XᵀWX and XᵀWz")
        return self


class GLMFit(Strict):
    """A fitted GLM with statsmodels' names (``glm.irls.Fit.as_dict``)."""

    family: Literal["gaussian", "binomial", "poisson"]
    names: Terms
    params: Coefficients
    bse: Coefficients
    z: Coefficients
    pvalues: Coefficients
    conf_int: Intervals
    deviance: FiniteFloat
    pearson_chi2: FiniteFloat
    scale: FiniteFloat
    llf: FiniteFloat
    aic: FiniteFloat
    nobs: Annotated[int, Field(ge=0)]
    df_resid: int
    iterations: Annotated[int, Field(ge=0)]


class GLMCombined(FittedModel):
    """A federated GLM's result: its fit, or the error that stopped it."""

    analysis: Literal["glm"]
    fit: GLMFit | None
