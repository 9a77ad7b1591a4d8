"""The node part of the crosstab: persons of a cohort by the levels of one or two named
categorical or binary variables, checked by the table checker (``fivesafes.sdc.Checker``)
under the node's profile, on the catalogue's full grid of levels so every node's table has the
same cells.

A cell the node's data do not have is sent suppressed, like a small one: its absence is not
announced. Binary variables have the levels ``no`` and ``yes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pyroaring import BitMap

from fivesafes.analyses.catalogue import VARIABLES
from fivesafes.analyses.variables import analysis_frame
from fivesafes.data.source import OmopDatabase
from fivesafes.protocol.models import CrosstabCell, CrosstabParameters, ReleasedCount
from fivesafes.sdc.checker import Checker
from fivesafes.sdc.differencing import person_set
from fivesafes.sdc.output import Output
from fivesafes.sdc.profiles import Profile

ALL = "all"
ABSENT = "no persons with this combination were released by this node"


def levels(name: str | None) -> tuple[str, ...]:
    if name is None:
        return (ALL,)
    variable = VARIABLES[name]
    return variable.levels if variable.kind == "categorical" else ("no", "yes")


@dataclass(frozen=True)
class NodeTable:
    persons: BitMap  # everyone counted in the table
    output: Output  # the checker's verdict, reasons and released table (observed cells)


def node_table(db: OmopDatabase, parameters: CrosstabParameters, profile: Profile) -> NodeTable:
    names: list[str] = [n for n in (parameters.rows, parameters.columns) if n is not None]
    frame = analysis_frame(db, parameters.cohort, names)
    keep = np.ones(len(frame), dtype=bool)
    for name in names:
        keep &= (
            frame.columns[name] >= 0
            if VARIABLES[name].kind == "categorical"
            else ~np.isnan(frame.columns[name])
        )
    data = pd.DataFrame({"person_id": frame.person_ids[keep]})
    for name in names:
        codes = frame.columns[name][keep].astype(int)
        data[name] = np.asarray(levels(name), dtype=object)[codes]
    columns = parameters.columns or ALL
    if parameters.columns is None:
        data[ALL] = ALL
    output = Checker(profile).crosstab(
        data, index=parameters.rows, columns=columns, person="person_id"
    )
    return NodeTable(person_set(data["person_id"].to_numpy()), output)


def released_cells(table: NodeTable, parameters: CrosstabParameters) -> list[CrosstabCell]:
    """Every cell of the full grid: the released count, or a suppression marker."""
    released = table.output.table
    reasons = table.output.reasons
    cells = []
    for row in levels(parameters.rows):
        for column in levels(parameters.columns):
            present = row in released.index and column in released.columns
            value: Any = released.loc[row, column] if present else None
            if value is not None and not bool(pd.isna(value)):
                count = ReleasedCount(value=int(value), suppressed=False, rule="rounded")
            else:
                why = str(reasons.loc[row, column]) if present else ABSENT
                count = ReleasedCount(value=None, suppressed=True, rule=why or "suppressed")
            cells.append(CrosstabCell(row=row, column=column, count=count))
    return cells
