"""Results that describe a cohort: its attrition, step by step, and its characterisation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fivesafes.analyses.results.common import not_included, partial_text, value_text, why_not
from fivesafes.protocol.models import TaskView


@dataclass(frozen=True)
class AttritionResult:
    """Persons remaining after each step of a cohort definition, summed over the nodes (a step
    some node suppressed is a lower bound naming it), and each node's released steps."""

    task_id: str
    complete: bool
    steps: list[dict[str, Any]]  # {"name", "count", "nodes_suppressed"}
    nodes: dict[str, list[dict[str, Any]]]
    nodes_missing: dict[str, str]

    @classmethod
    def from_view(cls, view: TaskView) -> AttritionResult:
        combined: dict[str, Any] = view.combined or {}
        reasons = why_not(view)
        return cls(
            task_id=view.task_id,
            complete=view.state == "complete",
            steps=list(combined.get("steps", [])),
            nodes={r.node: list(r.output.get("steps", [])) for r in view.runs if r.output},
            nodes_missing={n: reasons.get(n, "") for n in combined.get("nodes_missing", [])},
        )

    def to_frame(self) -> Any:
        """One row per step: its name, then the combined count and each node's."""
        import pandas as pd

        rows = []
        for k, step in enumerate(self.steps):
            row = {"step": step["name"], "total": step["count"]["value"]}
            for node, steps in sorted(self.nodes.items()):
                row[node] = steps[k]["count"]["value"] if k < len(steps) else None
            rows.append(row)
        return pd.DataFrame(rows)

    def __str__(self) -> str:
        width = max([len(s["name"]) for s in self.steps] + [10])
        lines = ["Attrition (persons remaining after each step, summed over the nodes)"]
        for step in self.steps:
            lines.append(
                f"  {step['name']:<{width}}  {value_text(step['count']):>12}"
                f"{partial_text(step['nodes_suppressed'])}"
            )
        lines.extend(not_included(self.nodes_missing))
        return "\n".join(lines)
