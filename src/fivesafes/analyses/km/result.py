"""Federated Kaplan-Meier curves by group."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fivesafes.analyses.km.plot import survival_plot
from fivesafes.analyses.results.common import not_included, why_not
from fivesafes.protocol.models import TaskView


@dataclass(frozen=True)
class KaplanMeierResult:
    """Kaplan-Meier survival per level: the pooled curve on the boundaries every contributing
    node showed (time, at risk, events, survival, Greenwood standard error, 95 % interval),
    each node's released blocks, and each node's figure of how far its released curve is from
    its exact one, with the largest of them (``accuracy``)."""

    task_id: str
    complete: bool
    time: str | None
    by: str | None
    interval: float | None
    horizon: float | None
    groups: dict[str, dict[str, Any]]  # level -> {"curve", "nodes_contributing", ...}
    nodes_missing: dict[str, str]

    @classmethod
    def from_view(cls, view: TaskView) -> KaplanMeierResult:
        combined: dict[str, Any] = view.combined or {}
        reasons = why_not(view)
        return cls(
            task_id=view.task_id,
            complete=view.state == "complete",
            time=combined.get("time"),
            by=combined.get("by"),
            interval=combined.get("interval"),
            horizon=combined.get("horizon"),
            groups=dict(combined.get("groups", {})),
            nodes_missing={n: reasons.get(n, "") for n in combined.get("nodes_missing", [])},
        )

    def curve(self, level: str = "all") -> list[dict[str, Any]]:
        """The pooled curve of one level (``all`` without a grouping factor)."""
        if level not in self.groups:
            raise KeyError(f"no level {level!r}; levels: {', '.join(self.groups)}")
        return list(self.groups[level]["curve"])

    def accuracy(self, level: str = "all") -> float | None:
        """The largest of the contributing nodes' figures for one level: each node's released
        curve is within it of Kaplan-Meier on that node's rows at every boundary it shows
        (None if some node stated none). docs/analyses.md says what it says of the pooled
        curve."""
        if level not in self.groups:
            raise KeyError(f"no level {level!r}; levels: {', '.join(self.groups)}")
        return self.groups[level].get("accuracy")

    def to_frame(self) -> Any:
        """One row per level and time: at risk, events, survival, se, lower, upper."""
        import pandas as pd

        rows = [
            {"level": level, **point}
            for level, group in self.groups.items()
            for point in group["curve"]
        ]
        return pd.DataFrame(
            rows, columns=["level", "time", "at_risk", "events", "survival", "se", "lower", "upper"]
        )

    def plot(self, path: str | Path, *, confidence: bool = True, full_axis: bool = False) -> Path:
        """Step curves per level with their 95 % intervals, written to ``path``; the survival
        axis is scaled to the curves, or 0 to 1 with ``full_axis``."""
        return Path(survival_plot(self, path, confidence=confidence, full_axis=full_axis))

    def __str__(self) -> str:
        lines = [
            f"Federated Kaplan-Meier of {self.time}"
            + (f" by {self.by}" if self.by else "")
            + f" (intervals of {self.interval} years up to {self.horizon})"
        ]
        for level, group in self.groups.items():
            nodes = ", ".join(group["nodes_contributing"]) or "none"
            lines.append(f"{level}: nodes {nodes}")
            if group["nodes_suppressed"]:
                lines.append(f"  suppressed at {', '.join(group['nodes_suppressed'])}")
            if group["curve"]:
                lines.append(f"  {accuracy_line(group)}")
            lines.append(f"  {'time':>6} {'at risk':>8} {'events':>7} {'survival':>9} 95% CI")
            for p in group["curve"]:
                lines.append(
                    f"  {p['time']:>6.2f} {p['at_risk']:>8} {p['events']:>7} "
                    f"{p['survival']:>9.4f} [{p['lower']:.4f}, {p['upper']:.4f}]"
                )
        lines.extend(not_included(self.nodes_missing))
        return "\n".join(lines)


def accuracy_line(group: dict[str, Any]) -> str:
    """A level's figures in words: the largest, and each node's (docs/analyses.md)."""
    figures: dict[str, float | None] = group.get("nodes_accuracy") or {}
    each = ", ".join(f"{n} {'none' if f is None else f'{f:.2f}'}" for n, f in figures.items())
    if group.get("accuracy") is None:
        return f"accuracy not stated by every node ({each or 'none stated'})"
    return (
        f"accuracy {group['accuracy']:.2f}: each node's released curve is within it of "
        f"Kaplan-Meier on that node's rows at the times it shows ({each}); for the pooled "
        "curve a guide, not a bound"
    )
