"""A meta-analysis's forest plot, drawn with matplotlib (the Agg backend: files, no screen) from
the released node estimates and the hub's combinations only."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fivesafes.analyses.meta.pooling import Z975
from fivesafes.analyses.results.svg import ratio_axis, ratio_ticks

if TYPE_CHECKING:
    from fivesafes.analyses.meta.result import MetaResult

__all__ = ["forest_figure", "forest_plot", "ratio_axis", "ratio_ticks"]


def forest_plot(
    result: MetaResult, term: str, path: str | Path, *, exponentiate: bool = False
) -> Any:
    """A forest plot of one term (``forest_figure``), written to ``path``."""
    import matplotlib.pyplot as plt

    figure = forest_figure(result, term, exponentiate=exponentiate)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return Path(path)


def forest_figure(result: MetaResult, term: str, *, exponentiate: bool = False) -> Any:
    """A forest plot of one term: each node's estimate with its 95 % interval, then the
    fixed-effect and random-effects combinations as diamonds, and a dashed line at no effect.
    ``exponentiate`` shows odds or hazard ratios on a log axis with plain ticks (0.5, 1, 2;
    ``ratio_axis``) and the line at 1. The caller saves and closes the (pyplot) figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if term not in result.names:
        raise ValueError(f"no term {term!r}; terms: {', '.join(result.names)}")
    j = result.names.index(term)
    combined = result.terms[j]
    transform = math.exp if exponentiate else (lambda v: v)
    rows: list[tuple[str, float, float, float]] = []
    for node, fit in sorted(result.nodes.items()):
        b, se = fit["params"][j], fit["bse"][j]
        rows.append((f"{node} (n={fit['n']})", b, b - Z975 * se, b + Z975 * se))
    figure, axes = plt.subplots(figsize=(7, 1.2 + 0.45 * (len(rows) + 2)))
    y = list(range(len(rows) + 2, 0, -1))
    for (_, b, low, high), position in zip(rows, y, strict=False):
        axes.plot([transform(low), transform(high)], [position, position], color="black")
        axes.plot([transform(b)], [position], marker="s", color="black")
    labels = [r[0] for r in rows]
    for name, position in (("fixed", y[-2]), ("random", y[-1])):
        b = combined[name]
        low, high = combined[f"{name}_ci"]
        xs = [transform(low), transform(b), transform(high), transform(b)]
        ys = [position, position + 0.25, position, position - 0.25]
        axes.fill(xs, ys, color="tab:blue" if name == "fixed" else "tab:orange")
        labels.append(
            f"{'fixed effect' if name == 'fixed' else 'random effects (DL)'}"
            + (f", I²={100 * combined['i2']:.0f}%" if name == "random" else "")
        )
    axes.axvline(transform(0.0), color="grey", linestyle="--", linewidth=0.8)
    axes.set_yticks(y, labels)
    if exponentiate:
        drawn = [transform(v) for _, *values in rows for v in values]
        drawn += [transform(v) for v in (*combined["fixed_ci"], *combined["random_ci"])]
        ratio_axis(axes, min([*drawn, 1.0]), max([*drawn, 1.0]))
    axes.set_xlabel(f"{term}: {'ratio, log scale' if exponentiate else 'coefficient'} (95 % CI)")
    axes.set_title(f"Meta-analysis of {term} across nodes")
    figure.tight_layout()
    return figure
