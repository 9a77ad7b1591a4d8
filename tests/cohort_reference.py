"""A second, independent reading of the cohort rules, in plain pandas and Python sets.

It shares nothing with ``fivesafes.cohorts.compile`` but the model, so when the two agree on
random and synthetic data the Ibis compilation is checked against the rules as written in
docs/cohorts.md. It favours being obviously right over being fast.

An imaging criterion is read against ``tables["imaging_truth"]``: the synthetic archive's
planted ground truth (``ground-truth/series.csv``: what each series is), never the index, and
the body-part vocabulary read straight from the shipped rules file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from datetime import date, timedelta
from functools import cache
from importlib.resources import files
from typing import Any

import pandas as pd

from fivesafes.cohorts.criteria import (
    Cohort,
    Criterion,
    FirstEventIndex,
    FixedIndex,
    ImagingCriterion,
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


@cache
def _including() -> dict[str, set[str]]:
    """Each body part term and the terms of the shipped vocabulary that include it."""
    text = files("fivesafes.imaging").joinpath("rules.toml").read_text()
    vocabulary = tomllib.loads(text)["body_part"]["vocabulary"]
    return {
        term: {term} | {t for t, parts in vocabulary.items() if term in parts}
        for term in vocabulary
    }


def imaging_events(criterion: ImagingCriterion, truth: pd.DataFrame) -> list[tuple[int, date]]:
    """(person_id, study date) of every planted series matching ``criterion``."""
    found = []
    body_parts = (
        set().union(*(_including()[b] for b in criterion.body_part))
        if criterion.body_part is not None
        else None
    )
    for row in truth.to_dict("records"):
        if pd.isna(row["person_id"]) or row["person_id"] == "":
            continue
        day = date.fromisoformat(str(row["study_date"]))
        if criterion.modality is not None and row["modality"] not in criterion.modality:
            continue
        if body_parts is not None and row["body_part"] not in body_parts:
            continue
        if criterion.contrast is not None and row["contrast_recorded"] not in criterion.contrast:
            continue
        if criterion.min_slices is not None and int(row["n_instances"]) < criterion.min_slices:
            continue
        if not _within(day, criterion.window):
            continue
        found.append((int(row["person_id"]), day))
    return found


def matching_events(
    criterion: Criterion, tables: Mapping[str, pd.DataFrame]
) -> list[tuple[int, date]]:
    """(person_id, event date) of every event matching ``criterion``."""
    if isinstance(criterion, ImagingCriterion):
        return imaging_events(criterion, tables["imaging_truth"])
    table, concept_column, date_column = WHERE[criterion.domain]
    wanted = _concepts(criterion, tables["concept_ancestor"])
    found = []
    for row in tables[table].to_dict("records"):
        day = pd.Timestamp(row[date_column]).date()
        if int(row[concept_column]) not in wanted:
            continue
        if not _within(day, criterion.window):
            continue
        if isinstance(criterion, MeasurementCriterion) and not _measurement_fits(criterion, row):
            continue
        if isinstance(criterion, ObservationCriterion) and criterion.value_concepts is not None:
            value = row["value_as_concept_id"]
            if pd.isna(value) or int(value) not in criterion.value_concepts:
                continue
        found.append((int(row["person_id"]), day))
    return found


def _within(day: date, window: Any) -> bool:
    """Whether ``day`` is within the calendar ``window`` (None: all time)."""
    if window is None:
        return True
    return (window.start is None or day >= window.start) and (
        window.end is None or day <= window.end
    )


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
    by_person: list[dict[int, list[date]]] = []
    for found in events:
        days: dict[int, list[date]] = {}
        for person, day in found:
            days.setdefault(person, []).append(day)
        by_person.append(days)
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
            _has(day, criterion, days.get(person, [])) != criterion.exclude
            for criterion, days in zip(cohort.criteria, by_person, strict=True)
        ):
            cohort_persons[person] = day
    return cohort_persons


def _has(index: date, criterion: Criterion, days: list[date]) -> bool:
    """Whether a person with events on ``days`` has one of ``criterion`` (within its days
    from the person's ``index`` date, if it says so)."""
    relative = getattr(criterion, "days_from_index", None)
    if relative is None:
        return bool(days)
    for day in days:
        low = index + timedelta(days=relative.min) if relative.min is not None else date.min
        high = index + timedelta(days=relative.max) if relative.max is not None else date.max
        if low <= day <= high:
            return True
    return False
