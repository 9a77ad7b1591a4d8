"""A task's result as the portal shows it, for every analysis the hub combines: each node's run
and its disclosure verdict in words, the combined result as tables, and a picture where one
serves. The tables are the DataFrames of the client's own result classes
(``fivesafes.client.results``) built from the very ``TaskView`` the API returns, so the page
shows the figures a researcher gets in Python; nothing here computes a statistic."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fivesafes.client.results import (
    AttritionResult,
    CharacterisationResult,
    CountResult,
    CoxResult,
    CrosstabResult,
    GLMResult,
    GroupedSummaryResult,
    KaplanMeierResult,
    MetaResult,
    SummaryResult,
    not_included,
)
from fivesafes.hub.portal import plots
from fivesafes.protocol.models import RunView, TaskView
from fivesafes.protocol.runs import REASON_TEXT, ReasonCode, RunState


@dataclass(frozen=True)
class NodeVerdict:
    node: str
    state: str  # the run's state
    verdict: str  # passed | suppressed | refused | failed | missing | waiting
    detail: str  # the gate's rules that fired, or the reason in words


@dataclass(frozen=True)
class Table:
    caption: str
    html: str


@dataclass(frozen=True)
class Plot:
    label: str  # what the picture shows, for people who cannot see it
    svg: str


@dataclass
class Shown:
    view: TaskView
    nodes: list[NodeVerdict]
    lines: list[str] = field(default_factory=list)  # the result in words
    tables: list[Table] = field(default_factory=list)
    plots: list[Plot] = field(default_factory=list)
    details: list[Table] = field(default_factory=list)  # each node's own tables
    total: str | None = None  # a count's combined total, in words


def number(value: Any) -> str:
    """A figure as the page prints it: whole numbers whole, others to four decimals (very
    small ones in scientific notation), none as "—"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float) and not isinstance(value, bool):
        return f"{value:.2e}" if value != 0 and abs(value) < 1e-4 else f"{value:.4f}"
    return str(value)


def table(caption: str, frame: Any, *, missing: str = "—", index: bool = False) -> Table:
    """A DataFrame as an HTML table (escaped): a column of whole numbers as integers, others
    by ``number``, ``missing`` where a value is NA (a suppressed count, or a figure there is
    none of)."""
    import pandas as pd

    def absent(value: Any) -> bool:
        return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))

    def whole(column: Any) -> bool:
        shown = [v for v in column if not absent(v)]
        return all(isinstance(v, int | float) and float(v).is_integer() for v in shown)

    def text(value: Any, integers: bool) -> str:
        if absent(value):
            return missing
        if isinstance(value, list | tuple):  # an interval
            return "[" + ", ".join(number(v) for v in value) + "]"
        if integers and isinstance(value, int | float) and not isinstance(value, bool):
            return str(int(value))
        return number(value)

    shown = pd.DataFrame(
        {name: [text(v, whole(frame[name])) for v in frame[name]] for name in frame.columns},
        index=frame.index,
        columns=frame.columns,
    )
    html = shown.to_html(index=index, classes="compact result", border=0, escape=True)
    return Table(caption, html)


def node_verdict(run: RunView, complete: bool) -> NodeVerdict:
    """A node's run in words: what its gate (and the hub's, again) decided, or why nothing
    came back."""
    state = run.state.value
    if run.state == RunState.SUCCEEDED:
        output: dict[str, Any] = run.output or {}
        groups = output.get("groups", [])
        gates = [output["gate"]] if "gate" in output else [g["gate"] for g in groups]
        passed = any(g.get("verdict") == "pass" for g in gates)
        rules = sorted({rule for g in gates for rule in g.get("rules", [])})
        return NodeVerdict(run.node, state, "passed" if passed else "suppressed", ", ".join(rules))
    reason = REASON_TEXT.get(run.reason) if run.reason else None
    text = reason or run.message or ""
    if run.reason is not None:
        text = f"{text} ({run.reason.value})"
    if run.state == RunState.REFUSED:
        return NodeVerdict(run.node, state, "refused", text)
    if run.state == RunState.FAILED:
        missing = run.reason == ReasonCode.NODE_UNAVAILABLE
        return NodeVerdict(run.node, state, "missing" if missing else "failed", text)
    if complete:
        return NodeVerdict(run.node, state, "missing", "No answer came back.")
    return NodeVerdict(run.node, state, "waiting", "")


