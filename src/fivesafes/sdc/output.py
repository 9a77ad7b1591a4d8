"""What the checker returns: a verdict, the releasable table, and reasons per cell.

| verdict  | when                                                                  |
| -------- | --------------------------------------------------------------------- |
| `fail`   | any cell must be suppressed, a check raised, or the statistic is refused |
| `review` | nothing suppressed, but a human must look (negative or missing values) |
| `pass`   | nothing suppressed and nothing to look at; `.table` may be released   |

`.table` always holds only what may leave (NA for a suppressed cell, rounded counts, margins
from released cells). `.reasons` has the same shape, each cell's rule codes joined by "; ".
Neither the report nor the reasons ever carry a suppressed cell's true value.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Finding, Verdict, verdict_of


@dataclass(frozen=True)
class CellFinding:
    """A finding placed on a cell of the table."""

    row: tuple[Hashable, ...]
    column: tuple[Hashable, ...]
    finding: Finding

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": [str(v) for v in self.row],
            "column": [str(v) for v in self.column],
            "rule": self.finding.rule,
            "outcome": self.finding.outcome.value,
            "reason": self.finding.reason,
        }


@dataclass(frozen=True)
class Output:
    """One checked output: verdict, releasable ``table``, per-cell ``reasons`` and findings."""

    kind: str
    statistic: str
    profile: Profile
    counting_unit: str
    table: pd.DataFrame
    reasons: pd.DataFrame
    findings: tuple[CellFinding, ...] = ()
    errors: tuple[str, ...] = ()
    verdict: Verdict = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "verdict", verdict_of((f.finding for f in self.findings), self.errors)
        )

    def report_dict(self) -> dict[str, Any]:
        """The report as plain data (JSON-ready)."""
        return {
            "kind": self.kind,
            "statistic": self.statistic,
            "verdict": self.verdict.value,
            "profile": self.profile.name,
            "counting_unit": self.counting_unit,
            "errors": list(self.errors),
            "cells": [f.as_dict() for f in self.findings],
        }

    def report(self) -> str:
        """Readable text naming each flagged cell, its rule and reason; never a true value."""
        lines = [
            f"{self.kind} of {self.statistic}: {self.verdict.value.upper()}",
            f"profile: {self.profile.name}; counting unit: {self.counting_unit}",
        ]
        lines += [f"error: {e}" for e in self.errors]
        for f in self.findings:
            where = ", ".join(str(v) for v in (*f.row, *f.column))
            lines.append(
                f"[{where}] {f.finding.rule} → {f.finding.outcome.value}: {f.finding.reason}"
            )
        if not self.findings and not self.errors:
            lines.append("no cell flagged")
        return "\n".join(lines)
