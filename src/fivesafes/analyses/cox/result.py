"""Fitted models: a federated GLM, a Cox model stratified by node, a meta-analysis."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fivesafes.analyses.results import figures as fig
from fivesafes.analyses.results.common import FittedModelResult, fitted_model
from fivesafes.protocol.models import TaskView


@dataclass(frozen=True)
class CoxResult(FittedModelResult):
    """A Cox model stratified by node (Breslow ties): coefficients, hazard ratios, standard
    errors, z, p and 95 % intervals equal to the pooled fit with one stratum per node."""

    task_id: str
    complete: bool
    formula: str
    names: list[str]
    params: list[float]
    hazard_ratios: list[float]
    bse: list[float]
    z: list[float]
    pvalues: list[float]
    conf_int: list[list[float]]
    loglik: float | None
    n: int | None
    events: int | None
    iterations: int | None
    rounds: int | None
    error: str | None
    nodes_contributing: list[str]
    nodes_left_out: dict[str, str]

    @classmethod
    def from_view(cls, view: TaskView) -> CoxResult:
        combined: dict[str, Any] = view.combined or {}
        fit: dict[str, Any] = combined.get("fit") or {}
        return cls(
            **fitted_model(view),
            hazard_ratios=list(fit.get("hazard_ratios", [])),
            loglik=fit.get("loglik"),
            n=fit.get("n"),
            events=fit.get("events"),
        )

    def to_frame(self) -> Any:
        return self._frame(
            {
                "coef": self.params,
                "exp(coef)": self.hazard_ratios,
                "se(coef)": self.bse,
                "z": self.z,
                "p": self.pvalues,
                "coef lower 95%": [c[0] for c in self.conf_int],
                "coef upper 95%": [c[1] for c in self.conf_int],
            }
        )

    def __str__(self) -> str:
        if not self.ok:
            return f"Cox model {self.formula}: no fit ({self.error})"
        width = max(len(n) for n in self.names) + 2
        lines = [
            f"Federated Cox model, stratified by node (Breslow ties): {self.formula}",
            f"nodes: {', '.join(self.nodes_contributing)}; persons: {self.n}; events: "
            f"{self.events}; iterations: {self.iterations}; log partial likelihood: "
            f"{fig.estimate(self.loglik)}",
        ]
        lines += self._left_out()
        lines.append(
            f"{'':<{width}}{'coef':>10} {'HR':>8} {'se':>9} {'z':>8} {'p':>8} {'HR 95% CI':>18}"
        )
        for i, name in enumerate(self.names):
            lo, hi = (math.exp(v) for v in self.conf_int[i])
            ci = f"{fig.estimate(lo)}-{fig.estimate(hi)}"
            lines.append(
                f"{name:<{width}}{fig.estimate(self.params[i]):>10} "
                f"{fig.estimate(self.hazard_ratios[i]):>8} {fig.estimate(self.bse[i]):>9} "
                f"{fig.statistic(self.z[i]):>8} {fig.p_value(self.pvalues[i]):>8} {ci:>18}"
            )
        return "\n".join(lines)
