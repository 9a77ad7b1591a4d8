"""Zeros: an empty cell is disclosive or not according to the profile.

| cell                | zeros_are_disclosive | finding  |
| ------------------- | -------------------- | -------- |
| no records          | True                 | suppress |
| no records          | False                | —        |
| one or more records | either               | — (threshold rule decides) |

A zero can tell that nobody in a row has an attribute (group disclosure); profiles that follow
ACRO and OpenSAFELY suppress it, DataSHIELD and the fivesafes default release it.
"""

from __future__ import annotations

from typing import ClassVar

from fivesafes.sdc.cells import Cell, Kind
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Finding, Outcome


class ZerosRule:
    """Suppress empty cells when the profile says zeros are disclosive."""

    name: ClassVar[str] = "zeros"

    def check(self, cell: Cell, kind: Kind, aggfunc: str, profile: Profile) -> Finding | None:
        if cell.records == 0 and profile.zeros_are_disclosive:
            return Finding(
                self.name, Outcome.SUPPRESS, "zero cell; the profile treats zeros as disclosive"
            )
        return None
