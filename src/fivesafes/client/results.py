"""What a researcher gets back: per-node released values, the gated total, and who did not
answer and why (in words that reveal no data)."""

from __future__ import annotations

from dataclasses import dataclass, field
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
