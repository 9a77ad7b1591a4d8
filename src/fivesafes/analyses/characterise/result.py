"""Results that describe a cohort: its attrition, step by step, and its characterisation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fivesafes.analyses.results.common import not_included, partial_text, value_text, why_not
from fivesafes.protocol.models import TaskView


@dataclass(frozen=True)
class CharacterisationResult:
    """A cohort's size, age bands, sex and most recorded concepts per domain, summed over the
    nodes (a concept a node did not list counts nothing there: ``nodes_not_listing``)."""

    task_id: str
    complete: bool
    count: int | None
    age: list[dict[str, Any]]
    sex: list[dict[str, Any]]
    concepts: dict[str, list[dict[str, Any]]]
    nodes: dict[str, dict[str, Any]]
    nodes_missing: dict[str, str]

    @classmethod
    def from_view(cls, view: TaskView) -> CharacterisationResult:
        combined: dict[str, Any] = view.combined or {}
        reasons = why_not(view)
        return cls(
            task_id=view.task_id,
            complete=view.state == "complete",
            count=(combined.get("count") or {}).get("value"),
            age=list(combined.get("age", [])),
            sex=list(combined.get("sex", [])),
            concepts=dict(combined.get("concepts", {})),
            nodes={r.node: dict(r.output) for r in view.runs if r.output},
            nodes_missing={n: reasons.get(n, "") for n in combined.get("nodes_missing", [])},
        )

    def distribution(self, which: str) -> Any:
        """The combined ``"age"`` bands or ``"sex"`` as a DataFrame: persons per level (NA
        where suppressed) and the nodes that suppressed it (the count is then a lower bound)."""
        import pandas as pd

        cells = {"age": self.age, "sex": self.sex}[which]
        rows = [
            {
                which: c["row"],
                "persons": c["count"]["value"],
                "suppressed at": ", ".join(c["nodes_suppressed"]),
            }
            for c in cells
        ]
        return pd.DataFrame(rows, columns=[which, "persons", "suppressed at"]).astype(
            {"persons": "Int64"}
        )

    def top(self, domain: str) -> Any:
        """The combined top concepts of one domain as a DataFrame."""
        import pandas as pd

        rows = [
            {"concept_id": c["concept_id"], "name": c["name"], "persons": c["count"]["value"]}
            for c in self.concepts.get(domain, [])
        ]
        return pd.DataFrame(rows, columns=["concept_id", "name", "persons"])

    def __str__(self) -> str:
        shown = "suppressed" if self.count is None else f"{self.count:,}"
        lines = [f"Characterisation of the cohort: {shown} persons (summed over the nodes)"]
        for title, cells in (("age at index", self.age), ("sex", self.sex)):
            lines.append(f"  {title}")
            for cell in cells:
                lines.append(
                    f"    {cell['row']:<10} {value_text(cell['count']):>12}"
                    f"{partial_text(cell['nodes_suppressed'])}"
                )
        for domain, listed in self.concepts.items():
            lines.append(f"  top {domain} concepts")
            for c in listed:
                lines.append(
                    f"    {c['concept_id']:>10}  {c['name'][:48]:<48} {value_text(c['count']):>10}"
                    f"{partial_text(c['nodes_not_listing'])}"
                )
        lines.extend(not_included(self.nodes_missing))
        return "\n".join(lines)