def shown(view: TaskView) -> Shown:
    """What a task's page shows: per node its verdict, and once the hub has combined the
    nodes' outputs, the result (tables and pictures) of its analysis."""
    complete = view.state == "complete"
    result = Shown(view, [node_verdict(run, complete) for run in view.runs])
    if not complete or view.combined is None:
        return result
    fill = _BY_ANALYSIS.get(view.analysis)
    if fill is None:
        result.lines.append("This analysis's result is read with the Python client.")
        return result
    if view.analysis == "summary" and "groups" in view.combined:
        fill = _grouped_summary
    fill(view, result)
    return result


def _count(view: TaskView, shown: Shown) -> None:
    count = CountResult.from_view(view)
    shown.total = "suppressed" if count.total_suppressed else number(count.total)
    shown.tables.append(table("Each node's released count and the total", count.to_frame(),
                              missing="suppressed"))  # fmt: skip
    released = {n.node: n.value for n in count.nodes if n.state == "succeeded"}
    svg = plots.count_bars(released, count.total) if released else None
    if svg:
        shown.plots.append(Plot("Bar chart of the released counts per node and combined", svg))
    shown.lines.extend(not_included({**count.refused, **count.failed}))


def _summary(view: TaskView, shown: Shown) -> None:
    summary = SummaryResult.from_view(view)
    shown.lines.append(
        f"Summary of {summary.variable}: mean and sd pooled with each node's released (rounded) "
        "n as weights; quartiles from the released bins"
    )
    shown.tables.append(table(f"{summary.variable}: each node and pooled", summary.to_frame()))
    labels = [str(c["row"]) for c in summary.bins]
    svg = plots.bars(labels, [c["count"]["value"] for c in summary.bins], "persons per bin")
    if svg:
        label = f"Histogram of the pooled released bins of {summary.variable}"
        shown.plots.append(Plot(label, svg))
    shown.lines.extend(not_included(summary.nodes_missing))


def _grouped_summary(view: TaskView, shown: Shown) -> None:
    grouped = GroupedSummaryResult.from_view(view)
    shown.lines.append(f"Summary of {grouped.variable} by {grouped.by}, pooled over the nodes")
    shown.tables.append(table(f"{grouped.variable} by {grouped.by}", grouped.to_frame()))
    shown.lines.extend(not_included(grouped.nodes_missing))


def _ordered(frame: Any, cells: list[dict[str, Any]]) -> Any:
    """A pivoted table's rows in the order of the cells (a histogram's bins, not by text)."""
    order = list(dict.fromkeys(str(c["row"]) for c in cells))
    return frame.reindex([r for r in order if r in frame.index])


def _crosstab(view: TaskView, shown: Shown) -> None:
    crosstab = CrosstabResult.from_view(view)
    histogram = view.analysis == "histogram"
    what = crosstab.rows if histogram else f"{crosstab.rows} by {crosstab.columns or '—'}"
    shown.lines.append(
        ("Histogram of " if histogram else "Persons by ") + f"{what}, summed over the nodes "
        "(a cell some node suppressed counts only what the others released)"
    )
    frame = crosstab.to_frame()
    if not frame.empty:
        shown.tables.append(table(f"Persons: {what}", _ordered(frame, crosstab.cells),
                                  missing="suppressed", index=True))  # fmt: skip
    if crosstab.statistic and not frame.empty:
        magnitude = _ordered(crosstab.to_frame(magnitude=True), crosstab.cells)
        shown.tables.append(table(f"{crosstab.statistic} of {crosstab.value}", magnitude,
                                  missing="suppressed", index=True))  # fmt: skip
    for node in sorted(crosstab.nodes):
        own = crosstab.to_frame(node)
        if not own.empty:
            shown.details.append(table(f"{node}: its released table",
                                       _ordered(own, crosstab.nodes[node]),
                                       missing="suppressed", index=True))  # fmt: skip
    if histogram:
        labels = [str(c["row"]) for c in crosstab.cells]
        svg = plots.bars(labels, [c["count"]["value"] for c in crosstab.cells], "persons")
        if svg:
            shown.plots.append(Plot(f"Histogram of {crosstab.rows}, summed over the nodes", svg))
    shown.lines.extend(not_included(crosstab.nodes_missing))


def _km(view: TaskView, shown: Shown) -> None:
    km = KaplanMeierResult.from_view(view)
    by = f" by {km.by}" if km.by else ""
    shown.lines.append(
        f"Kaplan-Meier of {km.time}{by}, pooled on the boundaries every contributing node showed "
        f"(intervals of {km.interval} years up to {km.horizon})"
    )
    shown.tables.append(table("Pooled survival with its 95 % interval", km.to_frame()))
    svg = plots.survival(km)
    if svg:
        shown.plots.append(Plot(f"Kaplan-Meier curves of {km.time}{by} with 95 % intervals", svg))
    for level, group in km.groups.items():
        if group.get("nodes_suppressed"):
            shown.lines.append(f"{level}: suppressed at {', '.join(group['nodes_suppressed'])}")
    shown.lines.extend(not_included(km.nodes_missing))


