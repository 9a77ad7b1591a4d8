"""Summary: n, missing, mean, standard deviation and quantiles of a named variable over a
cohort, optionally per level of a grouping factor (each level judged on its own).

| part    | what it does                                                                       |
| ------- | ---------------------------------------------------------------------------------- |
| node    | each contributor's value (``node.py``); evidence: the values and the missing count |
| gate    | a magnitude cell: n rounded, mean and sd, bins by the table checker; or markers    |
| hub     | judged again; pooled with released n as weights (``hub.py``)                       |
| client  | the catalogue's bins; asked again with wider ones from released figures if those   |
|         | give no quartiles (``bins.py``)                                                    |
| reading | ``SummaryResult``, ``GroupedSummaryResult``, ``SummaryTable``; what to ask when    |
|         | quartiles are withheld                                                             |
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal, overload

import typer
from pyroaring import BitMap

from fivesafes.analyses.commands import CohortOption
from fivesafes.analyses.gating import by_evidence
from fivesafes.analyses.parameters import CohortLike, cohort_json
from fivesafes.analyses.plugin import (
    Analysis,
    Asker,
    Command,
    CommandError,
    Computed,
    Judged,
    NodeContext,
)
from fivesafes.analyses.results import svg
from fivesafes.analyses.results.common import not_included
from fivesafes.analyses.results.page import Plot, Shown, table
from fivesafes.analyses.summary import hub
from fivesafes.analyses.summary.models import (
    GroupedSummaryOutput,
    SummaryCombined,
    SummaryOutput,
    SummaryParameters,
)
from fivesafes.analyses.summary.node import (
    Described,
    VariableValues,
    grouped_values,
    released_bins,
    summary_output,
    variable_values,
)
from fivesafes.analyses.summary.result import (
    GroupedSummaryResult,
    NodeSummary,
    SummaryResult,
    SummaryTable,
)
from fivesafes.protocol.models import TaskView
from fivesafes.sdc.gate import Judgement, MagnitudeEvidence, judge
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Verdict

__all__ = [
    "Described",
    "GroupedSummaryOutput",
    "GroupedSummaryResult",
    "NodeSummary",
    "Summary",
    "SummaryCombined",
    "SummaryOutput",
    "SummaryParameters",
    "SummaryResult",
    "SummaryTable",
    "VariableValues",
    "grouped_values",
    "released_bins",
    "variable_values",
]


@overload
def summary(
    fed: Asker,
    cohort: CohortLike,
    variable: str,
    *,
    edges: list[float] | None = None,
    project: str | None = None,
    nodes: list[str] | None = None,
    timeout: int = 120,
    gate: dict[str, Any] | None = None,
) -> SummaryResult: ...


@overload
def summary(
    fed: Asker,
    cohort: CohortLike,
    variable: list[str],
    *,
    edges: list[float] | None = None,
    project: str | None = None,
    nodes: list[str] | None = None,
    timeout: int = 120,
    gate: dict[str, Any] | None = None,
) -> SummaryTable: ...


def summary(
    fed: Asker,
    cohort: CohortLike,
    variable: str | list[str],
    *,
    edges: list[float] | None = None,
    project: str | None = None,
    nodes: list[str] | None = None,
    timeout: int = 120,
    gate: dict[str, Any] | None = None,
) -> SummaryResult | SummaryTable:
    """n, missing, mean, standard deviation and quantiles (from bins on ``edges``) of a named
    ``variable`` (e.g. ``"age"``) over ``cohort`` at every node, after disclosure control,
    and pooled at the hub. A list of variables gives a ``SummaryTable``: one summary per
    variable (``edges`` is then not allowed).

    Without ``edges``, the catalogue's bins; if the pooled median and quartiles cannot be
    taken from them (a small cohort: most bins under the threshold), it asks once more with
    wider bins chosen from the n, mean and sd just released (``summary.bins``), and returns
    that result (``widened_from`` names the first task)."""
    if isinstance(variable, list):
        if edges is not None:
            raise ValueError("bin edges belong to one variable: summarise it on its own")
        options: dict[str, Any] = {"project": project, "nodes": nodes, "timeout": timeout}
        return SummaryTable(
            {name: summary(fed, cohort, name, gate=gate, **options) for name in variable}
        )

    def ask(bins: list[float] | None) -> SummaryResult:
        parameters: dict[str, Any] = {"cohort": cohort_json(cohort), "variable": variable}
        if bins is not None:
            parameters["edges"] = bins
        view = fed.submit(
            "summary", parameters, project=project, nodes=nodes, timeout=timeout, gate=gate
        )
        return SummaryResult.from_view(fed.wait(view.task_id, timeout))

    result = ask(edges)
    if edges is not None or result.n is None or result.quartiles_released():
        return result
    wider = result.wider_edges()
    if wider is None:
        return result
    return dataclasses.replace(ask(wider), widened_from=result.task_id)


def summary_by(
    fed: Asker,
    cohort: CohortLike,
    variable: str,
    by: str,
    *,
    edges: list[float] | None = None,
    project: str | None = None,
    nodes: list[str] | None = None,
    timeout: int = 120,
) -> GroupedSummaryResult:
    """As ``summary``, per level of a categorical or binary factor ``by`` (e.g. ``"sex"``);
    each level is judged by every node's gate on its own. Without ``edges``, as ``summary``:
    the catalogue's bins, and once more with wider ones chosen from the released figures of
    every level if some level's median and quartiles cannot be taken from them."""

    def ask(bins: list[float] | None) -> GroupedSummaryResult:
        parameters: dict[str, Any] = {
            "cohort": cohort_json(cohort),
            "variable": variable,
            "by": by,
        }
        if bins is not None:
            parameters["edges"] = bins
        view = fed.submit("summary", parameters, project=project, nodes=nodes, timeout=timeout)
        return GroupedSummaryResult.from_view(fed.wait(view.task_id, timeout))

    result = ask(edges)
    if edges is not None or result.quartiles_released():
        return result
    wider = result.wider_edges()
    if wider is None:
        return result
    return dataclasses.replace(ask(wider), widened_from=result.task_id)


