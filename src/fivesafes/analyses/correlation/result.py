"""How a correlation reads: the pooled matrix, each pair with n and its interval, and the
portal's heat map."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fivesafes.analyses.results import figures as fig
from fivesafes.analyses.results import svg
from fivesafes.analyses.results.common import not_included, why_not
from fivesafes.protocol.models import TaskView


@dataclass(frozen=True)
class CorrelationResult:
    """The pooled correlation matrix: per pair r, n and its 95 % interval, and the nodes whose
    pair was withheld (then the pooled value leaves them out)."""

    task_id: str
    complete: bool
    variables: list[str]
    missing: str | None
    pairs: list[dict[str, Any]]
    nodes_contributing: list[str]
    nodes_missing: dict[str, str]

    @classmethod
    def from_view(cls, view: TaskView) -> CorrelationResult:
        combined: dict[str, Any] = view.combined or {}
        reasons = why_not(view)
        return cls(
            task_id=view.task_id,
            complete=view.state == "complete",
            variables=list(combined.get("variables", [])),
            missing=combined.get("missing"),
            pairs=list(combined.get("pairs", [])),
            nodes_contributing=list(combined.get("nodes_contributing", [])),
            nodes_missing={n: reasons.get(n, "") for n in combined.get("nodes_missing", [])},
        )

    def r(self, a: str, b: str) -> float | None:
        """The pooled correlation of ``a`` and ``b`` (None if withheld)."""
        if a == b:
            return 1.0
        for pair in self.pairs:
            if {pair["row"], pair["column"]} == {a, b}:
                found: float | None = pair["r"]
                return found
        raise KeyError(f"no pair {a!r}, {b!r}")

    def matrix(self) -> Any:
        """The matrix as a DataFrame (NA where a pair was withheld)."""
        import pandas as pd

        values = [[self.r(a, b) for b in self.variables] for a in self.variables]
        return pd.DataFrame(values, index=self.variables, columns=self.variables, dtype=float)

    def to_frame(self) -> Any:
        """One row per pair: r, its interval, n and the nodes that withheld it."""
        import pandas as pd

        rows = [
            {
                "pair": f"{p['row']} ~ {p['column']}",
                "r": p["r"],
                "ci_low": p["ci"][0] if p["ci"] else None,
                "ci_high": p["ci"][1] if p["ci"] else None,
                "n": p["n"],
                "withheld by": ", ".join(p["nodes_suppressed"]) or None,
            }
            for p in self.pairs
        ]
        return pd.DataFrame(rows)

    def __str__(self) -> str:
        lines = [f"Pearson correlation ({self.missing} deletion), pooled over the nodes"]
        for p in self.pairs:
            shown = (
                "withheld" if p["r"] is None else f"{fig.correlation(p['r']):>6}  (n={p['n']:,})"
            )
            lines.append(f"  {p['row']} ~ {p['column']}: {shown}")
        lines.extend(not_included(self.nodes_missing))
        return "\n".join(lines)


def _heatmap(result: CorrelationResult) -> str:
    def draw() -> Any:
        import matplotlib.pyplot as plt

        matrix = result.matrix().to_numpy()
        figure, axes = plt.subplots(figsize=(1.2 + 0.8 * len(result.variables),) * 2)
        image = axes.imshow(matrix, vmin=-1.0, vmax=1.0, cmap="RdBu_r")
        ticks = range(len(result.variables))
        axes.set_xticks(ticks, result.variables, rotation=45, ha="right")
        axes.set_yticks(ticks, result.variables)
        for (i, j), value in np.ndenumerate(matrix):
            shown = "—" if np.isnan(value) else f"{value:.2f}"
            colour = "white" if abs(value) > 0.6 else "black"  # readable on the darker cells
            axes.text(j, i, shown, ha="center", va="center", color=colour)
        figure.colorbar(image, ax=axes, shrink=0.8)
        figure.tight_layout()
        return figure

    return svg.drawn(draw)
