"""What is released: suppressed cells as NA, counts rounded to the profile's base, margins as
sums of released cells (NA when every cell of the line is suppressed).

| true count | opensafely (≤ 7 redacted, base 5) | default (threshold 10, base 10) |
| ---------- | --------------------------------- | ------------------------------- |
| 7          | NA                                | NA                              |
| 8          | 10                                | NA                              |
| 12         | 10                                | 10                              |
| 13         | 15                                | 10                              |
| 15         | 15                                | 20 (ties half-up)               |

Magnitude statistics are released as computed (no rounding). A margin is the sum of the
released cells of its line — never of the true values — so it reveals nothing they do not.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from fivesafes.sdc.cells import Kind
from fivesafes.sdc.counts import round_half_up
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.tables import ALL_LABEL


def released_values(
    statistics: npt.NDArray[np.float64],
    suppressed: npt.NDArray[np.bool_],
    kind: Kind,
    profile: Profile,
) -> pd.DataFrame:
    """A rows x columns frame (no labels yet) of what may leave: NA where suppressed."""
    out: list[list[object]] = []
    for stats_row, hidden_row in zip(statistics, suppressed, strict=True):
        row: list[object] = []
        for value, hidden in zip(stats_row, hidden_row, strict=True):
            if hidden or np.isnan(value):
                row.append(pd.NA)
            elif kind == "count":
                row.append(round_half_up(int(value), profile.rounding_base))
            else:
                row.append(float(value))
        out.append(row)
    return pd.DataFrame(out, dtype="Int64" if kind == "count" else "Float64")


def _total_label(index: pd.Index) -> object:
    if isinstance(index, pd.MultiIndex):
        return (ALL_LABEL,) + ("",) * (index.nlevels - 1)
    return ALL_LABEL


def with_margins(released: pd.DataFrame) -> pd.DataFrame:
    """Add an ``All`` column and row, each the sum of the released cells of its line."""
    out = released.copy()
    out[_total_label(out.columns)] = released.sum(axis=1, skipna=True, min_count=1).to_numpy()
    totals = out.sum(axis=0, skipna=True, min_count=1)
    out.loc[_total_label(out.index), :] = totals.to_numpy()
    return out.astype(released.dtypes.iloc[0])
