"""The node part of the crosstab: persons of a cohort by the levels of one or two named
categorical or binary variables, checked by the table checker (``fivesafes.sdc.Checker``)
under the node's profile, on the catalogue's full grid of levels so every node's table has the
same cells.

A cell the node's data do not have is sent suppressed, like a small one: its absence is not
announced. Binary variables have the levels ``no`` and ``yes``.

A *magnitude* table (``value`` and ``statistic`` in the task) counts only the persons who have
the value, and the checker judges each cell's mean or sum as a magnitude (threshold in
contributors, NK dominance, p%, negative and missing values, secondary suppression). A released
cell carries the statistic and its contributors (rounded); a suppressed cell carries neither.
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
from fivesafes.protocol.models import (
    CrosstabCell,
    CrosstabParameters,
    HistogramParameters,
    ReleasedCount,
)
from fivesafes.sdc.checker import Checker
from fivesafes.sdc.differencing import person_set
from fivesafes.sdc.gate import release_count
from fivesafes.sdc.output import Output
from fivesafes.sdc.profiles import Profile

ALL = "all"
Grid = tuple[tuple[str, ...], tuple[str, ...]]
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
    # a magnitude table: contributors per observed cell (released rounded with its statistic)
    contributors: pd.Series | None = None


def node_table(db: OmopDatabase, parameters: CrosstabParameters, profile: Profile) -> NodeTable:
    names: list[str] = [n for n in (parameters.rows, parameters.columns) if n is not None]
    value = parameters.value
    frame = analysis_frame(db, parameters.cohort, names + ([value] if value else []))
    keep = np.ones(len(frame), dtype=bool)
    if value is not None:
        keep &= ~np.isnan(frame.columns[value])
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
    persons = person_set(data["person_id"].to_numpy())
    if value is None:
        output = Checker(profile).crosstab(
            data, index=parameters.rows, columns=columns, person="person_id"
        )
        return NodeTable(persons, output)
    data[value] = frame.columns[value][keep]
    output = Checker(profile).crosstab(
        data,
        index=parameters.rows,
        columns=columns,
        values=value,
        aggfunc=parameters.statistic,
        person="person_id",
    )
    contributors = data.groupby([parameters.rows, columns]).size()
    return NodeTable(persons, output, contributors)


def node_histogram(
    db: OmopDatabase, parameters: HistogramParameters, profile: Profile
) -> NodeTable:
    """Persons by the agreed bins of a numeric variable, checked by the node's checker."""
    frame = analysis_frame(db, parameters.cohort, [parameters.variable])
    values = frame.columns[parameters.variable]
    keep = ~np.isnan(values)
    data = pd.DataFrame({"person_id": frame.person_ids[keep], "value": values[keep]})
    output = Checker(profile).hist(data, "value", bins=parameters.edges, person="person_id")
    return NodeTable(person_set(data["person_id"].to_numpy()), output)


def grid(table: NodeTable, parameters: CrosstabParameters | HistogramParameters) -> Grid:
    """The rows and columns every node sends: catalogue levels, or the agreed bins."""
    if isinstance(parameters, HistogramParameters):
        return tuple(str(b) for b in table.output.table.index), ("count",)
    return levels(parameters.rows), levels(parameters.columns)


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
