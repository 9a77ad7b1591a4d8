"""What a researcher gets back: per-node released values, the gated total, and who did not
answer and why (in words that reveal no data)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fivesafes.protocol.models import CountOutput, SummaryOutput, TaskView


@dataclass(frozen=True)
class NodeCount:
    node: str
    state: str  # succeeded | refused | failed | queued | leased
    value: int | None
    suppressed: bool
    rule: str | None
    reason: str | None
    message: str | None
    profile: str | None = None  # the disclosure profile the node's gate judged it under

    @property
    def verdict(self) -> str | None:
        """The node gate's verdict on the count: ``pass`` (released, rounded) or ``suppressed``;
        None when the node did not succeed."""
        if self.state != "succeeded":
            return None
        return "suppressed" if self.suppressed else "pass"

    @property
    def display(self) -> str:
        if self.state != "succeeded":
            return "—"
        return "suppressed" if self.suppressed else str(self.value)


@dataclass(frozen=True)
class CountResult:
    task_id: str
    complete: bool
    nodes: list[NodeCount]
    total: int | None
    total_suppressed: bool
    total_rule: str | None
    nodes_suppressed: list[str] = field(default_factory=list)

    @classmethod
    def from_view(cls, view: TaskView) -> CountResult:
        nodes = []
        for run in view.runs:
            output = CountOutput.model_validate(run.output) if run.output else None
            released = output.count if output else None
            nodes.append(
                NodeCount(
                    node=run.node,
                    state=run.state.value,
                    value=released.value if released else None,
                    suppressed=released.suppressed if released else False,
                    rule=released.rule if released else None,
                    reason=run.reason.value if run.reason else None,
                    message=run.message,
                    profile=output.gate.profile if output else None,
                )
            )
        combined: dict[str, Any] = view.combined or {}
        total: dict[str, Any] = combined.get("total") or {}
        return cls(
            task_id=view.task_id,
            complete=view.state == "complete",
            nodes=nodes,
            total=total.get("value"),
            total_suppressed=bool(total.get("suppressed", False)),
            total_rule=total.get("rule"),
            nodes_suppressed=list(combined.get("nodes_suppressed", [])),
        )

    @property
    def per_node(self) -> dict[str, int | None]:
        return {n.node: n.value for n in self.nodes}

    @property
    def refused(self) -> dict[str, str]:
        return {n.node: n.message or n.reason or "" for n in self.nodes if n.state == "refused"}

    @property
    def failed(self) -> dict[str, str]:
        return {n.node: n.message or n.reason or "" for n in self.nodes if n.state == "failed"}

    def to_frame(self) -> Any:
        import pandas as pd

        rows = [
            {
                "node": n.node,
                "state": n.state,
                "count": n.value,
                "suppressed": n.suppressed,
                "gate": n.rule,
                "reason": n.reason,
            }
            for n in self.nodes
        ]
        rows.append(
            {
                "node": "TOTAL",
                "state": "complete" if self.complete else "running",
                "count": self.total,
                "suppressed": self.total_suppressed,
                "gate": self.total_rule,
                "reason": None,
            }
        )
        return pd.DataFrame(rows)

    def __str__(self) -> str:
        width = max([len(n.node) for n in self.nodes] + [5])
        lines = [f"{'node':<{width}}  {'count':>10}  status"]
        for n in self.nodes:
            status = n.state if not n.reason else f"{n.state}: {n.message or n.reason}"
            lines.append(f"{n.node:<{width}}  {n.display:>10}  {status}")
        total = "suppressed" if self.total_suppressed else str(self.total)
        lines.append(f"{'TOTAL':<{width}}  {total:>10}  {self.total_rule or ''}")
        return "\n".join(lines)


@dataclass(frozen=True)
class NodeSummary:
    node: str
    state: str
    n: int | None
    mean: float | None
    sd: float | None
    verdict: str | None  # pass | fail, None when the node did not succeed
    rules: list[str]
    reason: str | None
    message: str | None


@dataclass(frozen=True)
class SummaryResult:
    """A federated summary: per node what its gate released, and the hub's pooled figures
    (weighted by the released, rounded n of each node)."""

    task_id: str
    complete: bool
    variable: str | None
    nodes: list[NodeSummary]
    n: int | None
    mean: float | None
    sd: float | None
    nodes_suppressed: list[str] = field(default_factory=list)

    @classmethod
    def from_view(cls, view: TaskView) -> SummaryResult:
        nodes = []
        for run in view.runs:
            out = SummaryOutput.model_validate(run.output) if run.output else None
            nodes.append(
                NodeSummary(
                    node=run.node,
                    state=run.state.value,
                    n=out.n.value if out else None,
                    mean=out.mean if out else None,
                    sd=out.sd if out else None,
                    verdict=out.gate.verdict if out else None,
                    rules=list(out.gate.rules) if out else [],
                    reason=run.reason.value if run.reason else None,
                    message=run.message,
                )
            )
        combined: dict[str, Any] = view.combined or {}
        pooled_n: dict[str, Any] = combined.get("n") or {}
        return cls(
            task_id=view.task_id,
            complete=view.state == "complete",
            variable=combined.get("variable"),
            nodes=nodes,
            n=pooled_n.get("value"),
            mean=combined.get("mean"),
            sd=combined.get("sd"),
            nodes_suppressed=list(combined.get("nodes_suppressed", [])),
        )

    def __str__(self) -> str:
        width = max([len(n.node) for n in self.nodes] + [6])

        def fmt(v: float | None) -> str:
            return "—" if v is None else f"{v:.2f}"

        lines = [f"{'node':<{width}}  {'n':>8}  {'mean':>8}  {'sd':>8}  status"]
        for s in self.nodes:
            status = s.state if not s.reason else f"{s.state}: {s.message or s.reason}"
            if s.verdict == "fail":
                status = "suppressed: " + ", ".join(s.rules)
            n = "—" if s.n is None else str(s.n)
            lines.append(f"{s.node:<{width}}  {n:>8}  {fmt(s.mean):>8}  {fmt(s.sd):>8}  {status}")
        n = "suppressed" if self.n is None else str(self.n)
        lines.append(
            f"{'POOLED':<{width}}  {n:>8}  {fmt(self.mean):>8}  {fmt(self.sd):>8}  "
            "weighted by released n"
        )
        return "\n".join(lines)


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


@dataclass(frozen=True)
class CrosstabResult:
    """Persons by one or two variables: each node's released table and the combined one (a
    cell some node suppressed is a lower bound; ``nodes_suppressed`` names those nodes)."""

    task_id: str
    complete: bool
    rows: str | None
    columns: str | None
    cells: list[dict[str, Any]]
    nodes: dict[str, list[dict[str, Any]]]
    nodes_missing: dict[str, str]

    @classmethod
    def from_view(cls, view: TaskView) -> CrosstabResult:
        combined: dict[str, Any] = view.combined or {}
        reasons = why_not(view)
        nodes = {r.node: list((r.output or {}).get("cells", [])) for r in view.runs if r.output}
        return cls(
            task_id=view.task_id,
            complete=view.state == "complete",
            rows=combined.get("rows"),
            columns=combined.get("columns"),
            cells=list(combined.get("cells", [])),
            nodes=nodes,
            nodes_missing={n: reasons.get(n, "") for n in combined.get("nodes_missing", [])},
        )

    def to_frame(self, node: str | None = None) -> Any:
        """The combined table (or one node's) as rows x columns; suppressed cells are NA."""
        import pandas as pd

        cells = self.cells if node is None else self.nodes[node]
        frame = pd.DataFrame(
            [{"row": c["row"], "column": c["column"], "value": c["count"]["value"]} for c in cells]
        )
        if frame.empty:
            return frame
        table = frame.pivot(index="row", columns="column", values="value")
        return table.astype("Int64")

    def quantiles(self, probabilities: list[float]) -> dict[float, float]:
        """For a histogram: quantiles of the combined released bins, by linear interpolation
        within a bin (never from raw values). Bins some node suppressed count only what was
        released, so the quantiles are approximate; raises if no bin was released."""
        bins = []
        for cell in self.cells:
            low, high = (float(v) for v in str(cell["row"]).strip("[]()").split(","))
            bins.append((low, high, cell["count"]["value"] or 0))
        total = sum(n for _, _, n in bins)
        if total <= 0:
            raise ValueError("no bin was released, so there is nothing to take quantiles of")
        result = {}
        for p in probabilities:
            if not 0.0 <= p <= 1.0:
                raise ValueError("probabilities must be between 0 and 1")
            target, seen = p * total, 0.0
            for low, high, n in bins:
                if n and seen + n >= target:
                    result[p] = low + (high - low) * (target - seen) / n
                    break
                seen += n
        return result

    def __str__(self) -> str:
        lines = [
            f"Federated crosstab: {self.rows}" + (f" by {self.columns}" if self.columns else "")
        ]
        for c in self.cells:
            value = "suppressed" if c["count"]["value"] is None else str(c["count"]["value"])
            partial = (
                f"  (at least; suppressed at {', '.join(c['nodes_suppressed'])})"
                if c["nodes_suppressed"] and c["count"]["value"] is not None
                else ""
            )
            lines.append(f"  {c['row']:<10} {c['column']:<10} {value:>10}{partial}")
        lines.extend(not_included(self.nodes_missing))
        return "\n".join(lines)


@dataclass(frozen=True)
class GroupedSummaryResult:
    """A summary per level of a grouping factor: per level, each node's released figures and
    the pooled ones (weighted by released n)."""

    task_id: str
    complete: bool
    variable: str | None
    by: str | None
    groups: dict[str, dict[str, Any]]  # level -> pooled {"n", "mean", "sd", ...}
    nodes: dict[str, list[dict[str, Any]]]  # node -> its released groups

    @classmethod
    def from_view(cls, view: TaskView) -> GroupedSummaryResult:
        combined: dict[str, Any] = view.combined or {}
        return cls(
            task_id=view.task_id,
            complete=view.state == "complete",
            variable=combined.get("variable"),
            by=combined.get("by"),
            groups=dict(combined.get("groups", {})),
            nodes={r.node: list(r.output.get("groups", [])) for r in view.runs if r.output},
        )

    def __str__(self) -> str:
        lines = [f"Federated summary of {self.variable} by {self.by} (pooled over nodes)"]
        lines.append(f"{'level':<10} {'n':>8} {'mean':>8} {'sd':>8}")
        for level, pooled in self.groups.items():
            n = pooled.get("n", {}).get("value")
            mean, sd = pooled.get("mean"), pooled.get("sd")
            shown_mean = "—" if mean is None else f"{mean:.2f}"
            shown_sd = "—" if sd is None else f"{sd:.2f}"
            shown_n = "suppressed" if n is None else str(n)
            lines.append(f"{level:<10} {shown_n:>8} {shown_mean:>8} {shown_sd:>8}")
        return "\n".join(lines)


def not_included(missing: dict[str, str]) -> list[str]:
    """The line that names the nodes a combined result leaves out, and why (none if none)."""
    if not missing:
        return []
    return ["not included: " + "; ".join(f"{n} ({why})" for n, why in sorted(missing.items()))]


def why_not(view: TaskView) -> dict[str, str]:
    """Per node, in the hub's words, why it did not succeed (or its state)."""
    return {r.node: r.message or (r.reason.value if r.reason else r.state.value) for r in view.runs}


def fitted_model(view: TaskView) -> dict[str, Any]:
    """The fields a fitted model's result shares (GLM and Cox): coefficients and inference,
    iterations, rounds, the error if there is no fit, and who took part."""
    combined: dict[str, Any] = view.combined or {}
    fit: dict[str, Any] = combined.get("fit") or {}
    reasons = why_not(view)
    return {
        "task_id": view.task_id,
        "complete": view.state == "complete",
        "formula": str(combined.get("formula", "")),
        "names": list(fit.get("names", [])),
        "params": list(fit.get("params", [])),
        "bse": list(fit.get("bse", [])),
        "z": list(fit.get("z", [])),
        "pvalues": list(fit.get("pvalues", [])),
        "conf_int": list(fit.get("conf_int", [])),
        "iterations": fit.get("iterations"),
        "rounds": combined.get("rounds"),
        "error": combined.get("error") or (None if view.state == "complete" else "not finished"),
        "nodes_contributing": list(combined.get("nodes_contributing", [])),
        "nodes_left_out": {n: reasons.get(n, "") for n in combined.get("nodes_left_out", [])},
    }


@dataclass(frozen=True)
class KaplanMeierResult:
    """Kaplan-Meier survival per level: the pooled curve on the boundaries every contributing
    node showed (time, at risk, events, survival, Greenwood standard error, 95 % interval),
    and each node's released blocks."""

    task_id: str
    complete: bool
    time: str | None
    by: str | None
    interval: float | None
    horizon: float | None
    groups: dict[str, dict[str, Any]]  # level -> {"curve", "nodes_contributing", ...}
    nodes_missing: dict[str, str]

    @classmethod
    def from_view(cls, view: TaskView) -> KaplanMeierResult:
        combined: dict[str, Any] = view.combined or {}
        reasons = why_not(view)
        return cls(
            task_id=view.task_id,
            complete=view.state == "complete",
            time=combined.get("time"),
            by=combined.get("by"),
            interval=combined.get("interval"),
            horizon=combined.get("horizon"),
            groups=dict(combined.get("groups", {})),
            nodes_missing={n: reasons.get(n, "") for n in combined.get("nodes_missing", [])},
        )

    def curve(self, level: str = "all") -> list[dict[str, Any]]:
        """The pooled curve of one level (``all`` without a grouping factor)."""
        if level not in self.groups:
            raise KeyError(f"no level {level!r}; levels: {', '.join(self.groups)}")
        return list(self.groups[level]["curve"])

    def to_frame(self) -> Any:
        """One row per level and time: at risk, events, survival, se, lower, upper."""
        import pandas as pd

        rows = [
            {"level": level, **point}
            for level, group in self.groups.items()
            for point in group["curve"]
        ]
        return pd.DataFrame(
            rows, columns=["level", "time", "at_risk", "events", "survival", "se", "lower", "upper"]
        )

    def plot(self, path: str | Path, *, confidence: bool = True) -> Path:
        """Step curves per level with their 95 % intervals, written to ``path``."""
        from fivesafes.client.plots import survival_plot

        return Path(survival_plot(self, path, confidence=confidence))

    def __str__(self) -> str:
        lines = [
            f"Federated Kaplan-Meier of {self.time}"
            + (f" by {self.by}" if self.by else "")
            + f" (intervals of {self.interval} years up to {self.horizon})"
        ]
        for level, group in self.groups.items():
            nodes = ", ".join(group["nodes_contributing"]) or "none"
            lines.append(f"{level}: nodes {nodes}")
            if group["nodes_suppressed"]:
                lines.append(f"  suppressed at {', '.join(group['nodes_suppressed'])}")
            lines.append(f"  {'time':>6} {'at risk':>8} {'events':>7} {'survival':>9} 95% CI")
            for p in group["curve"]:
                lines.append(
                    f"  {p['time']:>6.2f} {p['at_risk']:>8} {p['events']:>7} "
                    f"{p['survival']:>9.4f} [{p['lower']:.4f}, {p['upper']:.4f}]"
                )
        lines.extend(not_included(self.nodes_missing))
        return "\n".join(lines)
