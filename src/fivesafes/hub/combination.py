"""The hub's release pipeline for combinations: every node's output is validated and judged
again under the hub's profile (``Analysis.regate``), the outputs of the nodes that succeeded
are combined and the combination gated (``Analysis.combine``). An error anywhere fails closed:
a node's output the hub cannot judge is not passed on (its run fails ``gate_error``), and a
combination the hub cannot build releases nothing but an error in words."""

from __future__ import annotations

import logging
from typing import Any

from fivesafes.analyses.plugin import Analysis
from fivesafes.analyses.registry import REGISTRY
from fivesafes.sdc.profiles import Profile

log = logging.getLogger("fivesafes.hub.combination")

NOT_COMBINED = "the hub could not combine the nodes' outputs"


def regate(analysis: str, output: dict[str, Any], profile: Profile) -> dict[str, Any] | None:
    """A node's output as the hub passes it on, or None if it is not what the analysis
    releases or cannot be judged again."""
    found = REGISTRY.get(analysis)
    if found is None:
        return None
    try:
        return found.regate(output, profile)
    except Exception as exc:  # noqa: BLE001 - fail closed: not passed on
        log.warning("a node's %s output was not accepted (%s)", analysis, type(exc).__name__)
        return None


def combined(
    analysis: Analysis, outputs: dict[str, dict[str, Any]], missing: list[str], profile: Profile
) -> dict[str, Any]:
    """The gated combination of the nodes' (re-gated) outputs, or an error that releases
    nothing."""
    try:
        return analysis.combine(outputs, missing, profile)
    except Exception as exc:  # noqa: BLE001 - fail closed: nothing combined is released
        log.error("combining %s failed with %s", analysis.name, type(exc).__name__)
        return {
            "analysis": analysis.name,
            "error": NOT_COMBINED,
            "nodes_contributing": [],
            "nodes_missing": sorted([*missing, *outputs]),
            "profile": profile.name,
        }
