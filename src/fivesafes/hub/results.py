"""A task's result as the hub shows it, for every analysis the hub combines: each node's run
and its disclosure verdict in words, then whatever the task's analysis shows of the combined
result (``Analysis.show``: tables built from the client's own result classes over the very
``TaskView`` the API returns, and pictures), so the portal's page shows the figures a
researcher gets in Python; nothing here computes a statistic. The same tables are the task's
CSV file (``csv_of``), for the portal's download, the API's and the airlock."""

from __future__ import annotations

from typing import Any

from fivesafes.analyses.registry import REGISTRY
from fivesafes.analyses.results.download import result_csv
from fivesafes.analyses.results.page import NodeVerdict, Plot, Shown, Table, number, table
from fivesafes.protocol.errors import Conflict
from fivesafes.protocol.models import RunView, TaskView
from fivesafes.protocol.runs import REASON_TEXT, ReasonCode, RunState

__all__ = [
    "NodeVerdict", "Plot", "Shown", "Table", "csv_name", "csv_of", "node_verdict", "number",
    "shown", "table",
]  # fmt: skip


def node_verdict(run: RunView, complete: bool) -> NodeVerdict:
    """A node's run in words: what its gate (and the hub's, again) decided, or why nothing
    came back."""
    state = run.state.value
    if run.state == RunState.SUCCEEDED:
        output: dict[str, Any] = run.output or {}
        groups = output.get("groups", [])
        gates = [output["gate"]] if "gate" in output else [g["gate"] for g in groups]
        passed = any(g.get("verdict") == "pass" for g in gates)
        rules = ", ".join(sorted({rule for g in gates for rule in g.get("rules", [])}))
        if run.message:  # the hub left its output out: nothing of it was released
            return NodeVerdict(run.node, state, "withheld", run.message)
        return NodeVerdict(run.node, state, "passed" if passed else "suppressed", rules)
    reason = REASON_TEXT.get(run.reason) if run.reason else None
    text = reason or run.message or ""
    if run.reason is not None:
        text = f"{text} ({run.reason.value})"
    if run.state == RunState.REFUSED:
        return NodeVerdict(run.node, state, "refused", text)
    if run.state == RunState.FAILED:
        missing = run.reason == ReasonCode.NODE_UNAVAILABLE
        return NodeVerdict(run.node, state, "missing" if missing else "failed", text)
    if complete:
        return NodeVerdict(run.node, state, "missing", "No answer came back.")
    return NodeVerdict(run.node, state, "waiting", "")


def shown(view: TaskView) -> Shown:
    """What a task's page shows: per node its verdict, and once the hub has combined the
    nodes' outputs, the result (tables and pictures) of its analysis."""
    complete = view.state == "complete"
    result = Shown(view, [node_verdict(run, complete) for run in view.runs])
    if not complete or view.combined is None:
        return result
    analysis = REGISTRY.get(view.analysis)
    if analysis is None:
        result.lines.append("This analysis's result is read with the Python client.")
        return result
    analysis.show(view, result)
    return result


def csv_of(view: TaskView) -> str:
    """The task's result as its page shows it, as CSV (``analyses/results/download.py``); a
    task still waiting for nodes has none yet (``Conflict``)."""
    if view.state != "complete":
        raise Conflict("The task has not finished: its result is not combined yet.")
    return result_csv(shown(view))


def csv_name(view: TaskView) -> str:
    """The file's name: ``task-<id>-<analysis>.csv``."""
    return f"task-{view.task_id}-{view.analysis}.csv"
