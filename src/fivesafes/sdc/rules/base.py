"""What a rule is: a named check of one cell that may ask for suppression or review.

A rule's reason text is built only from the rule's own parameters (the profile's numbers),
never from the cell's values, so reports and logs carry no patient-level data.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Protocol

from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.tables import Cell, Kind


class Outcome(StrEnum):
    """What a finding asks for: hide the cell (the output fails) or a human look."""

    SUPPRESS = "suppress"
    REVIEW = "review"


@dataclass(frozen=True)
class Finding:
    """One rule's judgement of one cell."""

    rule: str
    outcome: Outcome
    reason: str


class CellRule(Protocol):
    """A check of one cell of a table of a given kind under a profile."""

    name: ClassVar[str]

    def check(self, cell: Cell, kind: Kind, aggfunc: str, profile: Profile) -> Finding | None:
        """A finding, or None when the cell is fine under this rule."""
        ...
