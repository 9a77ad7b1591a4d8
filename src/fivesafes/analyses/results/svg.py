"""Pictures of released results for the portal, drawn on the server with matplotlib (Agg) as
SVG text the page inlines: nothing is fetched by the browser, and only what was released is
drawn (suppressed values are shown as such, never as a number). An analysis draws its own
figures with ``drawn`` (the Kaplan-Meier curves and forest plots are the client's figures)."""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Callable, Sequence
from typing import Any

_LOCK = threading.Lock()  # pyplot's state is global: one figure at a time


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def drawn(draw: Callable[[], Any]) -> str:
    """The SVG element of the figure ``draw`` makes (text kept as text), the figure closed."""
    plt = _pyplot()
    with _LOCK, plt.rc_context({"svg.fonttype": "none"}):
        figure = draw()
        try:
            buffer = io.StringIO()
            figure.savefig(buffer, format="svg", metadata={"Date": None})
        finally:
            plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # the element only, to inline in the page


def bars(
    labels: Sequence[str],
    values: Sequence[float | None],
    xlabel: str,
    *,
    last_is_total: bool = False,
) -> str | None:
    """A horizontal bar per label, top to bottom, each with its value written beside it, or
    "suppressed" (and no bar); None if nothing was released."""
    if not any(v is not None for v in values):
        return None

    def draw() -> Any:
        figure, axes = _pyplot().subplots(figsize=(6.5, 0.6 + 0.4 * len(labels)))
        y = list(range(len(labels)))[::-1]
        colours = ["tab:blue"] * len(labels)
        if last_is_total:
            colours[-1] = "tab:green"
        axes.barh(y, [v or 0 for v in values], color=colours)
        for position, value in zip(y, values, strict=True):
            text = f" {value:,}" if value is not None else " suppressed"
            axes.text(value or 0, position, text, va="center", fontsize=9)
        axes.set_yticks(y, list(labels))
        axes.set_xlabel(xlabel)
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        return figure

    return drawn(draw)


def count_bars(released: dict[str, int | None], total: int | None) -> str | None:
    """A bar per node's released count and the combined total; None if nothing released."""
    values: list[float | None] = [*released.values(), total]
    return bars([*released, "all nodes"], values, "persons (after disclosure control)",
                last_is_total=True)  # fmt: skip


def coefficients(
    names: Sequence[str],
    params: Sequence[float],
    conf_int: Sequence[Sequence[float]],
    xlabel: str,
    *,
    exponentiate: bool = False,
) -> str | None:
    """A fitted model's coefficients with their 95 % intervals, a row per term (the intercept
    left out: its scale is not the others'); None if there is nothing else. ``exponentiate``
    draws ratios (odds, rate or hazard ratios: ``exp`` of each figure) on a log axis with plain
    ticks and the line of no effect at 1, as a reader of such a model expects."""
    rows = [
        (name, b, ci) for name, b, ci in zip(names, params, conf_int, strict=True)
        if name != "Intercept"
    ]  # fmt: skip
    if not rows:
        return None
    if exponentiate:
        rows = [(name, math.exp(b), (math.exp(lo), math.exp(hi))) for name, b, (lo, hi) in rows]

    def draw() -> Any:
        figure, axes = _pyplot().subplots(figsize=(6.5, 0.9 + 0.4 * len(rows)))
        y = list(range(len(rows)))[::-1]
        for (_, b, (low, high)), position in zip(rows, y, strict=True):
            axes.plot([low, high], [position, position], color="black")
            axes.plot([b], [position], marker="s", color="black")
        axes.axvline(1.0 if exponentiate else 0.0, color="grey", linestyle="--", linewidth=0.8)
        if exponentiate:
            drawn = [v for _, b, ci in rows for v in (b, *ci)]
            ratio_axis(axes, min([*drawn, 1.0]), max([*drawn, 1.0]))
        axes.set_yticks(y, [name for name, _, _ in rows])
        axes.set_xlabel(xlabel)
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        return figure

    return drawn(draw)


# Round ratios for a log axis, the coarsest set first: a set is used if at least three of its
# ratios fall within the axis.
TICK_SETS = (
    (1.0, 2.0, 5.0),
    (1.0, 1.5, 2.0, 3.0, 5.0, 7.0),
    (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0),
    (1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0),
)


def ratio_ticks(low: float, high: float) -> list[float]:
    """Round ratios (1, 2 and 5 times powers of ten, or finer where the axis is short) from
    ``low`` to ``high``: at least three where the axis allows."""
    ticks: list[float] = []
    for mantissas in TICK_SETS:
        ticks = sorted(
            value
            for power in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
            for value in (m * 10.0**power for m in mantissas)
            if low <= value <= high
        )
        if len(ticks) >= 3:
            break
    if len(ticks) < 2:  # a very short axis: three ratios across it, to 3 significant figures
        step = (high / low) ** 0.25
        ticks = sorted({float(f"{low * step**k:.3g}") for k in (1, 2, 3)})
    return ticks


def ratio_axis(axes: Any, low: float, high: float) -> None:
    """A log x axis from a little below ``low`` to a little above ``high``, ticks at round
    ratios labelled plainly ("0.5", "1", "2"; never 10^-0.3) and no minor labels."""
    from matplotlib.ticker import NullFormatter, NullLocator

    axes.set_xscale("log")
    margin = (high / low) ** 0.05
    axes.set_xlim(low / margin, high * margin)
    ticks = ratio_ticks(low / margin, high * margin)
    axes.set_xticks(ticks, [f"{t:g}" for t in ticks])
    axes.xaxis.set_minor_locator(NullLocator())
    axes.xaxis.set_minor_formatter(NullFormatter())
