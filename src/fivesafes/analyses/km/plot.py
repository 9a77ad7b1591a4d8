"""Kaplan-Meier curves, drawn with matplotlib (the Agg backend: files, no screen) from the pooled
released curve only."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fivesafes.analyses.km.result import KaplanMeierResult


def survival_plot(result: KaplanMeierResult, path: str | Path, *, confidence: bool = True) -> Any:
    """Kaplan-Meier step curves (``survival_figure``), written to ``path``."""
    import matplotlib.pyplot as plt

    figure = survival_figure(result, confidence=confidence)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return Path(path)


def survival_figure(result: KaplanMeierResult, *, confidence: bool = True) -> Any:
    """Kaplan-Meier step curves, one per level, from the pooled released curve: survival 1 at
    time 0, a step at each common boundary, the 95 % interval shaded. The caller saves and
    closes the (pyplot) figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn = {level: g["curve"] for level, g in result.groups.items() if g["curve"]}
    if not drawn:
        raise ValueError("no level has a released curve to draw")
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for level, curve in drawn.items():
        times = [0.0] + [p["time"] for p in curve]
        survival = [1.0] + [p["survival"] for p in curve]
        (line,) = axes.step(times, survival, where="post", label=level)
        if confidence:
            lower = [1.0] + [p["lower"] for p in curve]
            upper = [1.0] + [p["upper"] for p in curve]
            axes.fill_between(times, lower, upper, step="post", alpha=0.2, color=line.get_color())
    axes.set_ylim(0.0, 1.02)
    axes.set_xlabel(f"{result.time} (years)")
    axes.set_ylabel("survival")
    title = f"Kaplan-Meier, pooled over nodes{f' by {result.by}' if result.by else ''}"
    axes.set_title(title)
    if len(drawn) > 1 or result.by:
        axes.legend(title=result.by)
    figure.tight_layout()
    return figure
