"""What every combined result shares: who was left out and why, and a fitted model's fields."""

from __future__ import annotations

from typing import Any

from fivesafes.protocol.models import TaskView


def not_included(missing: dict[str, str]) -> list[str]:
    """The line that names the nodes a combined result leaves out, and why (none if none)."""
    if not missing:
        return []
    return ["not included: " + "; ".join(f"{n} ({why})" for n, why in sorted(missing.items()))]


def why_not(view: TaskView) -> dict[str, str]:
    """Per node, in the hub's words, why it did not succeed (or its state)."""
    return {r.node: r.message or (r.reason.value if r.reason else r.state.value) for r in view.runs}


def fitted_model(view: TaskView) -> dict[str, Any]:
    """The fields a fitted model's result shares (GLM and Cox): coefficients and inference,
    iterations, rounds, the error if there is no fit, and who took part."""
    combined: dict[str, Any] = view.combined or {}
    fit: dict[str, Any] = combined.get("fit") or {}
    reasons = why_not(view)
    return {
        "task_id": view.task_id,
        "complete": view.state == "complete",
        "formula": str(combined.get("formula", "")),
        "names": list(fit.get("names", [])),
        "params": list(fit.get("params", [])),
        "bse": list(fit.get("bse", [])),
        "z": list(fit.get("z", [])),
        "pvalues": list(fit.get("pvalues", [])),
        "conf_int": list(fit.get("conf_int", [])),
        "iterations": fit.get("iterations"),
        "rounds": combined.get("rounds"),
        "error": combined.get("error") or (None if view.state == "complete" else "not finished"),
        "nodes_contributing": list(combined.get("nodes_contributing", [])),
        "nodes_left_out": {n: reasons.get(n, "") for n in combined.get("nodes_left_out", [])},
    }


def value_text(count: dict[str, Any]) -> str:
    """A released count as printed: the number, or "suppressed"."""
    return "suppressed" if count.get("value") is None else f"{count['value']:,}"


def partial_text(nodes: list[str]) -> str:
    """A combined count that some nodes suppressed is a lower bound naming them."""
    return f"  (at least; not from {', '.join(nodes)})" if nodes else ""


NONE_RELEASED = "no node released a value"
"""The rule a combined value names when no node released one."""


class FittedModelResult:
    """What a fitted model's result class shares (GLM, Cox): whether there is a fit, its
    coefficient table as a DataFrame, and the line naming the nodes left out. The subclass is
    a dataclass holding these fields (``fitted_model`` fills them)."""

    names: list[str]
    params: list[float]
    bse: list[float]
    z: list[float]
    pvalues: list[float]
    conf_int: list[list[float]]
    error: str | None
    nodes_left_out: dict[str, str]

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.params)

    def _frame(self, columns: dict[str, list[Any]]) -> Any:
        import pandas as pd

        return pd.DataFrame(columns, index=self.names)

    def _left_out(self) -> list[str]:
        if not self.nodes_left_out:
            return []
        reasons = sorted(self.nodes_left_out.items())
        return ["left out: " + "; ".join(f"{n} ({why})" for n, why in reasons)]
