"""The hub's release pipeline for combinations: every node's output is validated and judged
again under the hub's profile (``Analysis.regate``), the outputs of the nodes that succeeded
are combined and the combination gated (``Analysis.combine``), then validated as the analysis's
combined result (``Analysis.combined``, the type the hub's OpenAPI document publishes). An error
anywhere fails closed: a node's output the hub cannot judge is not passed on (its run fails
``gate_error``), and a combination the hub cannot build, or that is not the analysis's combined
result, releases nothing but an error in words."""

from __future__ import annotations

import logging
from typing import Any

from fivesafes.analyses.plugin import Analysis
from fivesafes.analyses.registry import REGISTRY
from fivesafes.analyses.results.combined import not_combined
from fivesafes.protocol.models import TaskView
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


def public(analysis: str, output: dict[str, Any] | None) -> dict[str, Any] | None:
    """What of a node's stored output anyone sees (``Analysis.public``); nothing if it cannot
    be read for it (fail closed)."""
    found = REGISTRY.get(analysis)
    if output is None or found is None:
        return output if found is not None else None
    try:
        return found.public(output)
    except Exception as exc:  # noqa: BLE001 - fail closed: not shown
        log.warning("a node's %s output could not be shown (%s)", analysis, type(exc).__name__)
        return None


def withheld(analysis: Analysis, output: dict[str, Any] | None) -> str | None:
    """Why nothing of a node's output was released (``Analysis.withheld``), or None; an output
    that cannot be read for it counts as withheld (fail closed)."""
    if output is None:
        return "it sent no output"
    try:
        return analysis.withheld(output)
    except Exception as exc:  # noqa: BLE001 - fail closed: not combined
        log.warning("a node's %s output could not be read (%s)", analysis.name, type(exc).__name__)
        return "its output could not be read"


def combined(
    analysis: Analysis, outputs: dict[str, dict[str, Any]], missing: list[str], profile: Profile
) -> dict[str, Any]:
    """The gated combination of the nodes' (re-gated) outputs, or an error that releases
    nothing."""
    nodes = [*missing, *outputs]
    try:
        made = analysis.combine(outputs, missing, profile)
    except Exception as exc:  # noqa: BLE001 - fail closed: nothing combined is released
        log.error("combining %s failed with %s", analysis.name, type(exc).__name__)
        return failed(analysis, nodes, profile)
    return typed(analysis, made, nodes, profile)


def typed(
    analysis: Analysis, made: dict[str, Any], nodes: list[str], profile: Profile
) -> dict[str, Any]:
    """``made`` as the analysis's combined result (JSON, as stored and returned), or, if it is
    not one, an error that releases nothing naming ``nodes`` as missing."""
    try:
        return analysis.combined.model_validate(made).model_dump(mode="json")
    except Exception as exc:  # noqa: BLE001 - fail closed: an untyped result is not released
        log.error("the combined %s is not its type (%s)", analysis.name, type(exc).__name__)
        return failed(analysis, nodes, profile)


def failed(analysis: Analysis, nodes: list[str], profile: Profile) -> dict[str, Any]:
    """The combination that releases nothing: the error in words, every node missing."""
    return not_combined(analysis.name, NOT_COMBINED, nodes, profile.name).model_dump(mode="json")


def published(view: TaskView) -> TaskView:
    """A task's view as the hub's API publishes it (``Registry.task_view``: its combined
    result typed). A stored result that is not its analysis's type (stored before the type
    said so) is published as the error that releases nothing, never as a server error."""
    try:
        return REGISTRY.task_view.model_validate(view.model_dump())
    except ValueError:
        combined = view.combined or {}
        log.error("task %s's combined %s is not its type", view.task_id, view.analysis)
        failure = not_combined(
            view.analysis,
            NOT_COMBINED,
            [run.node for run in view.runs],
            str(combined.get("profile", ""))[:64],
        )
        return REGISTRY.task_view.model_validate({**view.model_dump(), "combined": failure})
