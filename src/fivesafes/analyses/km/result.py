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
    and each node's released blocks."""

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

    def plot(self, path: str | Path, *, confidence: bool = True) -> Path:
        """Step curves per level with their 95 % intervals, written to ``path``."""
        return Path(survival_plot(self, path, confidence=confidence))

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
            lines.append(f"  {'time':>6} {'at risk':>8} {'events':>7} {'survival':>9} 95% CI")
            for p in group["curve"]:
                lines.append(
                    f"  {p['time']:>6.2f} {p['at_risk']:>8} {p['events']:>7} "
                    f"{p['survival']:>9.4f} [{p['lower']:.4f}, {p['upper']:.4f}]"
                )
        lines.extend(not_included(self.nodes_missing))
        return "\n".join(lines)
