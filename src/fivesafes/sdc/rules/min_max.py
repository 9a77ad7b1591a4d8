"""Minimum and maximum: each is one person's value, released only if the profile allows.

| aggfunc  | allow_min_max | finding (every cell)          |
| -------- | ------------- | ----------------------------- |
| min, max | False         | suppress: the output fails    |
| min, max | True          | — (threshold still applies)   |
"""

from __future__ import annotations

from typing import ClassVar

from fivesafes.sdc.cells import Cell, Kind
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Finding, Outcome


class MinMaxRule:
    """Refuse minima and maxima unless the profile allows them."""

    name: ClassVar[str] = "min-max"

    def check(self, cell: Cell, kind: Kind, aggfunc: str, profile: Profile) -> Finding | None:
        if kind != "extreme" or profile.allow_min_max:
            return None
        return Finding(
            self.name, Outcome.SUPPRESS, f"{aggfunc} is one person's value; the profile refuses it"
        )
