"""The hub part of a summary: each node's released n, missing count and bins judged again;
then n summed, mean and sd pooled with the released n as weights (suppressed if the pooled n
fails), bins summed and judged again, quantiles from them. A grouped summary is pooled level
by level. Weighted by the *rounded* n each node released, a pooled mean is close to, not equal
to, the mean of the pooled rows (equal where the profiles round to 1); the models' pooled
statistics are exact."""

from __future__ import annotations

import math
from typing import Any

from fivesafes.analyses.cells import combine_cells, regate_cells
from fivesafes.analyses.quantiles import STANDARD, check_coverage, interpolate, label_edges
from fivesafes.analyses.results.common import NONE_RELEASED
from fivesafes.analyses.summary.models import GroupedSummaryOutput, SummaryOutput
from fivesafes.protocol.models import CrosstabCell, ReleasedCount
from fivesafes.sdc.gate import release_count
from fivesafes.sdc.profiles import Profile


def regate(output: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """A node's summary (plain or grouped) judged again under the hub's profile."""
    if "groups" in output:
        grouped = GroupedSummaryOutput.model_validate(output)
        groups = [regate_summary(g, profile) for g in grouped.groups]
        return grouped.model_copy(update={"groups": groups}).model_dump(mode="json")
    return regate_summary(SummaryOutput.model_validate(output), profile).model_dump(mode="json")


def combine(
    outputs: dict[str, dict[str, Any]], missing: list[str], profile: Profile
) -> dict[str, Any]:
    if any("groups" in o for o in outputs.values()):
        return combine_grouped_summaries(outputs, missing, profile)
    return combine_summaries(outputs, missing, profile)


def _hub_rules(released: ReleasedCount) -> list[str]:
    return ["hub: " + released.rule]


def regate_summary(output: SummaryOutput, profile: Profile) -> SummaryOutput:
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
        else ReleasedCount(value=None, suppressed=True, rule=NONE_RELEASED)
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
