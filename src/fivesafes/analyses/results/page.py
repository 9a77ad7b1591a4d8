"""A task's result as the portal's page shows it: words, tables and pictures that each
analysis's ``show`` fills (``fivesafes.analyses.plugin.Analysis.show``), and how figures print."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from fivesafes.protocol.models import TaskView


@dataclass(frozen=True)
class NodeVerdict:
    node: str
    state: str  # the run's state
    verdict: str  # passed | suppressed | refused | failed | missing | waiting
    detail: str  # the gate's rules that fired, or the reason in words


@dataclass(frozen=True)
class Table:
    """A table of the page: its caption, its HTML, and the same cells as text (the row labels
    first where the table shows them), which its CSV holds (``results/download.py``)."""

    caption: str
    html: str
    header: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


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
    """A DataFrame as an HTML table (escaped), and the same cells as text for its CSV: a column
    of whole numbers as integers, others by ``number``, ``missing`` where a value is NA (a
    suppressed count, or a figure there is none of); the index's labels first when ``index``."""
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
    html = _text_cells(
        shown.to_html(index=index, classes="compact result", border=0, escape=True),
        [not _numeric(frame[name]) for name in frame.columns],
    )
    labels = [label(name) for name in shown.index.names] if index else []
    header = (*labels, *(label(name) for name in shown.columns))
    several = shown.index.nlevels > 1
    keys = [(k if several else (k,)) if index else () for k in shown.index]
    rows = tuple(
        (*(label(k) for k in key), *values)
        for key, values in zip(keys, shown.itertuples(index=False, name=None), strict=True)
    )
    return Table(caption, html, header, rows)


def _numeric(column: Any) -> bool:
    """Whether a column holds figures, which the page aligns right, rather than words (a
    node's name, a modality, a rule), which it aligns left: figures are numbers, numbers
    already written as text ("520", "0.2500", "[1.2, 3.4]"), or what stands for a figure
    ("suppressed", "—", nothing); one word of anything else makes the column words."""
    return not any(
        isinstance(v, str) and not _FIGURE.fullmatch(v.strip()) and v.strip() not in _FOR_A_FIGURE
        for v in column
    )


_FIGURE = re.compile(r"-?[\d,]*\.?\d+(e[-+]?\d+)?%?|\[[^\]]*\]")
_FOR_A_FIGURE = {"", "—", "suppressed", "NA", "nan"}


def _text_cells(html: str, text: list[bool]) -> str:
    """``html`` (pandas' table) with each body cell of a column of words marked ``text``."""
    if not any(text):
        return html
    head, _, body = html.partition("<tbody>")

    def row(match: re.Match[str]) -> str:
        cells = iter(text)
        return re.sub(
            "<td>", lambda _: '<td class="text">' if next(cells, False) else "<td>", match[0]
        )

    return head + "<tbody>" + re.sub(r"<tr>.*?</tr>", row, body, flags=re.DOTALL)


def label(name: Any) -> str:
    """A column's or row's label as text: none is empty, a label of several levels is joined."""
    if name is None:
        return ""
    if isinstance(name, tuple):
        return " / ".join(label(part) for part in name)
    return str(name)


def show_fit(model: Any, page: Shown, words: str, xlabel: str, *, ratio: str | None = None) -> None:
    """A fitted model (a GLM's or a Cox model's result) on the page: in words, its
    coefficients as a table and a picture, and the nodes left out and why. With ``ratio``
    (``"odds ratio"``, ``"hazard ratio"``) the picture shows that ratio on a log axis instead
    of the coefficients."""
    from fivesafes.analyses.results import svg

    if not model.ok:
        page.lines.append(f"No fit: {model.error}")
        return
    page.lines.append(words)
    page.tables.append(table(f"Coefficients: {model.formula}", model.to_frame(), index=True))
    if ratio:
        xlabel = f"{ratio}, log scale (95 % CI)"
    picture = svg.coefficients(
        model.names, model.params, model.conf_int, xlabel, exponentiate=ratio is not None
    )
    if picture:
        what = f"{ratio.capitalize()}s" if ratio else "Coefficients"
        page.plots.append(Plot(f"{what} with their 95 % intervals", picture))
    if model.nodes_left_out:
        left = "; ".join(f"{n} ({why})" for n, why in sorted(model.nodes_left_out.items()))
        page.lines.append(f"left out: {left}")
