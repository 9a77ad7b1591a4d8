"""Fitted models: a federated GLM, a Cox model stratified by node, a meta-analysis."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fivesafes.analyses.meta.plot import forest_plot
from fivesafes.analyses.results import figures as fig
from fivesafes.analyses.results.common import not_included, why_not
from fivesafes.protocol.models import TaskView


@dataclass(frozen=True)
class MetaResult:
    """Each node's own fit, and per term the fixed-effect and DerSimonian-Laird random-effects
    combination with tau² and I²."""

    task_id: str
    complete: bool
    names: list[str]
    terms: list[dict[str, Any]]
    nodes: dict[str, dict[str, Any]]
    nodes_missing: dict[str, str]
    error: str | None

    @classmethod
    def from_view(cls, view: TaskView) -> MetaResult:
        combined: dict[str, Any] = view.combined or {}
        reasons = why_not(view)
        return cls(
            task_id=view.task_id,
            complete=view.state == "complete",
            names=list(combined.get("names", [])),
            terms=list(combined.get("terms", [])),
            nodes=dict(combined.get("nodes", {})),
            nodes_missing={n: reasons.get(n, "") for n in combined.get("nodes_missing", [])},
            error=combined.get("error") or (None if view.state == "complete" else "not finished"),
        )

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.terms)

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.terms).set_index("term")

    def forest_plot(self, term: str, path: str | Path, *, exponentiate: bool = False) -> Path:
        """Write a forest plot of ``term`` to ``path`` (PNG, SVG or PDF by its suffix)."""
        return Path(forest_plot(self, term, path, exponentiate=exponentiate))

    def __str__(self) -> str:
        if not self.ok:
            return f"meta-analysis: no result ({self.error})"
        width = max(len(t["term"]) for t in self.terms) + 2
        lines = [
            f"Meta-analysis of {len(self.nodes)} nodes' own fits: {', '.join(sorted(self.nodes))}",
            f"{'':<{width}}{'fixed':>9} {'se':>8} {'random':>9} {'se':>8} {'tau²':>8} {'I²':>6}",
        ]
        for t in self.terms:
            lines.append(
                f"{t['term']:<{width}}{fig.estimate(t['fixed']):>9} "
                f"{fig.estimate(t['fixed_se']):>8} {fig.estimate(t['random']):>9} "
                f"{fig.estimate(t['random_se']):>8} {fig.estimate(t['tau2']):>8} "
                f"{100 * t['i2']:>5.0f}%"
            )
        lines.extend(not_included(self.nodes_missing))
        return "\n".join(lines)
