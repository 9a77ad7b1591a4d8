"""An imaging summary as the researcher reads it: per node and pooled, series, studies and
distinct persons by modality, body part and contrast and by year."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fivesafes.analyses.results.common import not_included, partial_text, value_text, why_not
from fivesafes.protocol.models import TaskView

LABELS = {"kind": ("modality", "body_part", "contrast"), "year": ("year",)}
FIGURES = ("persons", "series", "studies")
NOT_FROM = "not from"


@dataclass(frozen=True)
class ImagingSummaryResult:
    """What imaging a cohort's persons have: every series of theirs (``scope``), not only
    those matching the cohort's imaging criteria. ``persons`` is how many have any series
    (summed over the nodes); ``kinds`` and ``years`` the pooled groups, each with its distinct
    persons, series and studies; ``nodes`` each node's released groups. A group lists only
    nodes where it held at least their threshold of persons: a pooled group naming others
    (``nodes_not_listing``) counts only the nodes that listed it, a lower bound."""

    task_id: str
    complete: bool
    scope: str
    persons: int | None
    kinds: list[dict[str, Any]]
    years: list[dict[str, Any]]
    nodes: dict[str, dict[str, Any]]
    nodes_missing: dict[str, str]

    @classmethod
    def from_view(cls, view: TaskView) -> ImagingSummaryResult:
        combined: dict[str, Any] = view.combined or {}
        reasons = why_not(view)
        missing = combined.get("nodes_missing", [])
        return cls(
            task_id=view.task_id,
            complete=view.state == "complete",
            scope=str(combined.get("scope", "")),
            persons=(combined.get("persons") or {}).get("value"),
            kinds=list(combined.get("kinds", [])),
            years=list(combined.get("years", [])),
            nodes={r.node: dict(r.output) for r in view.runs if r.output},
            nodes_missing={n: reasons.get(n, "") for n in missing},
        )

    def to_frame(self, by: str = "kind", node: str | None = None) -> Any:
        """The pooled groups (or one node's) as a DataFrame: ``by="kind"`` (modality, body
        part, contrast) or ``"year"``, then persons, series and studies; pooled groups also
        name the nodes that did not list them (``not from``: the figures are then at least)."""
        import pandas as pd

        if by not in LABELS:
            raise ValueError('by is "kind" (modality, body part, contrast) or "year"')
        field = "kinds" if by == "kind" else "years"
        groups = getattr(self, field) if node is None else self.nodes[node].get(field, [])
        columns = [*LABELS[by], *FIGURES] + ([NOT_FROM] if node is None else [])
        rows = []
        for group in groups:
            row = {label: group[label] for label in LABELS[by]}
            row |= {"persons": group["persons"]["value"]}
            row |= {"series": group["series"], "studies": group["studies"]}
            if node is None:
                row[NOT_FROM] = ", ".join(group["nodes_not_listing"])
            rows.append(row)
        frame = pd.DataFrame(rows, columns=columns)
        return frame.astype({name: "Int64" for name in FIGURES})

    def __str__(self) -> str:
        shown = "suppressed" if self.persons is None else f"{self.persons:,}"
        lines = [
            f"Imaging summary of {self.scope or 'the cohort'}: "
            f"{shown} persons with any series (summed over the nodes)"
        ]
        for title, by, groups in (
            ("by modality, body part and contrast", "kind", self.kinds),
            ("by year of the series (else the study)", "year", self.years),
        ):
            lines.append(f"  {title}: persons, series, studies")
            for g in groups:
                label = " ".join(f"{g[name]:<14}" for name in LABELS[by])
                figures = f"{value_text(g['persons']):>8} {g['series']:>8,} {g['studies']:>8,}"
                lines.append(f"    {label} {figures}{partial_text(g['nodes_not_listing'])}")
            if not groups:
                lines.append("    (no group of at least the threshold of persons)")
        lines.extend(not_included(self.nodes_missing))
        return "\n".join(lines)
