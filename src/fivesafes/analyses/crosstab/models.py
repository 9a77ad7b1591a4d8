"""The wire models of crosstabs and histograms: their parameters, the table a node releases,
and the table the hub combines."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from fivesafes.analyses.catalogue import VARIABLES, SummaryVariable, VariableName
from fivesafes.analyses.cells import PooledCells
from fivesafes.analyses.parameters import CohortDefinition, Edges, increasing
from fivesafes.analyses.results.combined import Nodes, ProfileName
from fivesafes.protocol.models import CrosstabCell, GateRecord, Label, Strict


class CrosstabParameters(Strict):
    """Persons of a cohort by the levels of one or two categorical or binary variables; with
    ``value``, a magnitude table: per cell the ``statistic`` (mean or sum) of a named numeric
    or count variable over the persons who have it, and how many they are."""

    cohort: CohortDefinition
    rows: VariableName
    columns: VariableName | None = None
    value: SummaryVariable | None = None
    statistic: Literal["mean", "sum"] | None = None

    @model_validator(mode="after")
    def _categories(self) -> CrosstabParameters:
        for name in (self.rows, self.columns):
            if name is not None and VARIABLES[name].kind not in ("categorical", "binary"):
                raise ValueError("a crosstab's variables must be categorical or binary")
        if self.rows == self.columns:
            raise ValueError("rows and columns must be different variables")
        if self.statistic is not None and self.value is None:
            raise ValueError("a statistic needs a value variable to summarise")
        if self.value is not None and self.statistic is None:
            self.statistic = "mean"
        return self


class HistogramParameters(Strict):
    """Persons of a cohort by bins of a numeric variable, with edges agreed in the task (the
    same at every node, chosen by the researcher, never taken from any node's data)."""

    cohort: CohortDefinition
    variable: VariableName
    edges: Edges

    @model_validator(mode="after")
    def _numeric_andincreasing(self) -> HistogramParameters:
        if VARIABLES[self.variable].kind not in ("numeric", "count"):
            raise ValueError("a histogram's variable must be numeric or a count")
        increasing(self.edges)
        return self


class CrosstabOutput(Strict):
    """A table of distinct persons, as the node's checker released it: every cell of the
    catalogue's levels, suppressed (primary or secondary) or rounded. ``fail`` means some
    cells are suppressed; the others may still be read."""

    rows: str
    columns: str | None
    cells: Annotated[list[CrosstabCell], Field(max_length=400)]
    gate: GateRecord
    value: str | None = None  # a magnitude table: the variable summarised
    statistic: Literal["mean", "sum"] | None = None

    @model_validator(mode="after")
    def _magnitudes_in_a_magnitude_table(self) -> CrosstabOutput:
        if self.statistic is None and any(c.value is not None for c in self.cells):
            raise ValueError("a table of counts carries no magnitudes")
        if self.statistic is not None and any(
            (c.value is None) != c.count.suppressed for c in self.cells
        ):
            raise ValueError("a magnitude table releases a value with every released count")
        return self


class CombinedTable(Strict):
    """The nodes' released cells added on the common grid (``crosstab.hub.combine_tables``):
    a cell some node suppressed is a lower bound naming those nodes; every combined cell is
    judged again. A node whose table summarises another magnitude is left out (missing)."""

    analysis: Literal["crosstab", "histogram"]
    rows: Label | None
    columns: Label | None
    value: Label | None
    statistic: Literal["mean", "sum"] | None
    cells: PooledCells
    nodes_contributing: Nodes
    nodes_missing: Nodes
    profile: ProfileName
