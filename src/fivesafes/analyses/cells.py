"""Cells of released tables at the hub: judged again, and summed over nodes on a common grid
(a crosstab's, a histogram's, a summary's bins, a characterisation's bands)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from fivesafes.analyses.results.combined import Nodes
from fivesafes.analyses.results.common import NONE_RELEASED
from fivesafes.protocol.models import CrosstabCell, FiniteFloat, Label, ReleasedCount, Strict
from fivesafes.sdc.gate import release_cell
from fivesafes.sdc.profiles import Profile


class PooledCell(Strict):
    """One cell of the common grid summed over the nodes (``combine_cells``): the sum judged
    again, and the nodes that suppressed it (the sum is then a lower bound)."""

    row: Label
    column: Label
    count: ReleasedCount
    nodes_suppressed: Nodes


class PooledMagnitude(PooledCell):
    """A cell of a magnitude table: also the statistic over the nodes that released it."""

    value: FiniteFloat | None


PooledCells = Annotated[list[PooledCell | PooledMagnitude], Field(max_length=400)]
"""A table's pooled cells: counts only, or counts with their statistic."""


def regate_cells(cells: list[CrosstabCell], profile: Profile) -> tuple[list[CrosstabCell], bool]:
    """Every released cell judged again as a table cell; whether the hub hid any."""
    again = []
    hidden_by_hub = False
    for cell in cells:
        count = cell.count
        if count.value is not None:
            count = release_cell(count.value, profile)
            hidden_by_hub |= count.suppressed
        value = None if count.suppressed else cell.value
        again.append(cell.model_copy(update={"count": count, "value": value}))
    return again, hidden_by_hub


def combine_cells(
    per_node: dict[str, list[CrosstabCell]],
    profile: Profile,
    statistic: str | None = None,
) -> list[dict[str, Any]]:
    """Per cell of the common grid: the sum of the nodes' released counts, judged again as a
    table cell, and the nodes that suppressed it (the sum is then a lower bound). In a
    magnitude table also the statistic over the nodes that released it: a sum of sums, or a
    mean of means weighted by their released (rounded) counts."""
    combined: dict[tuple[str, str], dict[str, Any]] = {}
    for node, cells in sorted(per_node.items()):
        for cell in cells:
            entry = combined.setdefault(
                (cell.row, cell.column),
                {"row": cell.row, "column": cell.column, "sum": 0, "nodes_suppressed": []}
                | {"weighted": 0.0},
            )
            if cell.count.value is None:
                entry["nodes_suppressed"].append(node)
                continue
            entry["sum"] += cell.count.value
            if cell.value is not None:
                weight = 1 if statistic == "sum" else cell.count.value
                entry["weighted"] += weight * cell.value
    result = []
    for entry in combined.values():
        some = entry["sum"] > 0 or len(entry["nodes_suppressed"]) < len(per_node)
        released = release_cell(entry["sum"], profile) if some else None
        count = released or ReleasedCount(value=None, suppressed=True, rule=NONE_RELEASED)
        pooled: dict[str, Any] = {
            "row": entry["row"],
            "column": entry["column"],
            "count": count.model_dump(mode="json"),
            "nodes_suppressed": entry["nodes_suppressed"],
        }
        if statistic is not None:
            shown = not count.suppressed and entry["sum"] > 0
            per = entry["weighted"] / (1 if statistic == "sum" else max(entry["sum"], 1))
            pooled["value"] = per if shown else None
        result.append(pooled)
    return result