def _model(model: GLMResult | CoxResult, shown: Shown, words: str, xlabel: str) -> None:
    if not model.ok:
        shown.lines.append(f"No fit: {model.error}")
        return
    shown.lines.append(words)
    shown.tables.append(table(f"Coefficients: {model.formula}", model.to_frame(), index=True))
    svg = plots.coefficients(model.names, model.params, model.conf_int, xlabel)
    if svg:
        shown.plots.append(Plot("Coefficients with their 95 % intervals", svg))
    if model.nodes_left_out:
        left = "; ".join(f"{n} ({why})" for n, why in sorted(model.nodes_left_out.items()))
        shown.lines.append(f"left out: {left}")


def _glm(view: TaskView, shown: Shown) -> None:
    glm = GLMResult.from_view(view)
    words = (
        f"Federated GLM ({glm.family}) over {', '.join(glm.nodes_contributing)}: "
        f"{number(glm.nobs)} observations, deviance {number(glm.deviance)}, AIC {number(glm.aic)}, "
        f"{glm.iterations} iterations"
    )
    _model(glm, shown, words, "coefficient (95 % CI)")


def _coxph(view: TaskView, shown: Shown) -> None:
    cox = CoxResult.from_view(view)
    words = (
        f"Cox model stratified by node (Breslow ties) over {', '.join(cox.nodes_contributing)}: "
        f"{number(cox.n)} persons, {number(cox.events)} events, log partial likelihood "
        f"{number(cox.loglik)}, {cox.iterations} iterations"
    )
    _model(cox, shown, words, "coefficient: log hazard ratio (95 % CI)")


def _meta(view: TaskView, shown: Shown) -> None:
    meta = MetaResult.from_view(view)
    if not meta.ok:
        shown.lines.append(f"No result: {meta.error}")
        return
    shown.lines.append(
        f"Meta-analysis of {len(meta.nodes)} nodes' own fits: fixed effect and "
        "DerSimonian-Laird random effects per term"
    )
    shown.tables.append(table("Combined per term", meta.to_frame(), index=True))
    import pandas as pd

    fits = pd.DataFrame(
        {
            f"{node} {what}": fit[key]
            for node, fit in sorted(meta.nodes.items())
            for what, key in (("coef", "params"), ("se", "bse"))
        },
        index=meta.names,
    )
    shown.tables.append(table("Each node's own fit", fits, index=True))
    for term in meta.names:
        if term != "Intercept":
            shown.plots.append(Plot(f"Forest plot of {term}", plots.forest(meta, term)))
    shown.lines.extend(not_included(meta.nodes_missing))


def _attrition(view: TaskView, shown: Shown) -> None:
    attrition = AttritionResult.from_view(view)
    shown.lines.append("Persons remaining after each step, summed over the nodes")
    shown.tables.append(table("Attrition", attrition.to_frame(), missing="suppressed"))
    names = [s["name"] for s in attrition.steps]
    svg = plots.bars(names, [s["count"]["value"] for s in attrition.steps], "persons remaining")
    if svg:
        shown.plots.append(Plot("Persons remaining after each step", svg))
    for step in attrition.steps:
        if step["nodes_suppressed"] and step["count"]["value"] is not None:
            shown.lines.append(
                f"{step['name']}: at least; not from {', '.join(step['nodes_suppressed'])}"
            )
    shown.lines.extend(not_included(attrition.nodes_missing))


def _characterise(view: TaskView, shown: Shown) -> None:
    described = CharacterisationResult.from_view(view)
    size = "suppressed" if described.count is None else number(described.count)
    shown.lines.append(f"The cohort: {size} persons, summed over the nodes")
    shown.tables.append(table("Age at index", described.distribution("age"), missing="suppressed"))
    shown.tables.append(table("Sex", described.distribution("sex"), missing="suppressed"))
    for domain in described.concepts:
        shown.tables.append(table(f"Most recorded {domain} concepts", described.top(domain)))
    shown.lines.extend(not_included(described.nodes_missing))


_BY_ANALYSIS: dict[str, Callable[[TaskView, Shown], None]] = {
    "count": _count,
    "summary": _summary,
    "crosstab": _crosstab,
    "histogram": _crosstab,
    "km": _km,
    "glm": _glm,
    "coxph": _coxph,
    "meta": _meta,
    "attrition": _attrition,
    "characterise": _characterise,
}
