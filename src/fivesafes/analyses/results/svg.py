"""Pictures of released results for the portal, drawn on the server with matplotlib (Agg) as
SVG text the page inlines: nothing is fetched by the browser, and only what was released is
drawn (suppressed values are shown as such, never as a number). An analysis draws its own
figures with ``drawn`` (the Kaplan-Meier curves and forest plots are the client's figures)."""

from __future__ import annotations

import io
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
    names: Sequence[str], params: Sequence[float], conf_int: Sequence[Sequence[float]], xlabel: str
) -> str | None:
    """A fitted model's coefficients with their 95 % intervals, a row per term (the intercept
    left out: its scale is not the others'); None if there is nothing else."""
    rows = [
        (name, b, ci) for name, b, ci in zip(names, params, conf_int, strict=True)
        if name != "Intercept"
    ]  # fmt: skip
    if not rows:
        return None

    def draw() -> Any:
        figure, axes = _pyplot().subplots(figsize=(6.5, 0.9 + 0.4 * len(rows)))
        y = list(range(len(rows)))[::-1]
        for (_, b, (low, high)), position in zip(rows, y, strict=True):
            axes.plot([low, high], [position, position], color="black")
            axes.plot([b], [position], marker="s", color="black")
        axes.axvline(0.0, color="grey", linestyle="--", linewidth=0.8)
        axes.set_yticks(y, [name for name, _, _ in rows])
        axes.set_xlabel(xlabel)
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        return figure

    return drawn(draw)
