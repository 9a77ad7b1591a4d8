"""Fitted models: a federated GLM, a Cox model stratified by node, a meta-analysis."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fivesafes.analyses.results import figures as fig
from fivesafes.analyses.results.common import FittedModelResult, fitted_model
from fivesafes.protocol.models import TaskView


@dataclass(frozen=True)
class GLMResult(FittedModelResult):
    """A federated GLM: coefficients, standard errors, z, p and 95 % intervals equal to
    statsmodels' fit on the pooled rows, with the nodes that took part."""

    task_id: str
    complete: bool
    formula: str
    family: str | None
    names: list[str]
    params: list[float]
    bse: list[float]
    z: list[float]
    pvalues: list[float]
    conf_int: list[list[float]]
    deviance: float | None
    llf: float | None
    aic: float | None
    nobs: int | None
    df_resid: int | None
    iterations: int | None
    rounds: int | None
    error: str | None
    nodes_contributing: list[str]
    nodes_left_out: dict[str, str]  # node -> why, in words that reveal no data

    @classmethod
    def from_view(cls, view: TaskView) -> GLMResult:
        combined: dict[str, Any] = view.combined or {}
        fit: dict[str, Any] = combined.get("fit") or {}
        return cls(
            **fitted_model(view),
            family=fit.get("family"),
            deviance=fit.get("deviance"),
            llf=fit.get("llf"),
            aic=fit.get("aic"),
            nobs=fit.get("nobs"),
            df_resid=fit.get("df_resid"),
        )

    def to_frame(self) -> Any:
        """The coefficient table as a pandas DataFrame (statsmodels' column names)."""
        return self._frame(
            {
                "coef": self.params,
                "std err": self.bse,
                "z": self.z,
                "P>|z|": self.pvalues,
                "[0.025": [c[0] for c in self.conf_int],
                "0.975]": [c[1] for c in self.conf_int],
            }
        )

    def odds_ratios(self) -> dict[str, tuple[float, float, float]]:
        """For a binomial model: per term, the odds ratio and its 95 % interval."""

        return {
            name: (math.exp(b), math.exp(ci[0]), math.exp(ci[1]))
            for name, b, ci in zip(self.names, self.params, self.conf_int, strict=True)
        }

    def __str__(self) -> str:
        if not self.ok:
            return f"GLM {self.formula}: no fit ({self.error})"
        width = max(len(n) for n in self.names) + 2
        lines = [
            f"Federated GLM ({self.family}): {self.formula}",
            f"nodes: {', '.join(self.nodes_contributing)}; observations: {self.nobs}; "
            f"iterations: {self.iterations}; deviance: {fig.estimate(self.deviance)}; "
            f"AIC: {fig.estimate(self.aic)}",
        ]
        lines += self._left_out()
        lines.append(
            f"{'':<{width}}{'coef':>10} {'std err':>10} {'z':>8} {'P>|z|':>8} "
            f"{'[0.025':>10} {'0.975]':>10}"
        )
        for i, name in enumerate(self.names):
            low, high = self.conf_int[i]
            lines.append(
                f"{name:<{width}}{fig.estimate(self.params[i]):>10} "
                f"{fig.estimate(self.bse[i]):>10} {fig.statistic(self.z[i]):>8} "
                f"{fig.p_value(self.pvalues[i]):>8} {fig.estimate(low):>10} "
                f"{fig.estimate(high):>10}"
            )
        return "\n".join(lines)
