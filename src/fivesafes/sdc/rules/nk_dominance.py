"""NK dominance for magnitude tables: the top n contributors must not make up too much of a cell.

The share is (sum of the ``nk_n`` largest contributions) / (cell total), compared with
``nk_k`` by the profile's ``nk_comparison``: ``>`` (fivesafes' default: a share above k fails)
or ``>=`` (ACRO 1.x's own operator, used by the ``acro`` profile: a share of exactly k fails).

| per-person contributions | n=2, k=0.90                 | `>`      | `>=`     |
| ------------------------ | --------------------------- | -------- | -------- |
| 50, 45, 1, 1, …(10 in all, total 104) | 95/104 = 0.913 | suppress | suppress |
| 45, 45, 10               | 90/100 = 0.90, exactly k    | —        | suppress |
| 10 x 10                  | 20/100 = 0.20               | —        | —        |
| all zero                 | total 0: no share to judge  | —        | —        |

Contributions are each person's values summed within the cell. Cells with negative values are
left to the negative-values rule (shares of a signed total mean nothing).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import numpy.typing as npt

from fivesafes.sdc.cells import Cell, Kind
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Finding, Outcome


def dominated(
    contributions: npt.ArrayLike, n: int, k: float, comparison: Literal[">", ">="] = ">"
) -> bool:
    """True when the ``n`` largest contributions' share of their (positive) total is above
    ``k`` (``comparison`` ">"), or at least ``k`` (">="). The share is computed as a ratio and
    then compared, as ACRO does, so a share of exactly k is judged the same way as there."""
    values = np.asarray(contributions, dtype=float)
    total = float(values.sum())
    if total <= 0:
        return False
    share = float(np.sort(values)[::-1][:n].sum()) / total
    return share >= k if comparison == ">=" else share > k


class NKRule:
    """Suppress a magnitude cell dominated by its top ``nk_n`` contributors."""

    name: ClassVar[str] = "nk-dominance"

    def check(self, cell: Cell, kind: Kind, aggfunc: str, profile: Profile) -> Finding | None:
        if kind != "magnitude" or profile.nk_k is None or cell.contributors == 0:
            return None
        if cell.contributions.size and float(cell.contributions.min()) < 0:
            return None
        if dominated(cell.contributions, profile.nk_n, profile.nk_k, profile.nk_comparison):
            verb = "make up at least" if profile.nk_comparison == ">=" else "exceed"
            return Finding(
                self.name,
                Outcome.SUPPRESS,
                f"top {profile.nk_n} contributors {verb} {profile.nk_k:.0%} of the cell total",
            )
        return None
