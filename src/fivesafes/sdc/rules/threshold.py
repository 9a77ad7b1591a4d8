"""Minimum threshold, counted in distinct persons, never in rows.

| cell                                   | threshold 10 | finding            |
| -------------------------------------- | ------------ | ------------------ |
| 12 records of 1 person                 |              | suppress           |
| 10 records of 10 persons               |              | —                  |
| mean of 9 non-missing contributors     |              | suppress           |
| empty cell (no records)                |              | — (see zeros rule) |

For counts the unit is the distinct person (``person=``); for a statistic of a values column it
is the distinct person with a non-missing value (a contributor).
"""

from __future__ import annotations

from typing import ClassVar

from fivesafes.sdc.cells import Cell, Kind
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Finding, Outcome


class ThresholdRule:
    """Suppress a non-empty cell with fewer than ``threshold`` persons (or contributors)."""

    name: ClassVar[str] = "threshold"

    def check(self, cell: Cell, kind: Kind, aggfunc: str, profile: Profile) -> Finding | None:
        if cell.records == 0 or cell.units >= profile.threshold:
            return None
        unit = "distinct persons" if kind == "count" else "non-missing contributors"
        return Finding(self.name, Outcome.SUPPRESS, f"fewer than {profile.threshold} {unit}")
