"""Federated summaries of a named variable, plain or by a grouping factor."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fivesafes.protocol.models import SummaryOutput, TaskView


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
