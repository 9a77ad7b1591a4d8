"""A node's table as the table checker released it (``fivesafes.sdc.Checker``), and its cells on
the full grid every node sends: what crosstabs, histograms, a summary's bins and a
characterisation's bands share at the node."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from pyroaring import BitMap

from fivesafes.protocol.models import CrosstabCell, ReleasedCount
from fivesafes.sdc.gate import release_count
from fivesafes.sdc.output import Output
from fivesafes.sdc.profiles import Profile

ALL = "all"
Grid = tuple[tuple[str, ...], tuple[str, ...]]
ABSENT = "no persons with this combination were released by this node"


@dataclass(frozen=True)
class NodeTable:
    persons: BitMap  # everyone counted in the table
    output: Output  # the checker's verdict, reasons and released table (observed cells)
    # a magnitude table: contributors per observed cell (released rounded with its statistic)
    contributors: pd.Series | None = None


def released_cells(
    table: NodeTable, rows_and_columns: Grid, profile: Profile | None = None
) -> list[CrosstabCell]:
    """Every cell of the full grid: the released count (and, in a magnitude table, the
    statistic with its contributors rounded to ``profile``'s base), or a suppression marker."""
    released = table.output.table
    reasons = table.output.reasons
    rows, columns = rows_and_columns
    cells = []
    for row in rows:
        for column in columns:
            present = row in released.index and column in released.columns
            value: Any = released.loc[row, column] if present else None
            if value is None or bool(pd.isna(value)):
                why = str(reasons.loc[row, column]) if present else ABSENT
                count = ReleasedCount(value=None, suppressed=True, rule=why or "suppressed")
                cells.append(CrosstabCell(row=row, column=column, count=count))
            elif table.contributors is None:
                count = ReleasedCount(value=int(value), suppressed=False, rule="rounded")
                cells.append(CrosstabCell(row=row, column=column, count=count))
            else:
                assert profile is not None, "a magnitude table rounds its counts by a profile"
                count = release_count(int(table.contributors.loc[(row, column)]), profile)
                magnitude = float(value) if not count.suppressed else None
                cells.append(CrosstabCell(row=row, column=column, count=count, value=magnitude))
    return cells
