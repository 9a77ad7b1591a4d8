"""The hub part of each analysis: gate every node's output again, combine, gate the result.

The hub only ever sees released values (already judged, suppressed and rounded at the node),
so a combination is built from those, never from true values, and judged once more under the
hub's own profile (which may be stricter than a node's).

| analysis | per node (hub's gate again) | combined                                           |
| -------- | --------------------------- | -------------------------------------------------- |
| count    | released count re-judged    | total of released counts, judged as a count        |
| summary  | released n, missing and     | n = sum of released n; mean and sd pooled with     |
|          | bins re-judged              | released n as weights; suppressed if n fails;      |
|          |                             | bins summed and judged again, quantiles from them  |
| crosstab | released cells re-judged    | sum of released cells per cell, judged again       |
| km       | blocks merged again under   | Kaplan-Meier on the boundaries every contributing  |
|          | hub's threshold, re-rounded | node shows (``fivesafes.analyses.km``)             |

A node whose output was suppressed adds nothing and is named, so the reader knows the total
leaves out fewer than that node's threshold of persons. A pooled summary is weighted by the
*rounded* n each node released, so it is close to, not equal to, the mean of the pooled rows
(equal where the profiles round to 1); the exact pooled statistics are the models'.
"""

from __future__ import annotations

import math
from typing import Any

from fivesafes.analyses import attrition, characterise, km
from fivesafes.analyses.meta import combine as meta_combine
from fivesafes.analyses.quantiles import STANDARD, check_coverage, interpolate, label_edges
from fivesafes.protocol.models import (
    OUTPUTS,
    AttritionOutput,
    CharacteriseOutput,
    CountOutput,
    CrosstabCell,
    CrosstabOutput,
    GroupedSummaryOutput,
    KaplanMeierOutput,
    ModelRoundOutput,
    NodeModelOutput,
    ReleasedCount,
    SummaryOutput,
)
from fivesafes.sdc.gate import release_cell, release_count
from fivesafes.sdc.profiles import Profile

_NONE_RELEASED = "no node released a value"


