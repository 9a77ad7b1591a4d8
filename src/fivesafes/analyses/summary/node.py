"""The node part of the summary analysis: one named variable over a cohort's persons.

Variables are named, never supplied: each is built from the node's own OMOP tables in the same
way at every node (``fivesafes.analyses.catalogue``: ``age``, ``bmi``, ``visits_past_year``).
The values returned here are exact and per person, so they never leave the node; the gate
(``fivesafes.sdc.gate``) judges them and releases n (rounded), mean and sd, and the table
checker judges the persons per agreed bin from which the hub takes quantiles
(``fivesafes.analyses.quantiles``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from pyroaring import BitMap

from fivesafes.analyses.catalogue import VARIABLES as CATALOGUE
from fivesafes.analyses.catalogue import SummaryVariable
from fivesafes.analyses.quantiles import bin_codes, bin_labels
from fivesafes.analyses.summary.models import SummaryOutput, SummaryParameters
from fivesafes.analyses.tables import NodeTable, released_cells
from fivesafes.analyses.variables import analysis_frame
from fivesafes.data.source import OmopDatabase
from fivesafes.protocol.models import CrosstabCell, ReleasedCount
from fivesafes.sdc.checker import Checker
from fivesafes.sdc.differencing import person_set
from fivesafes.sdc.gate import Judgement, release_count
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Verdict

BIN = "bin"
COUNT = "count"


@dataclass(frozen=True)
class VariableValues:
    """Per-person values of one variable over a cohort (stays on the node)."""

    contributors: BitMap  # persons with a value
    person_ids: npt.NDArray[np.int64]  # the contributors in the order of ``values``
    values: npt.NDArray[np.float64]  # one per contributor, in no particular order
    missing: int  # persons of the cohort without a value


def _values(
    person_ids: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    member: npt.NDArray[np.bool_],
) -> VariableValues:
    present = member & ~np.isnan(values)
    return VariableValues(
        contributors=person_set(person_ids[present]),
        person_ids=person_ids[present],
        values=values[present],
        missing=int((member & np.isnan(values)).sum()),
    )


def variable_values(db: OmopDatabase, parameters: SummaryParameters) -> VariableValues:
    """The cohort's persons and each one's value of ``parameters.variable``."""
    frame = analysis_frame(db, parameters.cohort, [parameters.variable])
    values = frame.columns[parameters.variable]
    return _values(frame.person_ids, values, np.ones(len(values), dtype=bool))


def grouped_values(
    db: OmopDatabase, parameters: SummaryParameters
) -> list[tuple[str, VariableValues]]:
    """Per level of ``parameters.by`` (the catalogue's levels; ``no``/``yes`` for a binary
    factor), the values of the variable. Persons missing the factor are in no group."""
    assert parameters.by is not None
    frame = analysis_frame(db, parameters.cohort, [parameters.variable, parameters.by])
    values = frame.columns[parameters.variable]
    codes = frame.columns[parameters.by]
    variable = CATALOGUE[parameters.by]
    names = variable.levels if variable.kind == "categorical" else ("no", "yes")
    return [
        (level, _values(frame.person_ids, values, codes == code))
        for code, level in enumerate(names)
    ]


def released_bins(
    found: VariableValues, edges: Sequence[float], profile: Profile
) -> list[CrosstabCell]:
    """Persons per agreed bin (outer bins open), as the table checker releases them on the
    full grid of bins: small bins suppressed (and their partners), the rest rounded."""
    labels = bin_labels(edges)
    data = pd.DataFrame(
        {
            "person_id": found.person_ids,
            BIN: np.asarray(labels, dtype=object)[bin_codes(found.values, edges)],
            COUNT: COUNT,
        }
    )
    output = Checker(profile).crosstab(data, index=BIN, columns=COUNT, person="person_id")
    return released_cells(NodeTable(found.contributors, output), (labels, (COUNT,)))


@dataclass(frozen=True)
class Described:
    """What a summary's node part found (it stays at the node): per level of ``by`` (one
    level, None, without a factor) the values of ``variable``, and the agreed bin edges."""

    variable: SummaryVariable
    edges: list[float]
    groups: list[tuple[str | None, VariableValues]]
    by: str | None = None


def summary_output(
    variable: SummaryVariable,
    found: VariableValues,
    edges: list[float],
    judgement: Judgement,
    profile: Profile,
    level: str | None = None,
) -> SummaryOutput:
    """A summary's released form: n and missing rounded, mean and sd, the persons per agreed
    bin as the table checker releases them; or markers only."""
    record = judgement.record()
    if judgement.verdict is not Verdict.PASS:
        marker = ReleasedCount(value=None, suppressed=True, rule="; ".join(judgement.rules))
        return SummaryOutput(
            variable=variable,
            level=level,
            n=marker,
            missing=marker,
            mean=None,
            sd=None,
            gate=record,
        )
    values = found.values
    return SummaryOutput(
        variable=variable,
        level=level,
        n=release_count(int(values.size), profile),
        missing=release_count(found.missing, profile),
        bins=released_bins(found, edges, profile),
        mean=float(values.mean()),
        sd=float(values.std(ddof=1)) if values.size > 1 else None,
        gate=record,
    )
