"""Proportions are judged on the counts behind them and computed from released counts.

Every rule runs on the count table; the shares are then the released (suppressed, rounded)
counts divided by the sum of the released counts of the row, column or table. A suppressed
count gives a suppressed share, so no share carries more than the counts it came from.

| released counts | normalize="index" |
| --------------- | ----------------- |
| a: NA, 20, 30   | a: NA, 0.4, 0.6   |
"""

from __future__ import annotations

from typing import Literal

import pandas as pd

Normalize = Literal["all", "index", "columns"]


def shares(released: pd.DataFrame, normalize: Normalize) -> pd.DataFrame:
    """Shares of released counts along ``normalize``; NA stays NA; 0/0 is NA."""
    counts = released.astype("Float64")
    if normalize == "all":
        total = counts.sum().sum()
        return counts / total if total else counts * pd.NA
    if normalize == "index":
        return counts.div(counts.sum(axis=1, skipna=True).replace(0, pd.NA), axis=0)
    return counts.div(counts.sum(axis=0, skipna=True).replace(0, pd.NA), axis=1)
