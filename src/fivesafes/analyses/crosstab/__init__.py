"""Crosstab and histogram: distinct persons of a cohort by the levels of one or two categorical
variables (with a value, a magnitude table of its mean or sum per cell), or by agreed bins of a
numeric variable, each node's table judged cell by cell by the table checker.

| part    | what it does                                                                         |
| ------- | ------------------------------------------------------------------------------------ |
| node    | the checker's table on the catalogue's full grid, or on the agreed bins (``node.py``) |
| gate    | the checker's verdict: cells suppressed (primary, secondary) or rounded               |
| hub     | each cell judged again; cells summed on the common grid (``hub.py``)                 |
| reading | ``CrosstabResult``: the pooled table, each node's, a histogram's bars                 |
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import typer
from pydantic import BaseModel

from fivesafes.analyses.commands import CohortOption
from fivesafes.analyses.crosstab import hub
from fivesafes.analyses.crosstab.models import (
    CombinedTable,
    CrosstabOutput,
    CrosstabParameters,
    HistogramParameters,
)
from fivesafes.analyses.crosstab.node import grid, levels, node_histogram, node_table
from fivesafes.analyses.crosstab.result import CrosstabResult
from fivesafes.analyses.parameters import CohortLike, cohort_json
from fivesafes.analyses.plugin import (
    Analysis,
    Asker,
    Command,
    Computed,
    GateFailure,
    Judged,
    NodeContext,
)
from fivesafes.analyses.results import svg
from fivesafes.analyses.results.common import not_included
from fivesafes.analyses.results.page import Plot, Shown, table
from fivesafes.analyses.tables import ALL, NodeTable, released_cells
from fivesafes.protocol.models import GateRecord, TaskView
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Verdict

__all__ = [
    "ALL",
    "CombinedTable",
    "Crosstab",
    "CrosstabOutput",
    "CrosstabParameters",
    "CrosstabResult",
    "Histogram",
    "HistogramParameters",
    "NodeTable",
    "levels",
    "released_cells",
]


def crosstab(
    fed: Asker,
    cohort: CohortLike,
    rows: str,
    columns: str | None = None,
    *,
    value: str | None = None,
    statistic: str | None = None,
    project: str | None = None,
    nodes: list[str] | None = None,
    timeout: int = 120,
) -> CrosstabResult:
    """Distinct persons of ``cohort`` by the levels of ``rows`` (and ``columns``): each
    node's table checked by its gate, and the combined table gated again. With ``value``
    (e.g. ``"bmi"``) a magnitude table: per cell the ``statistic`` (``"mean"``, the
    default, or ``"sum"``) of the value over the persons who have it."""
    parameters: dict[str, Any] = {"cohort": cohort_json(cohort), "rows": rows}
    extra = {"columns": columns, "value": value, "statistic": statistic}
    parameters |= {k: v for k, v in extra.items() if v is not None}
    view = fed.submit("crosstab", parameters, project=project, nodes=nodes, timeout=timeout)
    return CrosstabResult.from_view(fed.wait(view.task_id, timeout))


def histogram(
    fed: Asker,
    cohort: CohortLike,
    variable: str,
    edges: list[float],
    *,
    project: str | None = None,
    nodes: list[str] | None = None,
    timeout: int = 120,
) -> CrosstabResult:
    """Distinct persons of ``cohort`` per bin of ``variable`` with the agreed ``edges``
    (bins [a, b), the last [a, b]): each node's histogram checked by its gate, and the
    combined one gated again. Rows are bins, the one column is ``count``."""
    parameters = {"cohort": cohort_json(cohort), "variable": variable, "edges": edges}
    view = fed.submit("histogram", parameters, project=project, nodes=nodes, timeout=timeout)
    return CrosstabResult.from_view(fed.wait(view.task_id, timeout))


def _ordered(frame: Any, cells: list[dict[str, Any]]) -> Any:
    """A pivoted table's rows in the order of the cells (a histogram's bins, not by text)."""
    order = list(dict.fromkeys(str(c["row"]) for c in cells))
    return frame.reindex([r for r in order if r in frame.index])


def _crosstab_command(
    fed: Asker,
    *,
    rows: Annotated[str, typer.Option(help="A categorical or binary variable, e.g. smoker.")],
    cohort: CohortOption,
    columns: Annotated[str | None, typer.Option(help="A second variable, e.g. sex.")] = None,
    value: Annotated[
        str | None, typer.Option(help="A magnitude table of this variable, e.g. bmi.")
    ] = None,
    statistic: Annotated[
        str | None, typer.Option(help="mean (default) or sum, with --value.")
    ] = None,
    project: str | None,
    nodes: list[str] | None,
    timeout: int,
) -> CrosstabResult:
    """Distinct persons by one or two variables per node and combined, after disclosure
    control (suppressed cells, rounding, the combined table gated again); with --value, the
    mean or sum of a variable per cell (judged as magnitudes: NK dominance, p%)."""
    return crosstab(
        fed,
        cohort,
        rows,
        columns,
        value=value,
        statistic=statistic,
        project=project,
        nodes=nodes,
        timeout=timeout,
    )


class Crosstab(Analysis):
    name = "crosstab"
    title = "Crosstab"
    parameters: ClassVar[type[BaseModel]] = CrosstabParameters
    output = CrosstabOutput
    combined = CombinedTable
    result = CrosstabResult
    client = {"crosstab": crosstab}
    exports = (CrosstabResult,)
    commands = {"crosstab": Command(_crosstab_command)}

    def compute(self, parameters: Any, context: NodeContext) -> Computed:
        checked = node_table(context.db, parameters, context.profile)
        return Computed(checked.persons, (checked, parameters))

    def judge(self, computed: Computed, profile: Profile) -> Judged:
        """The checker has judged every cell; a table with released cells is checked for
        differencing like any output (its persons: everyone counted in it)."""
        checked, parameters = computed.found
        if checked.output.errors:
            raise GateFailure("the table checker failed")
        if checked.output.verdict is Verdict.REVIEW:
            return Judged("review", None)
        cells = released_cells(checked, grid(checked, parameters), profile)
        released = any(not c.count.suppressed for c in cells)
        rules = sorted({f.finding.rule for f in checked.output.findings})
        verdict: Literal["pass", "fail"] = (
            "pass" if checked.output.verdict is Verdict.PASS else "fail"
        )
        document = CrosstabOutput(
            cells=cells,
            gate=GateRecord(verdict=verdict, profile=profile.name, rules=rules),
            **self.axes(parameters),
        )
        return Judged(verdict, document.model_dump(mode="json"), released=released)

    def axes(self, parameters: Any) -> dict[str, Any]:
        """What the table is of: its rows and columns, and a magnitude's value."""
        return {
            "rows": parameters.rows,
            "columns": parameters.columns,
            "value": parameters.value,
            "statistic": parameters.statistic,
        }

    def released_some(self, output: dict[str, Any]) -> bool:
        """A table whose gate failed still releases the cells that passed."""
        return any(not c.count.suppressed for c in CrosstabOutput.model_validate(output).cells)

    def regate(self, output: dict[str, Any], profile: Profile) -> dict[str, Any]:
        checked = CrosstabOutput.model_validate(output)
        return hub.regate_table(checked, profile).model_dump(mode="json")

    def combine(
        self, outputs: dict[str, dict[str, Any]], missing: list[str], profile: Profile
    ) -> dict[str, Any]:
        return {**hub.combine_tables(outputs, missing, profile), "analysis": self.name}

    def show(self, view: TaskView, page: Shown) -> None:
        result = self.read(view)
        opening, what = self.described(result)
        page.lines.append(
            f"{opening}{what}, summed over the nodes "
            "(a cell some node suppressed counts only what the others released)"
        )
        frame = result.to_frame()
        if not frame.empty:
            pooled = _ordered(frame, result.cells)
            page.tables.append(table(f"Persons: {what}", pooled, missing="suppressed", index=True))
        if result.statistic and not frame.empty:
            magnitude = _ordered(result.to_frame(magnitude=True), result.cells)
            caption = f"{result.statistic} of {result.value}"
            page.tables.append(table(caption, magnitude, missing="suppressed", index=True))
        for node in sorted(result.nodes):
            own = result.to_frame(node)
            if not own.empty:
                own = _ordered(own, result.nodes[node])
                caption = f"{node}: its released table"
                page.details.append(table(caption, own, missing="suppressed", index=True))
        self.draw(result, page)
        page.lines.extend(not_included(result.nodes_missing))

    def described(self, result: CrosstabResult) -> tuple[str, str]:
        """How the page's first line opens, and what the table is of."""
        return "Persons by ", f"{result.rows} by {result.columns or '—'}"

    def draw(self, result: CrosstabResult, page: Shown) -> None:
        """A crosstab has no picture; a histogram has its bars."""


class Histogram(Crosstab):
    name = "histogram"
    title = "Histogram"
    parameters = HistogramParameters
    output = CrosstabOutput  # one column, "count"; a row per bin
    client = {"histogram": histogram}

    def compute(self, parameters: Any, context: NodeContext) -> Computed:
        checked = node_histogram(context.db, parameters, context.profile)
        return Computed(checked.persons, (checked, parameters))

    def axes(self, parameters: Any) -> dict[str, Any]:
        return {"rows": parameters.variable, "columns": None}

    def described(self, result: CrosstabResult) -> tuple[str, str]:
        return "Histogram of ", str(result.rows)

    def draw(self, result: CrosstabResult, page: Shown) -> None:
        labels = [str(c["row"]) for c in result.cells]
        picture = svg.bars(labels, [c["count"]["value"] for c in result.cells], "persons")
        if picture:
            page.plots.append(Plot(f"Histogram of {result.rows}, summed over the nodes", picture))
