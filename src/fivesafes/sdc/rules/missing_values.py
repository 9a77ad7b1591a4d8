"""Missing values in a magnitude cell, when the profile asks (ACRO's ``check_missing_values``).

| check_missing_values | cell has missing values | finding |
| -------------------- | ----------------------- | ------- |
| True                 | yes                     | review  |
| False                | yes                     | —       |
"""

from __future__ import annotations

from typing import ClassVar

from fivesafes.sdc.cells import Cell, Kind
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Finding, Outcome


class MissingValuesRule:
    """Flag for review a cell computed over missing values when the profile checks them."""

    name: ClassVar[str] = "missing-values"

    def check(self, cell: Cell, kind: Kind, aggfunc: str, profile: Profile) -> Finding | None:
        if not profile.check_missing_values or cell.missing == 0:
            return None
        return Finding(self.name, Outcome.REVIEW, "the cell is computed over missing values")
