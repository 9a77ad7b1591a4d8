"""Federated crosstabs and histograms: each node's checked table and the combined one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fivesafes.analyses.quantiles import bin_quantiles
from fivesafes.analyses.results import figures as fig
from fivesafes.analyses.results.common import not_included, why_not
from fivesafes.protocol.models import TaskView


@dataclass(frozen=True)
class CrosstabResult:
    """Persons by one or two variables: each node's released table and the combined one (a
    cell some node suppressed is a lower bound; ``nodes_suppressed`` names those nodes). A
    magnitude table (``value``, ``statistic``) also has, per released cell, the mean or sum of
    the value over the persons who have it (pooled over the nodes that released the cell)."""

    task_id: str
    complete: bool
    rows: str | None
    columns: str | None
    cells: list[dict[str, Any]]
    nodes: dict[str, list[dict[str, Any]]]
    nodes_missing: dict[str, str]
    value: str | None = None
    statistic: str | None = None

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
            value=combined.get("value"),
            statistic=combined.get("statistic"),
        )

    def to_frame(self, node: str | None = None, *, magnitude: bool = False) -> Any:
        """The combined table (or one node's) as rows x columns of counts, or with
        ``magnitude=True`` of the statistic; suppressed cells are NA."""
        import pandas as pd

        if magnitude and self.statistic is None:
            raise ValueError("this is a table of counts: ask with value=... for magnitudes")
        cells = self.cells if node is None else self.nodes[node]
        frame = pd.DataFrame(
            [
                {
                    "row": c["row"],
                    "column": c["column"],
                    "value": c.get("value") if magnitude else c["count"]["value"],
                }
                for c in cells
            ]
        )
        if frame.empty:
            return frame
        table = frame.pivot(index="row", columns="column", values="value")
        return table.astype("Float64" if magnitude else "Int64")

    def quantiles(self, probabilities: list[float]) -> dict[float, float]:
        """For a histogram: quantiles of the combined released bins, by linear interpolation
        within a bin (never from raw values). Bins some node suppressed count only what was
        released, so the quantiles are approximate; raises if no bin was released."""
        return bin_quantiles(self.cells, probabilities)

    def __str__(self) -> str:
        title = f"Federated crosstab: {self.rows}" + (f" by {self.columns}" if self.columns else "")
        if self.statistic:
            title += f"; {self.statistic} of {self.value} per cell"
        lines = [title]
        for c in self.cells:
            value = "suppressed" if c["count"]["value"] is None else str(c["count"]["value"])
            if self.statistic and c.get("value") is not None:
                value = f"{value:>6}  {self.statistic} {fig.estimate(c['value'])}"
            partial = (
                f"  (at least; suppressed at {', '.join(c['nodes_suppressed'])})"
                if c["nodes_suppressed"] and c["count"]["value"] is not None
                else ""
            )
            lines.append(f"  {c['row']:<10} {c['column']:<10} {value:>10}{partial}")
        lines.extend(not_included(self.nodes_missing))
        return "\n".join(lines)
