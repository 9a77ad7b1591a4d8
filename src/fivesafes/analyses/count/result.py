"""Federated counts: per node the released count, and the gated total."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fivesafes.analyses.count.models import CountOutput
from fivesafes.protocol.models import TaskView


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