def regate(analysis: str, output: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """A node's output as the hub passes it on: validated against its analysis's output type
    (which carries the node's verdict) and judged again under the hub's profile. Raises
    ``ValueError`` for an output that is not what the analysis releases."""
    model = OUTPUTS.get(analysis)
    if model is None:
        raise ValueError(f"no output type for analysis {analysis!r}")
    if analysis == "summary" and "groups" in output:
        grouped = GroupedSummaryOutput.model_validate(output)
        groups = [_regate_summary(g, profile) for g in grouped.groups]
        return grouped.model_copy(update={"groups": groups}).model_dump(mode="json")
    checked = model.model_validate(output)
    if isinstance(checked, ModelRoundOutput | NodeModelOutput):
        return checked.model_dump(mode="json")  # judged again, pooled, in hub/rounds.py
    if isinstance(checked, KaplanMeierOutput):
        return km.regate(checked, profile).model_dump(mode="json")
    if isinstance(checked, AttritionOutput):
        return attrition.regate(checked, profile).model_dump(mode="json")
    if isinstance(checked, CharacteriseOutput):
        return characterise.regate(checked, profile).model_dump(mode="json")
    if isinstance(checked, CountOutput):
        return _regate_count(checked, profile).model_dump(mode="json")
    if isinstance(checked, CrosstabOutput):
        return _regate_table(checked, profile).model_dump(mode="json")
    assert isinstance(checked, SummaryOutput)
    return _regate_summary(checked, profile).model_dump(mode="json")


def _hub_rules(released: ReleasedCount) -> list[str]:
    return ["hub: " + released.rule]


def _regate_count(output: CountOutput, profile: Profile) -> CountOutput:
    if output.count.value is None:
        return output
    again = release_count(output.count.value, profile)
    if again.suppressed:
        gate = output.gate.model_copy(
            update={"verdict": "fail", "rules": output.gate.rules + _hub_rules(again)}
        )
        return CountOutput(count=again, gate=gate)
    return CountOutput(count=again, gate=output.gate)


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


def _regate_table(output: CrosstabOutput, profile: Profile) -> CrosstabOutput:
    cells, hidden_by_hub = regate_cells(output.cells, profile)
    gate = output.gate
    if hidden_by_hub:
        gate = gate.model_copy(update={"verdict": "fail", "rules": [*gate.rules, "hub: threshold"]})
    return output.model_copy(update={"cells": cells, "gate": gate})


def _regate_summary(output: SummaryOutput, profile: Profile) -> SummaryOutput:
    if output.n.value is None:
        return output
    again = release_count(output.n.value, profile)
    if not again.suppressed:
        missing = output.missing
        if missing.value is not None:
            missing = release_count(missing.value, profile)
        bins, _ = regate_cells(output.bins, profile)
        return output.model_copy(update={"n": again, "missing": missing, "bins": bins})
    marker = ReleasedCount(value=None, suppressed=True, rule="hub: " + again.rule)
    gate = output.gate.model_copy(
        update={"verdict": "fail", "rules": output.gate.rules + _hub_rules(again)}
    )
    return SummaryOutput(
        variable=output.variable,
        level=output.level,
        n=marker,
        missing=marker,
        mean=None,
        sd=None,
        gate=gate,
    )


def combine(
    analysis: str, outputs: dict[str, dict[str, Any]], missing: list[str], profile: Profile
) -> dict[str, Any]:
    """Combine the (already re-gated) outputs of the nodes that succeeded."""
    if analysis == "summary" and any("groups" in o for o in outputs.values()):
        return combine_grouped_summaries(outputs, missing, profile)
    if analysis == "summary":
        return combine_summaries(outputs, missing, profile)
    if analysis == "meta":
        return combine_models(outputs, missing)
    if analysis == "attrition":
        steps = {n: AttritionOutput.model_validate(o) for n, o in outputs.items()}
        return attrition.combine(steps, missing, profile)
    if analysis == "characterise":
        described = {n: CharacteriseOutput.model_validate(o) for n, o in outputs.items()}
        return characterise.combine(described, missing, profile)
    if analysis == "km":
        survival = {n: KaplanMeierOutput.model_validate(o) for n, o in outputs.items()}
        return km.combine(survival, missing, profile)
    if analysis in ("crosstab", "histogram"):
        return {**combine_tables(outputs, missing, profile), "analysis": analysis}
    return combine_counts(outputs, missing, profile)


def combine_counts(
    outputs: dict[str, dict[str, Any]], missing: list[str], profile: Profile
) -> dict[str, Any]:
    """Combine per-node released counts (``outputs``: node → CountOutput) into a gated total."""
    contributing: list[str] = []
    suppressed: list[str] = []
    total = 0
    for node, raw in sorted(outputs.items()):
        released = CountOutput.model_validate(raw).count
        if released.value is None:
            suppressed.append(node)
        else:
            contributing.append(node)
            total += released.value
    gated = (
        release_count(total, profile)
        if contributing
        else ReleasedCount(value=None, suppressed=True, rule=_NONE_RELEASED)
    )
    return {
        "analysis": "count",
        "total": gated.model_dump(mode="json"),
        "nodes_contributing": contributing,
        "nodes_suppressed": suppressed,
        "nodes_missing": sorted(missing),
        "profile": profile.name,
    }


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
        count = released or ReleasedCount(value=None, suppressed=True, rule=_NONE_RELEASED)
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


def combine_models(outputs: dict[str, dict[str, Any]], missing: list[str]) -> dict[str, Any]:
    """Meta-analyse the nodes' own fits, term by term (``fivesafes.analyses.meta``)."""
    fits = {node: NodeModelOutput.model_validate(raw) for node, raw in sorted(outputs.items())}
    result: dict[str, Any] = {
        "analysis": "meta",
        "nodes": {node: {"params": f.params, "bse": f.bse, "n": f.n} for node, f in fits.items()},
        "nodes_contributing": sorted(fits),
        "nodes_missing": sorted(missing),
        "terms": [],
        "error": None,
    }
    if not fits:
        result["error"] = "no node fitted the model"
        return result
    names = next(iter(fits.values())).names
    if any(f.names != names for f in fits.values()):
        result["error"] = "the nodes' models do not have the same terms"
        return result
    result["names"] = names
    result["terms"] = [
        meta_combine(
            name, [f.params[j] for f in fits.values()], [f.bse[j] for f in fits.values()]
        ).as_dict()
        for j, name in enumerate(names)
    ]
    return result


def combine_grouped_summaries(
    outputs: dict[str, dict[str, Any]], missing: list[str], profile: Profile
) -> dict[str, Any]:
    """Pool a grouped summary level by level, as ``combine_summaries`` pools a plain one."""
    grouped = {n: GroupedSummaryOutput.model_validate(o) for n, o in sorted(outputs.items())}
    levels: dict[str, dict[str, dict[str, Any]]] = {}
    for node, output in grouped.items():
        for group in output.groups:
            levels.setdefault(group.level or "", {})[node] = group.model_dump(mode="json")
    first = next(iter(grouped.values()), None)
    return {
        "analysis": "summary",
        "variable": first.variable if first else None,
        "by": first.by if first else None,
        "groups": {
            level: combine_summaries(per_node, missing, profile)
            for level, per_node in levels.items()
        },
        "nodes_contributing": sorted(grouped),
        "nodes_missing": sorted(missing),
        "profile": profile.name,
    }


def combine_summaries(
    outputs: dict[str, dict[str, Any]], missing: list[str], profile: Profile
) -> dict[str, Any]:
    """Pool per-node summaries: n summed, mean and sd combined with released n as weights."""
    contributing: list[str] = []
    suppressed: list[str] = []
    parts: list[tuple[int, float, float | None]] = []
    variable: str | None = None
    missing_values = 0
    missing_suppressed: list[str] = []
    bins: dict[str, list[CrosstabCell]] = {}
    for node, raw in sorted(outputs.items()):
        summary = SummaryOutput.model_validate(raw)
        variable = summary.variable
        if summary.n.value is None or summary.mean is None:
            suppressed.append(node)
            continue
        contributing.append(node)
        parts.append((summary.n.value, summary.mean, summary.sd))
        missing_values += summary.missing.value or 0
        if summary.missing.value is None:
            missing_suppressed.append(node)
        bins[node] = summary.bins
    n_total = sum(n for n, _, _ in parts)
    gated = (
        release_count(n_total, profile)
        if parts
        else ReleasedCount(value=None, suppressed=True, rule=_NONE_RELEASED)
    )
    mean = sd = None
    if not gated.suppressed and n_total > 0:
        mean = sum(n * m for n, m, _ in parts) / n_total
        if n_total > 1 and all(s is not None or n <= 1 for n, _, s in parts):
            within = sum((n - 1) * (s or 0.0) ** 2 for n, _, s in parts)
            between = sum(n * (m - mean) ** 2 for n, m, _ in parts)
            sd = math.sqrt((within + between) / (n_total - 1))
    pooled_bins = combine_cells(bins, profile) if mean is not None else []
    # the sum of released missing counts; None when no contributing node released one
    some_missing = mean is not None and len(missing_suppressed) < len(parts)
    return {
        "analysis": "summary",
        "variable": variable,
        "n": gated.model_dump(mode="json"),
        "missing": missing_values if some_missing else None,
        "missing_suppressed": missing_suppressed,  # the pooled missing count is a lower bound
        "mean": mean,
        "sd": sd,
        "quantiles": _quantiles(pooled_bins, gated.value),
        "bins": pooled_bins,
        "weights": "released (rounded) n per node",
        "nodes_contributing": contributing,
        "nodes_suppressed": suppressed,
        "nodes_missing": sorted(missing),
        "profile": profile.name,
    }


def _quantiles(cells: list[dict[str, Any]], n: int | None) -> dict[str, float]:
    """The standard quantiles of released bins (``fivesafes.analyses.quantiles``), keyed by
    probability as text (JSON keys); empty when the released bins hold too few of the n."""
    bins = [(*label_edges(c["row"]), c["count"]["value"] or 0) for c in cells]
    try:
        check_coverage(bins, n)
        return {str(p): q for p, q in interpolate(bins, STANDARD).items()}
    except ValueError:
        return {}
