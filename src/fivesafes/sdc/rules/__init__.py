"""The named checks of the table checker, one module each, run in this order on every cell.

A new kind of output (histogram, survival table) adds its rules here or its own tuple; the
checker runs whatever tuple it is given and treats any exception as a failed output.
"""

from __future__ import annotations

from fivesafes.sdc.rules.base import CellRule, Finding, Outcome
from fivesafes.sdc.rules.min_max import MinMaxRule
from fivesafes.sdc.rules.missing_values import MissingValuesRule
from fivesafes.sdc.rules.mode import ModeRule
from fivesafes.sdc.rules.negative import NegativeValuesRule
from fivesafes.sdc.rules.nk_dominance import NKRule
from fivesafes.sdc.rules.p_percent import PPercentRule
from fivesafes.sdc.rules.threshold import ThresholdRule
from fivesafes.sdc.rules.zeros import ZerosRule

TABLE_RULES: tuple[CellRule, ...] = (
    MinMaxRule(),
    ThresholdRule(),
    ZerosRule(),
    NKRule(),
    PPercentRule(),
    ModeRule(),
    NegativeValuesRule(),
    MissingValuesRule(),
)

__all__ = ["TABLE_RULES", "CellRule", "Finding", "Outcome"]
