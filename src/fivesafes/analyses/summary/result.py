"""Federated summaries of a named variable, plain or by a grouping factor.

Quantiles come from released bins (``fivesafes.analyses.quantiles``), never from raw values:
each node's from its own released bins, the pooled ones from the hub's combined bins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fivesafes.analyses.quantiles import STANDARD, bin_quantiles
from fivesafes.analyses.results.common import not_included, why_not
from fivesafes.analyses.summary.models import SummaryOutput
from fivesafes.protocol.models import TaskView

MEDIAN_AND_QUARTILES = (0.25, 0.5, 0.75)


def _shown_quantiles(cells: list[dict[str, Any]], n: int | None) -> dict[float, float]:
    try:
        return bin_quantiles(cells, MEDIAN_AND_QUARTILES, n)
    except ValueError:
        return {}


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _iqr(cells: list[dict[str, Any]], n: int | None) -> str:
    """Median (IQR) of released bins, or why there is none."""
    if n is None:
        return "—"
    quantiles = _shown_quantiles(cells, n)
    if not all(p in quantiles for p in MEDIAN_AND_QUARTILES):
        return "— (wider bins)"
    low, median, high = (quantiles[p] for p in MEDIAN_AND_QUARTILES)
    return f"{median:.1f} ({low:.1f}-{high:.1f})"


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
    missing: int | None = None
    bins: list[dict[str, Any]] = field(default_factory=list)

    def quantiles(self, probabilities: Sequence[float] = STANDARD) -> dict[float, float]:
        """Quantiles (default 5, 25, 50, 75, 95 %) from this node's released bins; raises
        ``ValueError`` if they hold too few of its persons (ask with wider bins)."""
        return bin_quantiles(self.bins, probabilities, self.n)


@dataclass(frozen=True)
class SummaryResult:
    """A federated summary: per node what its gate released, and the hub's pooled figures
    (mean and sd weighted by the released, rounded n of each node; quantiles from the summed
    released bins; missing the sum of released missing counts)."""

    task_id: str
    complete: bool
    variable: str | None
    nodes: list[NodeSummary]
    n: int | None
    mean: float | None
    sd: float | None
    nodes_suppressed: list[str] = field(default_factory=list)
    missing: int | None = None
    bins: list[dict[str, Any]] = field(default_factory=list)
    nodes_missing: dict[str, str] = field(default_factory=dict)
    missing_suppressed: list[str] = field(default_factory=list)  # pooled missing: at least

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
                    missing=out.missing.value if out else None,
                    bins=[c.model_dump(mode="json") for c in out.bins] if out else [],
                )
            )
        combined: dict[str, Any] = view.combined or {}
        pooled_n: dict[str, Any] = combined.get("n") or {}
        reasons = why_not(view)
        return cls(
            task_id=view.task_id,
            complete=view.state == "complete",
            variable=combined.get("variable"),
            nodes=nodes,
            n=pooled_n.get("value"),
            mean=combined.get("mean"),
            sd=combined.get("sd"),
            nodes_suppressed=list(combined.get("nodes_suppressed", [])),
            missing=combined.get("missing"),
            missing_suppressed=list(combined.get("missing_suppressed", [])),
            bins=list(combined.get("bins", [])),
            nodes_missing={n: reasons.get(n, "") for n in combined.get("nodes_missing", [])},
        )

    def quantiles(self, probabilities: Sequence[float] = STANDARD) -> dict[float, float]:
        """Pooled quantiles (default 5, 25, 50, 75, 95 %) from the combined released bins
        (approximate where a node suppressed a bin); raises ``ValueError`` if no bin was
        released, or if they hold too few of the persons (ask with wider bins)."""
        return bin_quantiles(self.bins, probabilities, self.n)

    def to_frame(self) -> Any:
        """One row per node and one POOLED row: n, missing, mean, sd, median, quartiles."""
        import pandas as pd

        def row(
            name: str, n: Any, missing: Any, mean: Any, sd: Any, q: dict[float, float]
        ) -> dict[str, Any]:
            return {
                "node": name,
                "n": n,
                "missing": missing,
                "mean": mean,
                "sd": sd,
                **{f"q{round(100 * p)}": q.get(p) for p in MEDIAN_AND_QUARTILES},
            }

        rows = [
            row(s.node, s.n, s.missing, s.mean, s.sd, _shown_quantiles(s.bins, s.n))
            for s in self.nodes
        ]
        pooled = _shown_quantiles(self.bins, self.n)
        rows.append(row("POOLED", self.n, self.missing, self.mean, self.sd, pooled))
        return pd.DataFrame(rows)

    def __str__(self) -> str:
        width = max([len(n.node) for n in self.nodes] + [6])
        header = f"{'n':>8}  {'missing':>10}  {'mean':>8}  {'sd':>8}  {'median (IQR)':>20}"
        lines = [f"Federated summary of {self.variable}", f"{'node':<{width}}  {header}  status"]
        for s in self.nodes:
            status = s.state if not s.reason else f"{s.state}: {s.message or s.reason}"
            if s.verdict == "fail":
                status = "suppressed: " + ", ".join(s.rules)
            n = "—" if s.n is None else str(s.n)
            missing = "—" if s.missing is None else str(s.missing)
            if s.missing is None and s.n is not None:
                missing = "suppressed"
            lines.append(
                f"{s.node:<{width}}  {n:>8}  {missing:>10}  {_fmt(s.mean):>8}  {_fmt(s.sd):>8}  "
                f"{_iqr(s.bins, s.n):>20}  {status}"
            )
        n = "suppressed" if self.n is None else str(self.n)
        missing = "suppressed" if self.missing is None and self.n else str(self.missing or "—")
        if self.missing is not None and self.missing_suppressed:
            missing = f"≥{missing}"
        quantiles = _iqr(self.bins, self.n)
        lines.append(
            f"{'POOLED':<{width}}  {n:>8}  {missing:>10}  {_fmt(self.mean):>8}  "
            f"{_fmt(self.sd):>8}  {quantiles:>20}  weighted by released n; "
            "quantiles from released bins"
        )
        lines.extend(not_included(self.nodes_missing))
        return "\n".join(lines)


@dataclass(frozen=True)
class SummaryTable:
    """Summaries of several variables over one cohort: one federated summary per variable."""

    results: dict[str, SummaryResult]

    def __getitem__(self, variable: str) -> SummaryResult:
        return self.results[variable]

    def to_frame(self) -> Any:
        """One pooled row per variable: n, missing, mean, sd, median and quartiles."""
        import pandas as pd

        frames = []
        for variable, result in self.results.items():
            pooled = result.to_frame().iloc[[-1]].drop(columns="node")
            frames.append(pooled.assign(variable=variable).set_index("variable"))
        return pd.concat(frames)

    def __str__(self) -> str:
        return "\n\n".join(str(r) for r in self.results.values())


@dataclass(frozen=True)
class GroupedSummaryResult:
    """A summary per level of a grouping factor: per level, each node's released figures and
    the pooled ones (weighted by released n; quantiles from the level's combined bins)."""

    task_id: str
    complete: bool
    variable: str | None
    by: str | None
    groups: dict[str, dict[str, Any]]  # level -> pooled {"n", "mean", "sd", "bins", ...}
    nodes: dict[str, list[dict[str, Any]]]  # node -> its released groups
    nodes_missing: dict[str, str] = field(default_factory=dict)  # node -> why not included

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
            nodes_missing={n: why_not(view).get(n, "") for n in combined.get("nodes_missing", [])},
        )

    def quantiles(
        self, level: str, probabilities: Sequence[float] = STANDARD
    ) -> dict[float, float]:
        """Pooled quantiles of one level (default 5, 25, 50, 75, 95 %), from its combined
        released bins; raises ``ValueError`` if none was released."""
        pooled = self.groups[level]
        n = (pooled.get("n") or {}).get("value")
        return bin_quantiles(pooled.get("bins", []), probabilities, n)

    def to_frame(self) -> Any:
        """One pooled row per level: n, missing, mean, sd, median and quartiles (suppressed
        figures are missing)."""
        import pandas as pd

        rows = []
        for level, pooled in self.groups.items():
            n = (pooled.get("n") or {}).get("value")
            q = _shown_quantiles(pooled.get("bins", []), n)
            rows.append(
                {
                    "level": level,
                    "n": n,
                    "missing": pooled.get("missing"),
                    "mean": pooled.get("mean"),
                    "sd": pooled.get("sd"),
                    **{f"q{round(100 * p)}": q.get(p) for p in MEDIAN_AND_QUARTILES},
                }
            )
        columns = ["level", "n", "missing", "mean", "sd", "q25", "q50", "q75"]
        return pd.DataFrame(rows, columns=columns)

    def __str__(self) -> str:
        lines = [f"Federated summary of {self.variable} by {self.by} (pooled over nodes)"]
        lines.append(
            f"{'level':<10} {'n':>10} {'missing':>10} {'mean':>8} {'sd':>8} {'median (IQR)':>20}"
        )
        for level, pooled in self.groups.items():
            n = pooled.get("n", {}).get("value")
            missing = pooled.get("missing")
            shown_n = "suppressed" if n is None else str(n)
            shown_missing = "—" if missing is None else str(missing)
            if missing is None and n is not None:
                shown_missing = "suppressed"
            if missing is not None and pooled.get("missing_suppressed"):
                shown_missing = f"≥{shown_missing}"
            quantiles = _iqr(pooled.get("bins", []), n)
            lines.append(
                f"{level:<10} {shown_n:>10} {shown_missing:>10} {_fmt(pooled.get('mean')):>8} "
                f"{_fmt(pooled.get('sd')):>8} {quantiles:>20}"
            )
        lines.extend(not_included(self.nodes_missing))
        return "\n".join(lines)