def _summary_command(
    fed: Asker,
    *,
    variable: Annotated[
        list[str], typer.Option(help="A named variable: age, bmi or visits_past_year (repeat).")
    ],
    cohort: CohortOption,
    by: Annotated[str | None, typer.Option(help="A categorical or binary factor.")] = None,
    edges: Annotated[
        str | None,
        typer.Option(
            help='Quantile bin edges, e.g. "0,18,40,65,110" (default: the catalogue\'s, then '
            "wider ones chosen from the released n, mean and sd if those are too narrow)."
        ),
    ] = None,
    project: str | None,
    nodes: list[str] | None,
    timeout: int,
) -> list[SummaryResult | GroupedSummaryResult]:
    """n, missing, mean, standard deviation and quantiles (from released bins) of named
    variables per node and pooled, after disclosure control; per level of --by if given."""
    try:
        bins = [float(e) for e in edges.split(",")] if edges else None
    except ValueError:
        raise CommandError("--edges must be numbers separated by commas") from None
    if bins is not None and len(variable) > 1:
        raise CommandError("--edges belong to one variable: summarise it on its own")
    options: dict[str, Any] = {"project": project, "nodes": nodes, "timeout": timeout}
    results: list[SummaryResult | GroupedSummaryResult] = []
    for name in variable:
        if by is not None:
            results.append(summary_by(fed, cohort, name, by, edges=bins, **options))
        else:
            results.append(summary(fed, cohort, name, edges=bins, **options))
    return results


