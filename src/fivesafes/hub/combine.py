"""The hub part of the count analysis: add the released counts and gate the total again.

The total is the sum of the values nodes *released* (already suppressed and rounded), never of
true counts. A node whose count was suppressed adds nothing and is named, so the reader knows
the total leaves out fewer than that node's threshold of persons.
"""

from __future__ import annotations

from typing import Any

from fivesafes.protocol.models import CountOutput, ReleasedCount
from fivesafes.sdc.counts import release_count
from fivesafes.sdc.profile import GateProfile


def regate_node_count(output: dict[str, Any], profile: GateProfile) -> dict[str, Any]:
    """Apply the hub's own gate to one node's released count (it may be stricter)."""
    count = CountOutput.model_validate(output)
    if count.count.suppressed or count.count.value is None:
        return count.model_dump(mode="json")
    hub_released = release_count(count.count.value, profile)
    return CountOutput(count=hub_released, profile=count.profile).model_dump(mode="json")


def combine_counts(
    outputs: dict[str, dict[str, Any]], missing: list[str], profile: GateProfile
) -> dict[str, Any]:
    """Combine per-node released counts (``outputs``: node → CountOutput) into a gated total."""
    contributing: list[str] = []
    suppressed: list[str] = []
    total = 0
    for node, raw in sorted(outputs.items()):
        released = CountOutput.model_validate(raw).count
        if released.suppressed or released.value is None:
            suppressed.append(node)
        else:
            contributing.append(node)
            total += released.value
    gated: ReleasedCount
    if not contributing:
        gated = ReleasedCount(value=None, suppressed=True, rule="no node released a count")
    else:
        gated = release_count(total, profile)
    return {
        "analysis": "count",
        "total": gated.model_dump(mode="json"),
        "nodes_contributing": contributing,
        "nodes_suppressed": suppressed,
        "nodes_missing": sorted(missing),
        "profile": profile.name,
    }
