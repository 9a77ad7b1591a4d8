"""What every combined result shares, as wire models: who took part, and the two shapes that
are not one analysis's own (the hub's generic failure, and a fitted model's frame).

Each analysis declares the model of its combined result (``Analysis.combined``); the hub
validates every combination through it before storing it, and a combination that is not one
releases nothing but :class:`NotCombined`. The registry publishes the union of them all in the
hub's OpenAPI document (``Registry.task_view``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from fivesafes.protocol.models import AnalysisName, FiniteFloat, Strict

NodeName = Annotated[str, StringConstraints(max_length=64)]
Nodes = Annotated[list[NodeName], Field(max_length=100)]
"""Nodes named in a combined result (a project has at most 100)."""
ProfileName = Annotated[str, StringConstraints(max_length=64)]
Words = Annotated[str, StringConstraints(max_length=1000)]
"""An error or a note, in words."""
Persons = Annotated[int, Field(ge=0)]
Coefficients = Annotated[list[FiniteFloat], Field(max_length=200)]
Intervals = Annotated[list[tuple[FiniteFloat, FiniteFloat]], Field(max_length=200)]
Terms = Annotated[list[Annotated[str, StringConstraints(max_length=200)]], Field(max_length=200)]


class NotCombined(Strict):
    """The hub could not combine the nodes' outputs (or what it combined was not the
    analysis's result): nothing is released but this error in words."""

    analysis: AnalysisName
    error: Words
    nodes_contributing: Annotated[list[NodeName], Field(max_length=0)]
    nodes_missing: Nodes
    profile: ProfileName


def not_combined(analysis: str, error: str, nodes: list[str], profile: str) -> NotCombined:
    """The failure that releases nothing: every node named as missing."""
    return NotCombined(
        analysis=analysis,
        error=error,
        nodes_contributing=[],
        nodes_missing=sorted(nodes),
        profile=profile,
    )


class FittedModel(Strict):
    """A model fitted round by round (``hub/rounds.py``): the formula, the fit or the error
    that stopped it, and who took part. Each such analysis narrows ``analysis`` and ``fit``."""

    analysis: AnalysisName
    formula: Annotated[str, StringConstraints(max_length=500)]
    fit: Strict | None
    error: Words | None
    rounds: Annotated[int, Field(ge=1, le=1001)]
    nodes_contributing: Nodes
    nodes_left_out: Nodes
    persons_missing_a_variable: Persons | None

    @model_validator(mode="after")
    def _a_fit_or_an_error(self) -> FittedModel:
        if (self.fit is None) == (self.error is None):
            raise ValueError("a fitted model has a fit or an error, not both")
        if self.error is not None and self.nodes_contributing:
            raise ValueError("a model that was not fitted has no contributing node")
        return self
