"""What the checker returns: a verdict, the releasable table, and reasons per cell.

| verdict  | when                                                                  |
| -------- | --------------------------------------------------------------------- |
| `fail`   | any cell must be suppressed, a check raised, or the statistic is refused |
| `review` | nothing suppressed, but a human must look (negative or missing values) |
| `pass`   | nothing suppressed and nothing to look at; `.table` may be released   |

`.table` always holds only what may leave (NA for a suppressed cell, rounded counts, margins
from released cells). `.reasons` has the same shape, each cell's rule codes joined by "; ".
Neither the report nor the reasons ever carry a suppressed cell's true value.

`.disposition()` says what the checker did to the table and what is left for a human, so a
``fail`` whose flagged cells are all suppressed does not read like one with nothing to release:

| disposition  | verdict        | what it means                                                |
| ------------ | -------------- | ------------------------------------------------------------ |
| `release`    | pass           | nothing flagged; `.table` (rounded) may be released          |
| `suppressed` | fail           | flagged cells are suppressed in `.table`; nothing else flagged |
| `review`     | review or fail | released cells a human must look at (after any suppression)  |
| `withheld`   | fail           | a check raised, or every cell is suppressed: nothing to release |
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Finding, Outcome, Verdict, verdict_of


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
    rounding_base: int = 1  # counts in ``table`` are rounded to this base (1: none rounded)
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

    def disposition(self) -> Disposition:
        """What was done to the table (suppressed, rounded) and what is left for a human."""
        hidden = {(f.row, f.column) for f in self.findings if f.finding.outcome is Outcome.SUPPRESS}
        suppressed: dict[str, set[Any]] = {}
        review: dict[str, set[Any]] = {}
        for f in self.findings:
            where = (f.row, f.column)
            if f.finding.outcome is Outcome.SUPPRESS:
                suppressed.setdefault(f.finding.rule, set()).add(where)
            elif where not in hidden:  # a suppressed cell leaves nothing to review
                review.setdefault(f.finding.rule, set()).add(where)
        return Disposition(
            cells=int(self.reasons.size),
            suppressed_cells=len(hidden),
            suppressed={rule: len(cells) for rule, cells in suppressed.items()},
            review_cells=len(set().union(*review.values())),
            review={rule: len(cells) for rule, cells in review.items()},
            rounding_base=self.rounding_base,
            errors=self.errors,
        )


@dataclass(frozen=True)
class Disposition:
    """What the checker did to one output and what remains; counts of cells, never values."""

    cells: int  # judged cells (margins not counted)
    suppressed_cells: int
    suppressed: dict[str, int]  # rule → cells it suppressed (a cell may count under several)
    review_cells: int  # released cells a human must look at
    review: dict[str, int]  # rule → such cells
    rounding_base: int  # counts rounded to this base (1: none)
    errors: tuple[str, ...]

    @property
    def state(self) -> Literal["release", "suppressed", "review", "withheld"]:
        if self.errors or (self.suppressed_cells and self.suppressed_cells >= self.cells):
            return "withheld"
        if self.review_cells:
            return "review"
        return "suppressed" if self.suppressed_cells else "release"

    def done(self) -> str:
        """One line: what the checker did to the table."""
        if self.errors:
            return "nothing released: " + "; ".join(self.errors)
        steps = []
        if self.suppressed_cells:
            rules = ", ".join(f"{rule} {n}" for rule, n in self.suppressed.items())
            share = (
                f"all {self.cells}"
                if self.suppressed_cells >= self.cells
                else f"{self.suppressed_cells} of {self.cells}"
            )
            steps.append(f"suppressed {share} {_cells(self.cells)} ({rules})")
        if self.rounding_base > 1:
            steps.append(f"rounded counts to base {self.rounding_base}")
        return "; ".join(steps) if steps else "nothing suppressed or rounded"

    def remains(self) -> str:
        """One line: what is left unsafe or undecided, if anything."""
        if self.state == "withheld":
            return "nothing may be released from this table"
        if self.state == "review":
            rules = ", ".join(f"{rule} {n}" for rule, n in self.review.items())
            return (
                f"{self.review_cells} released {_cells(self.review_cells)} "
                f"for an output checker to review ({rules})"
            )
        if self.state == "suppressed":
            return (
                "no flagged cell is released: the table as shown, with its cells suppressed, "
                "is for an output checker to approve"
            )
        return "nothing flagged: the table may be released as shown"

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "done": self.done(),
            "remains": self.remains(),
            "cells": self.cells,
            "suppressed_cells": self.suppressed_cells,
            "suppressed": dict(self.suppressed),
            "review_cells": self.review_cells,
            "review": dict(self.review),
            "rounding_base": self.rounding_base,
        }


def _cells(n: int) -> str:
    return "cell" if n == 1 else "cells"
