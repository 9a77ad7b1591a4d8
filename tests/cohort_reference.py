"""A second, independent reading of the cohort rules, in plain pandas and Python sets.

It shares nothing with ``fivesafes.cohorts.compile`` but the model, so when the two agree on
random and synthetic data the Ibis compilation is checked against the rules as written in
docs/cohorts.md. It favours being obviously right over being fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import pandas as pd

from fivesafes.cohorts.criteria import (
    Cohort,
    Criterion,
    FirstEventIndex,
    FixedIndex,
    MeasurementCriterion,
    ObservationCriterion,
)

WHERE = {
    "condition": ("condition_occurrence", "condition_concept_id", "condition_start_date"),
    "drug": ("drug_exposure", "drug_concept_id", "drug_exposure_start_date"),
    "procedure": ("procedure_occurrence", "procedure_concept_id", "procedure_date"),
    "measurement": ("measurement", "measurement_concept_id", "measurement_date"),
    "observation": ("observation", "observation_concept_id", "observation_date"),
}
GENDER = {"female": 8532, "male": 8507}


def _concepts(criterion: Criterion, ancestor: pd.DataFrame) -> set[int]:
    named = {int(c) for c in criterion.concepts}
    if not criterion.descendants:
        return named
    below = ancestor.loc[ancestor["ancestor_concept_id"].isin(named), "descendant_concept_id"]
    return named | {int(c) for c in below}


def matching_events(
    criterion: Criterion, tables: Mapping[str, pd.DataFrame]
) -> list[tuple[int, date]]:
    """(person_id, event date) of every event matching ``criterion``."""
    table, concept_column, date_column = WHERE[criterion.domain]
    wanted = _concepts(criterion, tables["concept_ancestor"])
    found = []
    for row in tables[table].to_dict("records"):
        day = pd.Timestamp(row[date_column]).date()
        if int(row[concept_column]) not in wanted:
            continue
        window = criterion.window
        if window is not None and window.start is not None and day < window.start:
            continue
        if window is not None and window.end is not None and day > window.end:
            continue
        if isinstance(criterion, MeasurementCriterion) and not _measurement_fits(criterion, row):
            continue
        if isinstance(criterion, ObservationCriterion) and criterion.value_concepts is not None:
            value = row["value_as_concept_id"]
            if pd.isna(value) or int(value) not in criterion.value_concepts:
                continue
        found.append((int(row["person_id"]), day))
    return found


def _measurement_fits(criterion: MeasurementCriterion, row: dict[str, Any]) -> bool:
    if criterion.value is not None:
        value = row["value_as_number"]
        if value is None or pd.isna(value):
            return False
        if criterion.value.min is not None and value < criterion.value.min:
            return False
        if criterion.value.max is not None and value > criterion.value.max:
            return False
    if criterion.units is not None:
        unit = row["unit_concept_id"]
        if unit is None or pd.isna(unit) or int(unit) not in criterion.units:
            return False
    return True


def _first_dates(events: list[tuple[int, date]]) -> dict[int, date]:
    first: dict[int, date] = {}
    for person, day in events:
        if person not in first or day < first[person]:
            first[person] = day
    return first


def reference_persons(tables: Mapping[str, pd.DataFrame], cohort: Cohort) -> dict[int, date]:
    """The cohort's persons and their index dates, by the rules in docs/cohorts.md."""
    events = [matching_events(c, tables) for c in cohort.criteria]
    index = cohort.effective_index()
    fixed: date | None = None
    if isinstance(index, FixedIndex):
        fixed = index.date
    elif isinstance(index, FirstEventIndex):
        index_dates = _first_dates(events[index.criterion])
    else:
        periods = tables["observation_period"]
        index_dates = _first_dates(
            [
                (int(p), pd.Timestamp(d).date())
                for p, d in zip(
                    periods["person_id"], periods["observation_period_start_date"], strict=True
                )
            ]
        )
    having = [{person for person, _ in found} for found in events]
    cohort_persons: dict[int, date] = {}
    for row in tables["person"].to_dict("records"):
        person = int(row["person_id"])
        if cohort.sex is not None and row["gender_concept_id"] not in {
            GENDER[s] for s in cohort.sex
        }:
            continue
        day = fixed if fixed is not None else index_dates.get(person)
        if day is None:
            continue
        age = day.year - int(row["year_of_birth"])
        if cohort.age is not None and cohort.age.min is not None and age < cohort.age.min:
            continue
        if cohort.age is not None and cohort.age.max is not None and age > cohort.age.max:
            continue
        if all(
            (person in has) != criterion.exclude
            for criterion, has in zip(cohort.criteria, having, strict=True)
        ):
            cohort_persons[person] = day
    return cohort_persons
