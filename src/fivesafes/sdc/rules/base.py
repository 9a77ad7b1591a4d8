"""What a rule is: a named check of one cell that may ask for suppression or review.

A rule's reason text is built only from the rule's own parameters (the profile's numbers),
never from the cell's values, so reports and logs carry no patient-level data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Protocol

from fivesafes.sdc.cells import Cell, Kind
from fivesafes.sdc.profiles import Profile


class Outcome(StrEnum):
    """What a finding asks for: hide the cell (the output fails) or a human look."""

    SUPPRESS = "suppress"
    REVIEW = "review"


class Verdict(StrEnum):
    """An output's verdict: released, suppressed, or for a human output checker."""

    PASS = "pass"  # noqa: S105 - a verdict, not a password
    REVIEW = "review"
    FAIL = "fail"


@dataclass(frozen=True)
class Finding:
    """One rule's judgement of one cell."""

    rule: str
    outcome: Outcome
    reason: str


def verdict_of(findings: Iterable[Finding], errors: Iterable[str] = ()) -> Verdict:
    """``fail`` if any finding suppresses or a check raised; ``review`` if any finding asks
    for a human; otherwise ``pass``."""
    findings = tuple(findings)
    if tuple(errors) or any(f.outcome is Outcome.SUPPRESS for f in findings):
        return Verdict.FAIL
    if findings:
        return Verdict.REVIEW
    return Verdict.PASS


class CellRule(Protocol):
    """A check of one cell of a table of a given kind under a profile."""

    name: ClassVar[str]

    def check(self, cell: Cell, kind: Kind, aggfunc: str, profile: Profile) -> Finding | None:
        """A finding, or None when the cell is fine under this rule."""
        ...
