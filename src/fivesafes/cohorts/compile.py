"""Compile a :class:`~fivesafes.cohorts.criteria.Cohort` to one Ibis expression.

The expression is built from Ibis operations only, so one code path runs on every backend
Ibis supports (DuckDB and PostgreSQL are tested). Nothing is executed here; concept sets are
expanded in the database by a semi-join on ``concept_ancestor``, never pulled into Python.

The plan, for one cohort::

    person  -- sex filter
      ⋈ index date (first matching event | fixed date | first observation period start)
      -- age at index filter
      ⋉ each inclusion criterion's persons
      ▷ each exclusion criterion's persons    (anti-join)

An imaging criterion's events are series of the node's imaging index
(``fivesafes.imaging.cohort``); a criterion with ``days_from_index`` is matched against each
person's own index date (its events joined to the persons on ``person_id``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.datatypes as dt

from fivesafes.cohorts.circe import CirceCohort, circe_persons
from fivesafes.cohorts.criteria import (
    Cohort,
    Criterion,
    DaysFromIndex,
    FirstEventIndex,
    FixedIndex,
    ImagingCriterion,
    MeasurementCriterion,
    ObservationCriterion,
    SlideCriterion,
)
from fivesafes.data.source import OmopDatabase
from fivesafes.imaging.cohort import series_events
from fivesafes.slides.cohort import slide_events


@dataclass(frozen=True)
class _Domain:
    table: str
    concept: str
    date: str


DOMAINS: dict[str, _Domain] = {
    "condition": _Domain("condition_occurrence", "condition_concept_id", "condition_start_date"),
    "drug": _Domain("drug_exposure", "drug_concept_id", "drug_exposure_start_date"),
    "procedure": _Domain("procedure_occurrence", "procedure_concept_id", "procedure_date"),
    "measurement": _Domain("measurement", "measurement_concept_id", "measurement_date"),
    "observation": _Domain("observation", "observation_concept_id", "observation_date"),
}
"""For each criterion domain: its CDM table, concept column and event date column."""


def concept_set(
    concepts: tuple[int, ...], db: OmopDatabase, dtype: dt.DataType | None = None
) -> ibis.Table:
    """The concepts themselves and all their descendants, one column ``concept_id`` of type
    ``dtype`` (default: ``concept.concept_id``'s).

    The concepts are taken from ``concept`` as well as from ``concept_ancestor``'s self rows,
    because OMOP keeps self rows only for standard concepts. Give ``dtype`` as the type of the
    event column the set is matched against: the set (a few rows) is then cast, if at all,
    never the event table's column (millions of rows), whose statistics the engine's planner
    keeps (a cast key also stops DuckDB filtering the scan by the set; docs/benchmarks.md).
    """
    ids = sorted(set(concepts))
    concept = db.table("concept")
    ancestor = db.table("concept_ancestor")
    dtype = concept.concept_id.type() if dtype is None else dtype
    own = concept.filter(concept.concept_id.isin(ids)).select(
        concept_id=concept.concept_id.cast(dtype)  # a cast to its own type is none
    )
    descendants = ancestor.filter(ancestor.ancestor_concept_id.isin(ids)).select(
        concept_id=ancestor.descendant_concept_id.cast(dtype)
    )
    return own.union(descendants, distinct=True)


def criterion_events(
    criterion: Criterion, db: OmopDatabase, *, with_slide: bool = False
) -> ibis.Table:
    """The events matching ``criterion``: columns ``person_id`` and ``event_date`` (and, for a
    slide criterion ``with_slide``, ``slide_id``)."""
    if isinstance(criterion, ImagingCriterion):
        window = criterion.window
        return series_events(
            db,
            modality=criterion.modality,
            body_part=criterion.body_part,
            contrast=criterion.contrast,
            description=criterion.description,
            min_slices=criterion.min_slices,
            start=window.start if window is not None else None,
            end=window.end if window is not None else None,
        )
    if isinstance(criterion, SlideCriterion):
        window = criterion.window
        site: tuple[int, ...] | ibis.Table | None = criterion.site
        if criterion.site is not None and criterion.descendants:
            site_type = db.table("specimen").anatomic_site_concept_id.type()
            site = concept_set(criterion.site, db, site_type)
        return slide_events(
            db,
            stain=criterion.stain,
            site=site,
            predicted_by=criterion.predicted_by,
            start=window.start if window is not None else None,
            end=window.end if window is not None else None,
            with_slide=with_slide,
        )
    domain = DOMAINS[criterion.domain]
    events = db.table(domain.table)
    concept = events[domain.concept]
    event_date = events[domain.date]
    if criterion.descendants:
        matching = concept.isin(concept_set(criterion.concepts, db, concept.type()).concept_id)
    else:
        matching = concept.isin(sorted(set(criterion.concepts)))
    predicates = [matching]
    if criterion.window is not None:
        if criterion.window.start is not None:
            predicates.append(event_date >= criterion.window.start)
        if criterion.window.end is not None:
            predicates.append(event_date <= criterion.window.end)
    if isinstance(criterion, MeasurementCriterion):
        if criterion.value is not None:
            value = events.value_as_number
            if criterion.value.min is not None:
                predicates.append(value >= criterion.value.min)
            if criterion.value.max is not None:
                predicates.append(value <= criterion.value.max)
        if criterion.units is not None:
            predicates.append(events.unit_concept_id.isin(sorted(set(criterion.units))))
    if isinstance(criterion, ObservationCriterion) and criterion.value_concepts is not None:
        value_concepts = sorted(set(criterion.value_concepts))
        predicates.append(events.value_as_concept_id.isin(value_concepts))
    return events.filter(*predicates).select(person_id=events.person_id, event_date=event_date)


def _index_dates(cohort: Cohort, db: OmopDatabase) -> ibis.Table | ibis.Value:
    """Per person index dates (``person_id``, ``index_date``), or one date for everyone."""
    index = cohort.effective_index()
    if isinstance(index, FixedIndex):
        return ibis.literal(index.date, type="date")
    if isinstance(index, FirstEventIndex):
        events = criterion_events(cohort.criteria[index.criterion], db)
        return events.group_by("person_id").aggregate(index_date=events.event_date.min())
    periods = db.table("observation_period")
    return periods.group_by("person_id").aggregate(
        index_date=periods.observation_period_start_date.min()
    )


def cohort_persons(cohort: Cohort | CirceCohort, db: OmopDatabase) -> ibis.Table:
    """The cohort's persons: columns ``person_id`` and ``index_date``, one row per person. A
    Circe definition is compiled by circepy (``fivesafes.cohorts.circe``), the platform's own
    model here.

    Concept ids are not checked here; see :func:`fivesafes.cohorts.concepts.check_concepts`.
    """
    if isinstance(cohort, CirceCohort):
        return circe_persons(cohort, db)
    person = db.table("person")
    persons = person.select("person_id", "gender_concept_id", "year_of_birth")
    genders = cohort.gender_concept_ids()
    if genders is not None:
        persons = persons.filter(persons.gender_concept_id.isin(genders))

    index = _index_dates(cohort, db)
    if isinstance(index, ibis.Table):
        persons = persons.join(index, "person_id")
    else:
        persons = persons.mutate(index_date=index)

    if cohort.age is not None:
        age = persons.index_date.year() - persons.year_of_birth
        if cohort.age.min is not None:
            persons = persons.filter(age >= cohort.age.min)
        if cohort.age.max is not None:
            persons = persons.filter(age <= cohort.age.max)

    indexed = persons  # every person's index date, for criteria dated from it
    effective = cohort.effective_index()
    index_criterion = effective.criterion if isinstance(effective, FirstEventIndex) else None
    for n, criterion in enumerate(cohort.criteria):
        if n == index_criterion:
            continue  # the inner join on the index date already requires a matching event
        matched = _matched_persons(criterion, indexed, db)
        if criterion.exclude:
            persons = persons.anti_join(matched, "person_id")
        else:
            persons = persons.semi_join(matched, "person_id")
    return persons.select("person_id", "index_date")


def cohort_slides(cohort: Cohort, db: OmopDatabase) -> ibis.Table:
    """The slides that bring the cohort's persons into it (a release for review by cohort):
    for each slide criterion that is not an exclusion, the cohort's persons' slides fitting it
    (stain, site, model, calendar window; with ``days_from_index``, only those in the window
    around the person's own index date). One column, ``slide_id``, each slide once. A cohort
    with no such criterion says which slides nothing: ValueError."""
    wanted = [c for c in cohort.criteria if isinstance(c, SlideCriterion) and not c.exclude]
    if not wanted:
        raise ValueError("the cohort has no slide criterion to say which slides it means")
    persons = cohort_persons(cohort, db)
    found = None
    for criterion in wanted:
        events = criterion_events(criterion, db, with_slide=True)
        kept = events.join(persons, "person_id")
        if criterion.days_from_index is not None:
            kept = kept.filter(*_around_index(kept, criterion.days_from_index))
        slides = kept.select("slide_id")
        found = slides if found is None else found.union(slides)
    assert found is not None
    return found.distinct()


def _matched_persons(criterion: Criterion, persons: ibis.Table, db: OmopDatabase) -> ibis.Table:
    """The persons with an event matching ``criterion``; with ``days_from_index``, only those
    whose event falls in the window around their own index date (``persons.index_date``)."""
    events = criterion_events(criterion, db)
    relative = getattr(criterion, "days_from_index", None)
    if relative is None:
        return events.select("person_id")
    index = persons.select(index_person=persons.person_id, index_date=persons.index_date)
    joined = events.join(index, events.person_id == index.index_person)
    return joined.filter(*_around_index(joined, relative)).select("person_id")


def _around_index(joined: ibis.Table, relative: DaysFromIndex) -> list[Any]:
    """``event_date`` within ``relative`` of ``index_date``, both columns of ``joined``."""
    predicates = []
    if relative.min is not None:
        predicates.append(joined.event_date >= joined.index_date + ibis.interval(days=relative.min))
    if relative.max is not None:
        predicates.append(joined.event_date <= joined.index_date + ibis.interval(days=relative.max))
    return predicates


def cohort_ids(db: OmopDatabase, *, cohort: Cohort | CirceCohort) -> ibis.Table:
    """The cohort's distinct ``person_id``: a query a node runs through
    ``fivesafes.data.compiled.fetch``, so its SQL is compiled once per definition, data source
    and opt-out version."""
    return cohort_persons(cohort, db).select("person_id").distinct()


def cohort_size(db: OmopDatabase, *, cohort: Cohort | CirceCohort) -> ibis.Table:
    """How many distinct persons the cohort holds: one row, ``persons`` (as ``cohort_ids``)."""
    persons = cohort_persons(cohort, db)
    return persons.aggregate(persons=persons.person_id.nunique())
