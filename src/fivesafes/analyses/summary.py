"""The node part of the summary analysis: one named variable over a cohort's persons.

Variables are named, never supplied: each is built from the node's own OMOP tables in the same
way at every node. The values returned here are exact and per person, so they never leave the
node; the gate (``fivesafes.sdc.gate``) judges them and releases n (rounded), mean and sd.

| variable | definition                                                                   |
| -------- | ---------------------------------------------------------------------------- |
| ``age``  | whole years at the cohort's index date: year(index date) - year of birth     |
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pyroaring import BitMap

from fivesafes.analyses.catalogue import VARIABLES as CATALOGUE
from fivesafes.analyses.variables import analysis_frame
from fivesafes.cohorts.compile import cohort_persons
from fivesafes.cohorts.concepts import check_concepts
from fivesafes.data.source import OmopDatabase
from fivesafes.protocol.models import SummaryParameters
from fivesafes.sdc.differencing import person_set

VARIABLES: dict[str, str] = {
    "age": "whole years at the cohort's index date: year(index date) - year of birth",
}


@dataclass(frozen=True)
class VariableValues:
    """Per-person values of one variable over a cohort (stays on the node)."""

    contributors: BitMap  # persons with a value
    person_ids: npt.NDArray[np.int64]  # the contributors in the order of ``values``
    values: npt.NDArray[np.float64]  # one per contributor, in no particular order
    missing: int  # persons of the cohort without a value


def variable_values(db: OmopDatabase, parameters: SummaryParameters) -> VariableValues:
    """The cohort's persons and each one's value of ``parameters.variable``."""
    check_concepts(parameters.cohort, db)
    persons = cohort_persons(parameters.cohort, db)
    person = db.table("person").select("person_id", "year_of_birth")
    joined = persons.join(person, "person_id")
    if parameters.variable != "age":  # pragma: no cover - the parameter type allows only age
        raise ValueError(f"unknown variable {parameters.variable!r}")
    value = (joined.index_date.year() - joined.year_of_birth).cast("float64")
    frame = joined.select(person_id=joined.person_id, value=value).to_pyarrow()
    ids = frame.column("person_id").to_numpy(zero_copy_only=False)
    raw = frame.column("value").to_numpy(zero_copy_only=False).astype(float)
    present = ~np.isnan(raw)
    return VariableValues(
        contributors=person_set(ids[present]),
        person_ids=ids[present].astype(np.int64),
        values=raw[present],
        missing=int((~present).sum()),
    )


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
    groups = []
    for code, level in enumerate(names):
        member = codes == code
        present = member & ~np.isnan(values)
        groups.append(
            (
                level,
                VariableValues(
                    contributors=person_set(frame.person_ids[present]),
                    person_ids=frame.person_ids[present],
                    values=values[present],
                    missing=int((member & np.isnan(values)).sum()),
                ),
            )
        )
    return groups