class Summary(Analysis):
    name = "summary"
    title = "Summary"
    parameters = SummaryParameters
    output = SummaryOutput  # or, with a grouping factor, GroupedSummaryOutput
    combined = SummaryCombined
    result = SummaryResult  # or, with a grouping factor, GroupedSummaryResult (``read``)
    client = {"summary": summary, "summary_by": summary_by}
    exports = (SummaryResult, GroupedSummaryResult, SummaryTable, NodeSummary)
    commands = {"summary": Command(_summary_command)}

    def compute(self, parameters: SummaryParameters, context: NodeContext) -> Computed:
        if parameters.by is not None:
            groups = grouped_values(context.db, parameters)
            everyone = BitMap.union(*(g.contributors for _, g in groups))
            levels: list[tuple[str | None, VariableValues]] = list(groups)
            found = Described(parameters.variable, parameters.bin_edges, levels, parameters.by)
            return Computed(everyone, found)
        values = variable_values(context.db, parameters)
        found = Described(parameters.variable, parameters.bin_edges, [(None, values)])
        return Computed(values.contributors, found)

    def judge(self, computed: Computed, profile: Profile) -> Judged:
        """Without a factor, one magnitude cell; with one, each level judged on its own and
        anything for review holds the whole output (the population: every contributor)."""
        found: Described = computed.found
        if found.by is None:
            [(_, values)] = found.groups

            def build(judgement: Judgement) -> dict[str, Any]:
                output = summary_output(found.variable, values, found.edges, judgement, profile)
                return output.model_dump(mode="json")

            return by_evidence(MagnitudeEvidence(values.values, values.missing), profile, build)
        judged = [
            (level, values, judge(MagnitudeEvidence(values.values, values.missing), profile))
            for level, values in found.groups
        ]
        if any(j.verdict is Verdict.REVIEW for _, _, j in judged):
            return Judged("review", None)
        document = GroupedSummaryOutput(
            variable=found.variable,
            by=found.by,
            groups=[
                summary_output(found.variable, values, found.edges, j, profile, level)
                for level, values, j in judged
            ],
        )
        released = any(j.verdict is Verdict.PASS for _, _, j in judged)
        verdict: Literal["pass", "fail"] = "pass" if released else "fail"
        return Judged(verdict, document.model_dump(mode="json"), released=released)

    def regate(self, output: dict[str, Any], profile: Profile) -> dict[str, Any]:
        return hub.regate(output, profile)

    def withheld(self, output: dict[str, Any]) -> str | None:
        """A summary by a factor is withheld when every level's is."""
        groups = output.get("groups")
        if isinstance(groups, list):
            if groups and all(super(Summary, self).withheld(g) for g in groups):
                return "its whole output was withheld by its disclosure gate (every level)"
            return None
        return super().withheld(output)

    def combine(
        self, outputs: dict[str, dict[str, Any]], missing: list[str], profile: Profile
    ) -> dict[str, Any]:
        return hub.combine(outputs, missing, profile)

    def read(self, view: TaskView) -> SummaryResult | GroupedSummaryResult:
        if "groups" in (view.combined or {}):
            return GroupedSummaryResult.from_view(view)
        return SummaryResult.from_view(view)

    def show(self, view: TaskView, page: Shown) -> None:
        result = self.read(view)
        if isinstance(result, GroupedSummaryResult):
            page.lines.append(f"Summary of {result.variable} by {result.by}, pooled over the nodes")
            page.tables.append(table(f"{result.variable} by {result.by}", result.to_frame()))
            page.lines.extend(not_included(result.nodes_missing))
            page.lines.extend(result.notes())
            return
        page.lines.append(
            f"Summary of {result.variable}: mean and sd pooled with each node's released "
            "(rounded) n as weights; quartiles from the released bins"
        )
        page.tables.append(table(f"{result.variable}: each node and pooled", result.to_frame()))
        labels = [str(c["row"]) for c in result.bins]
        counts = [c["count"]["value"] for c in result.bins]
        picture = svg.bars(labels, counts, "persons per bin")
        if picture:
            label = f"Histogram of the pooled released bins of {result.variable}"
            page.plots.append(Plot(label, picture))
        page.lines.extend(not_included(result.nodes_missing))
        page.lines.extend(result.notes())
