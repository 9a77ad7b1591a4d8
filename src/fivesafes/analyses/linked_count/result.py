"""A linked count as the researcher reads it: the gated number of persons in every part, and
how each part's node answered (never what it sent)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fivesafes.protocol.models import TaskView


@dataclass(frozen=True)
class PartAnswer:
    node: str
    state: str  # succeeded | refused | failed | queued | leased
    sent: bool  # its gate passed and its part went into the count
    reason: str | None
    message: str | None


@dataclass(frozen=True)
class LinkedCountResult:
    task_id: str
    complete: bool
    count: int | None
    suppressed: bool
    rule: str | None
    nodes: list[PartAnswer]
    missing: list[str] = field(default_factory=list)

    @classmethod
    def from_view(cls, view: TaskView) -> LinkedCountResult:
        nodes = []
        for run in view.runs:
            gate = (run.output or {}).get("gate") or {}
            nodes.append(
                PartAnswer(
                    node=run.node,
                    state=run.state.value,
                    sent=run.state.value == "succeeded" and gate.get("verdict") == "pass",
                    reason=run.reason.value if run.reason else None,
                    message=run.message,
                )
            )
        combined: dict[str, Any] = view.combined or {}
        count: dict[str, Any] = combined.get("count") or {}
        return cls(
            task_id=view.task_id,
            complete=view.state == "complete",
            count=count.get("value"),
            suppressed=bool(count.get("suppressed", True)),
            rule=count.get("rule"),
            nodes=nodes,
            missing=list(combined.get("nodes_missing", [])),
        )

    @property
    def display(self) -> str:
        if not self.complete:
            return "waiting for nodes"
        return "suppressed" if self.suppressed else str(self.count)

    def to_frame(self) -> Any:
        import pandas as pd

        rows: list[dict[str, Any]] = [
            {"node": n.node, "state": n.state, "part sent": n.sent, "reason": n.message or n.reason}
            for n in self.nodes
        ]
        rows.append(
            {
                "node": "linked count",
                "state": "complete" if self.complete else "running",
                "part sent": None,
                "reason": self.rule,
            }
        )
        frame = pd.DataFrame(rows)
        frame["count"] = [None] * len(self.nodes) + [self.count]
        return frame

    def __str__(self) -> str:
        width = max([len(n.node) for n in self.nodes] + [12])
        lines = [f"{'node':<{width}}  status"]
        for n in self.nodes:
            status = n.state if not n.reason else f"{n.state}: {n.message or n.reason}"
            if n.state == "succeeded":
                status = "part sent" if n.sent else f"part withheld: {n.message or 'its gate'}"
            lines.append(f"{n.node:<{width}}  {status}")
        lines.append(f"{'linked count':<{width}}  {self.display}  {self.rule or ''}".rstrip())
        return "\n".join(lines)
