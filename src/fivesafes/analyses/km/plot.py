"""Kaplan-Meier curves, drawn with matplotlib (the Agg backend: files, no screen) from the pooled
released curve only. The survival axis is scaled to the data: from just below the lowest value
drawn (the lowest lower 95 % bound, or the lowest survival without intervals), rounded down to
a multiple of 0.05, to 1; ``full_axis`` draws it from 0 to 1."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fivesafes.analyses.km.result import KaplanMeierResult

STEP = 0.05  # the scaled axis starts at a multiple of this
MARGIN = 0.02  # above 1, as a share of the axis, so the curve's start is not on the frame


def survival_plot(
    result: KaplanMeierResult,
    path: str | Path,
    *,
    confidence: bool = True,
    full_axis: bool = False,
) -> Any:
    """Kaplan-Meier step curves (``survival_figure``), written to ``path``."""
    import matplotlib.pyplot as plt

    figure = survival_figure(result, confidence=confidence, full_axis=full_axis)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return Path(path)


def survival_axis(lowest: float, *, full_axis: bool = False) -> tuple[float, float]:
    """The survival axis (bottom, top) for curves whose lowest drawn value is ``lowest``."""
    bottom = 0.0 if full_axis else max(0.0, math.floor((lowest - 1e-9) / STEP) * STEP)
    bottom = round(bottom, 2)
    return bottom, 1.0 + MARGIN * (1.0 - bottom)


def survival_figure(
    result: KaplanMeierResult, *, confidence: bool = True, full_axis: bool = False
) -> Any:
    """Kaplan-Meier step curves, one per level, from the pooled released curve: survival 1 at
    time 0, a step at each common boundary, the 95 % interval shaded. The survival axis is
    scaled to what is drawn (``survival_axis``), or 0 to 1 with ``full_axis``. The caller
    saves and closes the (pyplot) figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn = {level: g["curve"] for level, g in result.groups.items() if g["curve"]}
    if not drawn:
        raise ValueError("no level has a released curve to draw")
    figure, axes = plt.subplots(figsize=(7, 4.5))
    lowest = 1.0
    for level, curve in drawn.items():
        times = [0.0] + [p["time"] for p in curve]
        survival = [1.0] + [p["survival"] for p in curve]
        (line,) = axes.step(times, survival, where="post", label=level)
        lowest = min(lowest, *survival)
        if confidence:
            lower = [1.0] + [p["lower"] for p in curve]
            upper = [1.0] + [p["upper"] for p in curve]
            axes.fill_between(times, lower, upper, step="post", alpha=0.2, color=line.get_color())
            lowest = min(lowest, *lower)
    axes.set_ylim(*survival_axis(lowest, full_axis=full_axis))
    axes.set_xlabel(f"{result.time} (years)")
    axes.set_ylabel("survival")
    title = f"Kaplan-Meier, pooled over nodes{f' by {result.by}' if result.by else ''}"
    axes.set_title(title)
    if len(drawn) > 1 or result.by:
        axes.legend(title=result.by)
    figure.tight_layout()
    return figure
