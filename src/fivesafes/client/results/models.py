"""Fitted models: a federated GLM, a Cox model stratified by node, a meta-analysis."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fivesafes.client.results.common import fitted_model, not_included, why_not
from fivesafes.protocol.models import TaskView


@dataclass(frozen=True)
class GLMResult:
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

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.params)

    def to_frame(self) -> Any:
        """The coefficient table as a pandas DataFrame (statsmodels' column names)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "coef": self.params,
                "std err": self.bse,
                "z": self.z,
                "P>|z|": self.pvalues,
                "[0.025": [c[0] for c in self.conf_int],
                "0.975]": [c[1] for c in self.conf_int],
            },
            index=self.names,
        )

    def odds_ratios(self) -> dict[str, tuple[float, float, float]]:
        """For a binomial model: per term, the odds ratio and its 95 % interval."""
        import math

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
            f"iterations: {self.iterations}; deviance: {self.deviance:.4f}; AIC: {self.aic:.4f}",
        ]
        if self.nodes_left_out:
            lines.append(
                "left out: "
                + "; ".join(f"{n} ({why})" for n, why in sorted(self.nodes_left_out.items()))
            )
        lines.append(
            f"{'':<{width}}{'coef':>10} {'std err':>10} {'z':>8} {'P>|z|':>8} "
            f"{'[0.025':>10} {'0.975]':>10}"
        )
        for i, name in enumerate(self.names):
            lines.append(
                f"{name:<{width}}{self.params[i]:>10.4f} {self.bse[i]:>10.4f} "
                f"{self.z[i]:>8.3f} {self.pvalues[i]:>8.3f} "
                f"{self.conf_int[i][0]:>10.4f} {self.conf_int[i][1]:>10.4f}"
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class CoxResult:
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

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.params)

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(
            {
                "coef": self.params,
                "exp(coef)": self.hazard_ratios,
                "se(coef)": self.bse,
                "z": self.z,
                "p": self.pvalues,
                "coef lower 95%": [c[0] for c in self.conf_int],
                "coef upper 95%": [c[1] for c in self.conf_int],
            },
            index=self.names,
        )

    def __str__(self) -> str:
        if not self.ok:
            return f"Cox model {self.formula}: no fit ({self.error})"
        width = max(len(n) for n in self.names) + 2
        lines = [
            f"Federated Cox model, stratified by node (Breslow ties): {self.formula}",
            f"nodes: {', '.join(self.nodes_contributing)}; persons: {self.n}; events: "
            f"{self.events}; iterations: {self.iterations}; log partial likelihood: "
            f"{self.loglik:.4f}",
        ]
        if self.nodes_left_out:
            lines.append(
                "left out: "
                + "; ".join(f"{n} ({why})" for n, why in sorted(self.nodes_left_out.items()))
            )
        lines.append(
            f"{'':<{width}}{'coef':>10} {'HR':>8} {'se':>9} {'z':>8} {'p':>8} {'HR 95% CI':>18}"
        )
        for i, name in enumerate(self.names):
            lo, hi = (math.exp(v) for v in self.conf_int[i])
            lines.append(
                f"{name:<{width}}{self.params[i]:>10.4f} {self.hazard_ratios[i]:>8.3f} "
                f"{self.bse[i]:>9.4f} {self.z[i]:>8.3f} {self.pvalues[i]:>8.3f} "
                f"{lo:>8.3f}-{hi:<9.3f}"
            )
        return "\n".join(lines)


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
        from fivesafes.client.plots import forest_plot

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
                f"{t['term']:<{width}}{t['fixed']:>9.4f} {t['fixed_se']:>8.4f} "
                f"{t['random']:>9.4f} {t['random_se']:>8.4f} {t['tau2']:>8.4f} "
                f"{100 * t['i2']:>5.1f}%"
            )
        lines.extend(not_included(self.nodes_missing))
        return "\n".join(lines)
