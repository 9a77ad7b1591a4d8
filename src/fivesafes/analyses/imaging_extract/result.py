"""An imaging extract request as the researcher reads it: where extracts are held, and each
node's figures (counts only: the files stay at the node, released into the project's
workspace there by its output checkers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fivesafes.analyses.results.common import not_included, value_text, why_not
from fivesafes.protocol.models import TaskView

COLUMNS = ("node", "persons", "series", "files", "written", "rejected", "failed", "held")
REASONS = {"rejected": "rejected", "failed_verification": "failed verification",
           "unreadable": "unreadable"}  # fmt: skip


HELD = {True: "yes", False: "no"}  # None: not said (the node's persons were suppressed)


def _value(count: dict[str, Any] | None) -> int | None:
    return None if not count else count.get("value")


@dataclass(frozen=True)
class ImagingExtractResult:
    """``persons`` and ``written`` are summed over the nodes (after each node's gate and the
    hub's; None when suppressed); ``nodes_holding`` hold an extract for their output checkers;
    ``nodes`` is each node's answer (``to_frame``, ``reasons_frame``)."""

    task_id: str
    complete: bool
    persons: int | None
    written: int | None
    nodes_holding: list[str]
    nodes: dict[str, dict[str, Any]]
    nodes_missing: dict[str, str]

    @classmethod
    def from_view(cls, view: TaskView) -> ImagingExtractResult:
        combined: dict[str, Any] = view.combined or {}
        reasons = why_not(view)
        missing = list(combined.get("nodes_missing", []))
        missing += [r.node for r in view.runs if r.node not in missing and not r.output]
        return cls(
            task_id=view.task_id,
            complete=view.state == "complete",
            persons=_value(combined.get("persons")),
            written=_value(combined.get("written")),
            nodes_holding=list(combined.get("nodes_holding", [])),
            nodes={r.node: dict(r.output) for r in view.runs if r.output},
            nodes_missing={n: reasons.get(n, "") for n in sorted(missing)},
        )

    def to_frame(self) -> Any:
        """One row per node that answered: persons, series, files considered and written,
        rejected and failed verification (totals of the figures released), and whether an
        extract is held there ("yes", "no"; None: not said)."""
        import pandas as pd

        rows = []
        for node, output in sorted(self.nodes.items()):
            figures = output.get("figures") or {}

            def total(name: str, figures: dict[str, Any] = figures) -> int | None:
                values = [c.get("value") for c in (figures.get(name) or {}).values()]
                return sum(v for v in values if v is not None) if figures else None

            rows.append(
                {
                    "node": node,
                    "persons": _value(output.get("persons")),
                    "series": _value(output.get("series")),
                    "files": _value(figures.get("files")),
                    "written": _value(figures.get("written")),
                    "rejected": total("rejected"),
                    "failed": total("failed_verification"),
                    "held": HELD.get(bool(output["held"]))
                    if output.get("held") is not None
                    else None,
                }
            )
        frame = pd.DataFrame(rows, columns=list(COLUMNS))
        return frame.astype({c: "Int64" for c in COLUMNS[1:-1]})

    def reasons_frame(self) -> Any:
        """Why files were not written, per node: ``node``, ``outcome`` (rejected, failed
        verification, unreadable), ``reason`` (the rejector's reason or the verifier's rule)
        and ``files`` (released rounded; None: suppressed)."""
        import pandas as pd

        rows = []
        for node, output in sorted(self.nodes.items()):
            figures = output.get("figures") or {}
            for name, outcome in REASONS.items():
                for reason, count in sorted((figures.get(name) or {}).items()):
                    rows.append(
                        {
                            "node": node,
                            "outcome": outcome,
                            "reason": reason,
                            "files": _value(count),
                        }
                    )
        frame = pd.DataFrame(rows, columns=["node", "outcome", "reason", "files"])
        return frame.astype({"files": "Int64"})

    def __str__(self) -> str:
        persons = "suppressed" if self.persons is None else f"{self.persons:,}"
        written = "suppressed" if self.written is None else f"{self.written:,}"
        lines = [
            f"Imaging extract: {persons} persons, {written} files written (summed over the "
            "nodes); the files stay at each node",
            "  held for the output checkers at: " + (", ".join(self.nodes_holding) or "no node"),
        ]
        for node, output in sorted(self.nodes.items()):
            figures = output.get("figures") or {}
            if not figures:
                lines.append(f"  {node}: nothing said (its persons are suppressed)")
                continue
            lines.append(
                f"  {node}: {value_text(output['persons'])} persons, "
                f"{value_text(output['series'])} series, {value_text(figures['files'])} files, "
                f"{value_text(figures['written'])} written"
            )
            for name, outcome in REASONS.items():
                for reason, count in sorted((figures.get(name) or {}).items()):
                    lines.append(f"    {outcome}: {reason}: {value_text(count)}")
        lines.extend(not_included(self.nodes_missing))
        return "\n".join(lines)
