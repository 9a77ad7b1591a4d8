"""The p% rule for magnitude tables: the second-largest contributor must not be able to
estimate the largest to within p%.

| per-person contributions | p=10%                               | finding  |
| ------------------------ | ----------------------------------- | -------- |
| 100, 50, 5               | 155 - 100 - 50 = 5 < 10% of 100     | suppress |
| 100, 50, 10              | 10 < 10 is false                    | —        |
| 100 (one contributor)    | 0 < 10                              | suppress |
| all zero                 | nothing to estimate                 | —        |

Cells with negative values are left to the negative-values rule.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt

from fivesafes.sdc.cells import Cell, Kind
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Finding, Outcome


def breaches_p_percent(contributions: npt.ArrayLike, p: float) -> bool:
    """True when (total - largest - second largest) / largest < ``p``, computed as ACRO's
    ``check_ppercent_dominance`` does (the ratio, then the comparison)."""
    ordered = np.sort(np.asarray(contributions, dtype=float))[::-1]
    if ordered.size == 0 or ordered[0] <= 0:
        return False
    largest = float(ordered[0])
    second = float(ordered[1]) if ordered.size > 1 else 0.0
    return (float(ordered.sum()) - (largest + second)) / largest < p


class PPercentRule:
    """Suppress a magnitude cell whose largest contributor could be estimated too closely."""

    name: ClassVar[str] = "p-percent"

    def check(self, cell: Cell, kind: Kind, aggfunc: str, profile: Profile) -> Finding | None:
        if kind != "magnitude" or profile.p_ratio is None or cell.contributors == 0:
            return None
        if cell.contributions.size and float(cell.contributions.min()) < 0:
            return None
        if breaches_p_percent(cell.contributions, profile.p_ratio):
            return Finding(
                self.name,
                Outcome.SUPPRESS,
                f"the rest of the cell is less than {profile.p_ratio:.0%} of its largest "
                "contributor",
            )
        return None
