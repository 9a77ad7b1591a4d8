"""The hub part of crosstabs and histograms: every released cell judged again as a table
cell; the nodes' released cells added on the common grid, a cell some node suppressed a lower
bound naming those nodes, every combined cell judged again (``fivesafes.analyses.cells``)."""

from __future__ import annotations

from typing import Any

from fivesafes.analyses.cells import combine_cells, regate_cells
from fivesafes.analyses.crosstab.models import CrosstabOutput
from fivesafes.sdc.profiles import Profile


def regate_table(output: CrosstabOutput, profile: Profile) -> CrosstabOutput:
    cells, hidden_by_hub = regate_cells(output.cells, profile)
    gate = output.gate
    if hidden_by_hub:
        gate = gate.model_copy(update={"verdict": "fail", "rules": [*gate.rules, "hub: threshold"]})
    return output.model_copy(update={"cells": cells, "gate": gate})


def combine_tables(
    outputs: dict[str, dict[str, Any]], missing: list[str], profile: Profile
) -> dict[str, Any]:
    """Add the nodes' released cells; a cell some node suppressed is a lower bound and names
    those nodes; every combined cell is judged again as a count."""
    tables = {node: CrosstabOutput.model_validate(raw) for node, raw in sorted(outputs.items())}
    first = next(iter(tables.values()), None)
    statistic = first.statistic if first else None
    unlike = [
        n for n, t in tables.items() if first and (t.statistic, t.value) != (statistic, first.value)
    ]
    tables = {n: t for n, t in tables.items() if n not in unlike}  # never mix magnitudes
    missing = [*missing, *unlike]
    return {
        "analysis": "crosstab",
        "rows": first.rows if first else None,
        "columns": first.columns if first else None,
        "value": first.value if first else None,
        "statistic": statistic,
        "cells": combine_cells({node: t.cells for node, t in tables.items()}, profile, statistic),
        "nodes_contributing": sorted(tables),
        "nodes_missing": sorted(missing),
        "profile": profile.name,
    }
