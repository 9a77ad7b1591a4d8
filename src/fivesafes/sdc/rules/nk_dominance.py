"""NK dominance for magnitude tables: the top n contributors must not make up > k of a cell.

| per-person contributions | n=2, k=0.90                 | finding  |
| ------------------------ | --------------------------- | -------- |
| 50, 45, 1, 1, …(10 in all, total 104) | 95/104 = 0.913 > 0.90 | suppress |
| 10 x 10                  | 20/100 = 0.20               | —        |
| all zero                 | total 0: no share to judge  | —        |

Contributions are each person's values summed within the cell. Cells with negative values are
left to the negative-values rule (shares of a signed total mean nothing).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt

from fivesafes.sdc.cells import Cell, Kind
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Finding, Outcome


def dominated(contributions: npt.ArrayLike, n: int, k: float) -> bool:
    """True when the ``n`` largest contributions exceed share ``k`` of their (positive) total."""
    values = np.asarray(contributions, dtype=float)
    total = float(values.sum())
    if total <= 0:
        return False
    return float(np.sort(values)[::-1][:n].sum()) > k * total


class NKRule:
    """Suppress a magnitude cell dominated by its top ``nk_n`` contributors."""

    name: ClassVar[str] = "nk-dominance"

    def check(self, cell: Cell, kind: Kind, aggfunc: str, profile: Profile) -> Finding | None:
        if kind != "magnitude" or profile.nk_k is None or cell.contributors == 0:
            return None
        if cell.contributions.size and float(cell.contributions.min()) < 0:
            return None
        if dominated(cell.contributions, profile.nk_n, profile.nk_k):
            return Finding(
                self.name,
                Outcome.SUPPRESS,
                f"top {profile.nk_n} contributors exceed {profile.nk_k:.0%} of the cell total",
            )
        return None
