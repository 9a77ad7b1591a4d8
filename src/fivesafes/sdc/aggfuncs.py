"""The forms ``aggfunc=`` takes, and one table of several statistics (``aggfunc=[...]``).

As in ACRO (``str | list[str]``) and pandas, ``aggfunc`` is one name or a list of names:

| `aggfunc`          | table                                                           |
| ------------------ | --------------------------------------------------------------- |
| `"mean"`           | one statistic per cell                                          |
| `["mean", "sum"]`  | a column level per statistic, on top (`mean`, `sum`), as pandas |
| a function, a dict | refused (`TableSpecError`): its disclosure risk cannot be judged |

Each statistic's part is built and judged on its own, cell by cell under that statistic's
rules (threshold, dominance for `sum` and `mean`, `min-max` for `min` and `max`, …), with its
own secondary suppression; the parts are then put side by side. A finding names its cell with
the statistic first in the column label (`[R/G, sum]`, or `[2010, sum, G]` with columns).
Fail closed: if any part raised, the whole table is withheld (every value NA).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fivesafes.sdc.output import CellFinding, Output
from fivesafes.sdc.tables import TableSpecError

Aggfunc = str | Sequence[str]


def aggfunc_names(aggfunc: Aggfunc | None) -> tuple[str, ...] | None:
    """The names of a list of statistics, or None for a single name (or none at all).

    Raises TableSpecError for anything else: a function, a dict, an empty list, a repeated
    name or a list holding something other than names."""
    if aggfunc is None or isinstance(aggfunc, str):
        return None
    if callable(aggfunc) or isinstance(aggfunc, dict) or not isinstance(aggfunc, Sequence):
        raise TableSpecError(
            "aggfunc must be a name ('mean', 'sum', …) or a list of names; functions and "
            "dicts are refused, as the checker cannot judge what they compute"
        )
    names = tuple(aggfunc)
    if not names:
        raise TableSpecError("aggfunc= is an empty list")
    if not all(isinstance(name, str) for name in names):
        raise TableSpecError("a list of aggfunc must hold names only ('mean', 'sum', …)")
    if len(set(names)) != len(names):
        raise TableSpecError("a list of aggfunc must not repeat a name")
    return names


def combine(
    kind: str, parts: Sequence[tuple[str, Output]], values: str | None, has_columns: bool
) -> Output:
    """One output of the parts (statistic name, its judged output), side by side."""
    first = parts[0][1]
    names = [name for name, _ in parts]
    statistic = f"{', '.join(names)} of {values}" if values else "records"
    errors = tuple(f"{name}: {error}" for name, part in parts for error in part.errors)
    findings = tuple(
        CellFinding(f.row, (name, *f.column) if has_columns else f.column, f.finding)
        for name, part in parts
        for f in part.findings
    )
    table = _side_by_side([part.table for _, part in parts], names, has_columns)
    reasons = _side_by_side([part.reasons for _, part in parts], names, has_columns)
    if errors:
        withheld = np.full(table.shape, pd.NA, dtype=object)
        table = pd.DataFrame(withheld, index=table.index, columns=table.columns)
        errored = np.full(table.shape, "check-error", dtype=object)
        reasons = pd.DataFrame(errored, index=table.index, columns=table.columns)
    return Output(
        kind,
        statistic,
        first.profile,
        first.counting_unit,
        table,
        reasons,
        findings,
        errors,
        rounding_base=max(part.rounding_base for _, part in parts),
    )


def _side_by_side(frames: list[pd.DataFrame], names: list[str], has_columns: bool) -> pd.DataFrame:
    """Without columns each part's one column is already named after its statistic; with
    columns the statistic becomes the top column level (pandas' layout)."""
    present = [(name, frame) for name, frame in zip(names, frames, strict=True) if frame.size]
    if not present:
        return pd.DataFrame()
    if not has_columns:  # keep the single tables' object labels (concat would infer str)
        joined = pd.concat([frame for _, frame in present], axis=1)
        name = present[0][1].columns.name
        joined.columns = pd.Index(list(joined.columns), name=name, dtype=object)
        return joined
    return pd.concat([frame for _, frame in present], axis=1, keys=[name for name, _ in present])
