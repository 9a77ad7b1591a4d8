"""Mode: the most frequent value is released only when enough persons hold it.

A mode is some person's exact value, so it is judged like a count of the persons who hold it:
fewer than ``threshold`` distinct persons (records without ``person=``) with the modal value
and the cell is suppressed. The mode is taken over the cell's records, as pandas does; of
several equally frequent values the smallest is the mode (ACRO 1.0.2 picks one at random).

| values in the cell (threshold 10)        | modal value held by | finding  |
| ---------------------------------------- | ------------------- | -------- |
| 12 persons with 3, 8 with 5              | 12 persons          | —        |
| 20 persons, all values different         | 1 person            | suppress |
| 1 person with 15 records of 7, 9 others  | 1 person            | suppress |
"""

from __future__ import annotations

from typing import ClassVar

from fivesafes.sdc.cells import Cell, Kind
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Finding, Outcome


class ModeRule:
    """Suppress a mode held by fewer than ``threshold`` persons."""

    name: ClassVar[str] = "mode"

    def check(self, cell: Cell, kind: Kind, aggfunc: str, profile: Profile) -> Finding | None:
        if kind != "mode" or cell.contributors == 0 or cell.holders >= profile.threshold:
            return None
        return Finding(
            self.name,
            Outcome.SUPPRESS,
            f"the modal value is held by fewer than {profile.threshold} persons",
        )
