"""Negative values in a magnitude cell: dominance cannot be judged, so a human must look.

| values in the cell | finding |
| ------------------ | ------- |
| 5, 7, -2, …        | review  |
| all ≥ 0            | —       |
"""

from __future__ import annotations

from typing import ClassVar

from fivesafes.sdc.cells import Cell, Kind
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Finding, Outcome


class NegativeValuesRule:
    """Flag for review a magnitude cell where any person's contribution is negative."""

    name: ClassVar[str] = "negative"

    def check(self, cell: Cell, kind: Kind, aggfunc: str, profile: Profile) -> Finding | None:
        values = cell.contributions
        if kind in ("count", "mode") or values.size == 0 or float(values.min()) >= 0:
            return None
        return Finding(
            self.name, Outcome.REVIEW, "negative values: dominance rules cannot be applied"
        )
