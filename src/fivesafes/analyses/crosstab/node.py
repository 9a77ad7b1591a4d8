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

import numpy as np
import pandas as pd

from fivesafes.analyses.catalogue import VARIABLES
from fivesafes.analyses.crosstab.models import CrosstabParameters, HistogramParameters
from fivesafes.analyses.tables import ALL, Grid, NodeTable
from fivesafes.analyses.variables import analysis_frame
from fivesafes.data.source import OmopDatabase
from fivesafes.sdc.checker import Checker
from fivesafes.sdc.differencing import person_set
from fivesafes.sdc.profiles import Profile


def levels(name: str | None) -> tuple[str, ...]:
    if name is None:
        return (ALL,)
    variable = VARIABLES[name]
    return variable.levels if variable.kind == "categorical" else ("no", "yes")


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
