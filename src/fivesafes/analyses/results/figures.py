"""Figures as a person reads them in a result's printed table, rounded to what they support.

Only the text a result prints (its ``__str__``) rounds. What machines read keeps every digit:
the result's fields and ``to_frame()``, ``--json``, and the CSV of the task's page
(``results.download``, which holds the page's own cells, ``results.page.number``).

| figure                                     | printed                               | e.g.     |
| ------------------------------------------ | ------------------------------------- | -------- |
| estimate, standard error, ratio, bound, sd | 3 significant figures; whole from 100 | 0.0523   |
| an estimate under 0.0001 (not zero)        | 3 significant figures, scientific     | 1.23e-05 |
| test statistic (z)                         | 2 decimals                            | -1.96    |
| p-value                                    | 3 decimals; under 0.001 "<0.001"      | 0.032    |
| correlation                                | 3 decimals                            | 0.412    |
| none, or not a finite number               | "—"                                   |          |
"""

from __future__ import annotations

import math

NONE = "—"


def _absent(value: float | None) -> bool:
    return value is None or not math.isfinite(value)


def estimate(value: float | None) -> str:
    """An estimate to 3 significant figures (whole from 100 up; scientific below 0.0001)."""
    if value is None or _absent(value):
        return NONE
    if abs(value) >= 99.95:
        return f"{value:.0f}"
    if value != 0 and abs(value) < 1e-4:
        return f"{value:.2e}"
    rounded = float(f"{value:.3g}")
    if rounded == 0:
        return "0"
    decimals = max(0, 2 - math.floor(math.log10(abs(rounded))))
    return f"{rounded:.{decimals}f}"


def statistic(value: float | None) -> str:
    """A test statistic (z) to 2 decimals."""
    return NONE if value is None or _absent(value) else f"{value:.2f}"


def p_value(value: float | None) -> str:
    """A p-value to 3 decimals, or "<0.001"."""
    if value is None or _absent(value):
        return NONE
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def correlation(value: float | None) -> str:
    """A correlation coefficient to 3 decimals."""
    return NONE if value is None or _absent(value) else f"{value:.3f}"
