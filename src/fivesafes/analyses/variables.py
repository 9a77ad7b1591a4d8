"""The analysis frame: one row per person of a cohort with the named variables of
:mod:`fivesafes.analyses.catalogue`, built from OMOP through Ibis the same way at every node.
The frame never leaves the node.

Every concept a named variable reads (a condition's or a drug's own concept, smoking status and
its levels, BMI) must be in the data source's vocabulary, or the frame is refused with
:class:`~fivesafes.cohorts.concepts.UnknownConceptError`, as a cohort naming an unknown concept
is: a condition the source cannot know of would otherwise read as absent for every person. A
pool's vocabulary holds only the concepts of the variables its nodes released
(``fivesafes.pool.minimise``), so a variable not released is refused there, never read as none.

Codes and flags are built from integer literals and cast to float: Ibis writes a float literal
as ``0.0``, which PostgreSQL reads as ``numeric``, and a numeric column does not convert to the
float64 Arrow column Ibis promises (ArrowInvalid on Decimal).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import ibis
import numpy as np
import numpy.typing as npt

from fivesafes.analyses.catalogue import (
    BMI,
    BMI_WINDOW,
    CONDITIONS,
    DRUG_WINDOW,
    DRUGS,
    SMOKING_LEVELS,
    SMOKING_STATUS,
    VARIABLES,
)
from fivesafes.cohorts.circe import CirceCohort
from fivesafes.cohorts.compile import cohort_persons, concept_set
from fivesafes.cohorts.concepts import UnknownConceptError, check_concepts, known_concepts
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.compiled import fetch
from fivesafes.data.source import OmopDatabase


@dataclass(frozen=True)
class Frame:
    """The analysis frame as columns: numeric variables as floats (NaN missing), categorical
    ones as level codes (-1 missing). Stays on the node."""

    person_ids: npt.NDArray[np.int64]
    columns: dict[str, npt.NDArray[np.float64]]

    def __len__(self) -> int:
        return len(self.person_ids)


def analysis_frame(db: OmopDatabase, cohort: Cohort | CirceCohort, names: list[str]) -> Frame:
    """One row per person of ``cohort`` with each named variable."""
    unknown = sorted(set(names) - set(VARIABLES))
    if unknown:
        raise ValueError(f"unknown variables: {', '.join(unknown)}")
    check_concepts(cohort, db)
    check_variable_concepts(names, db)
    wanted = list(dict.fromkeys(names))
    extra = [f"{n}_event" for n in wanted if VARIABLES[n].kind == "survival"]
    frame = fetch(db, frame_query, cohort=cohort, names=wanted)  # compiled once per key
    ids = frame.column("person_id").to_numpy(zero_copy_only=False).astype(np.int64)
    columns = {
        name: frame.column(name).to_numpy(zero_copy_only=False).astype(float)
        for name in [*wanted, *extra]
    }
    return Frame(ids, columns)


def variable_concepts(names: Iterable[str]) -> frozenset[int]:
    """The concepts the named variables read, each of which the vocabulary must hold (a
    condition's or a drug's descendants are found from its own concept)."""
    wanted: set[int] = set()
    for name in names:
        if name == "smoker":
            wanted |= {SMOKING_STATUS, *SMOKING_LEVELS}
        elif name == "bmi":
            wanted.add(BMI)
        elif name in CONDITIONS:
            wanted.add(CONDITIONS[name])
        elif name == "time_to_lung_cancer":
            wanted.add(CONDITIONS["lung_cancer"])
        elif name in DRUGS:
            wanted.add(DRUGS[name])
    return frozenset(wanted)


def unknown_variable_concepts(names: Iterable[str], db: OmopDatabase) -> frozenset[int]:
    """The concepts the named variables read that ``db``'s ``concept`` table lacks."""
    wanted = variable_concepts(names)
    if not wanted:
        return frozenset()
    known = fetch(db, known_concepts, ids=sorted(wanted)).column("concept_id").to_pylist()
    return wanted - frozenset(int(c) for c in known)


def check_variable_concepts(names: Iterable[str], db: OmopDatabase) -> None:
    """Raise :class:`UnknownConceptError` unless ``db`` knows every concept the named
    variables read."""
    unknown = unknown_variable_concepts(names, db)
    if unknown:
        raise UnknownConceptError(unknown)


def can_use_variables(names: Iterable[str], db: OmopDatabase) -> bool:
    """Whether ``db`` knows every concept the named variables read."""
    return not unknown_variable_concepts(names, db)


def frame_query(db: OmopDatabase, *, cohort: Cohort | CirceCohort, names: list[str]) -> ibis.Table:
    """The analysis frame's query: one row per person of ``cohort``, ``person_id`` and each
    of ``names`` (and a survival variable's ``<name>_event``), from the catalogue's
    definitions. Run through ``fivesafes.data.compiled.fetch``: its SQL is compiled once per
    cohort, names, data source and opt-out version."""
    persons = cohort_persons(cohort, db)
    table = persons.join(
        db.table("person").select("person_id", "year_of_birth", "gender_concept_id"),
        "person_id",
    )
    for name in names:
        table = _add(name, table, persons, db)
    extra = [f"{n}_event" for n in names if VARIABLES[n].kind == "survival"]
    return table.select("person_id", *names, *extra)


def _add(name: str, table: ibis.Table, persons: ibis.Table, db: OmopDatabase) -> ibis.Table:
    """``table`` with a column ``name`` holding the variable (joins added as needed)."""
    if name == "age":
        return table.mutate(age=(table.index_date.year() - table.year_of_birth).cast("float64"))
    if name == "sex":
        code = ibis.cases(
            (table.gender_concept_id == 8532, 0),
            (table.gender_concept_id == 8507, 1),
            else_=-1,
        )
        return table.mutate(sex=code.cast("float64"))
    if name == "smoker":
        obs = db.table("observation")
        obs = obs.filter(obs.observation_concept_id == SMOKING_STATUS)
        joined = obs.join(persons, "person_id").filter(lambda t: t.observation_date <= t.index_date)
        latest = joined.group_by("person_id").aggregate(
            smoking=joined.value_as_concept_id.argmax(joined.observation_date)
        )
        table = _left(table, latest)
        code = ibis.cases(
            *((table.smoking == concept, i) for i, concept in enumerate(SMOKING_LEVELS)),
            else_=-1,
        )
        return table.mutate(smoker=code.cast("float64")).drop("smoking")
    if name == "bmi":
        m = db.table("measurement")
        m = m.filter((m.measurement_concept_id == BMI) & m.value_as_number.notnull())
        joined = m.join(persons, "person_id").filter(
            lambda t: (
                (t.measurement_date <= t.index_date)
                & (t.measurement_date > t.index_date - ibis.interval(days=BMI_WINDOW.days))
            )
        )
        latest = joined.group_by("person_id").aggregate(
            bmi=joined.value_as_number.argmax(joined.measurement_date).cast("float64")
        )
        return _left(table, latest)
    if name in CONDITIONS:
        c = db.table("condition_occurrence")
        wanted = concept_set((CONDITIONS[name],), db)
        having = (
            c.semi_join(wanted, c.condition_concept_id == wanted.concept_id)
            .select("person_id")
            .distinct()
            .mutate(flag=ibis.literal(1))
        )
        table = _left(table, having)
        return table.mutate(**{name: table.flag.fill_null(0).cast("float64")}).drop("flag")
    if name in DRUGS:
        d = db.table("drug_exposure")
        wanted = concept_set((DRUGS[name],), db)
        exposed = d.semi_join(wanted, d.drug_concept_id == wanted.concept_id).join(
            persons, "person_id"
        )
        recent = (
            exposed.filter(
                lambda t: (
                    (t.drug_exposure_start_date <= t.index_date)
                    & (
                        t.drug_exposure_start_date
                        > t.index_date - ibis.interval(days=DRUG_WINDOW.days)
                    )
                )
            )
            .select("person_id")
            .distinct()
            .mutate(flag=ibis.literal(1))
        )
        table = _left(table, recent)
        return table.mutate(**{name: table.flag.fill_null(0).cast("float64")}).drop("flag")
    if name == "time_to_lung_cancer":
        return _time_to(name, CONDITIONS["lung_cancer"], table, persons, db)
    assert name == "visits_past_year", name
    v = db.table("visit_occurrence")
    joined = v.join(persons, "person_id").filter(
        lambda t: (
            (t.visit_start_date < t.index_date)
            & (t.visit_start_date >= t.index_date - ibis.interval(days=365))
        )
    )
    counts = joined.group_by("person_id").aggregate(n_visits=joined.count())
    table = _left(table, counts)
    return table.mutate(visits_past_year=table.n_visits.fill_null(0).cast("float64")).drop(
        "n_visits"
    )


def _time_to(
    name: str, concept: int, table: ibis.Table, persons: ibis.Table, db: OmopDatabase
) -> ibis.Table:
    """Years from the index date to the first record of ``concept`` after it (the event), or
    to the end of observation (censored): columns ``name`` and ``name + "_event"``."""
    c = db.table("condition_occurrence")
    wanted = concept_set((concept,), db)
    first = (
        c.semi_join(wanted, c.condition_concept_id == wanted.concept_id)
        .group_by("person_id")
        .aggregate(first_record=lambda t: t.condition_start_date.min())
    )
    periods = db.table("observation_period")
    ends = periods.group_by("person_id").aggregate(
        observed_until=periods.observation_period_end_date.max()
    )
    table = _left(_left(table, first), ends)
    before = table.first_record.notnull() & (table.first_record <= table.index_date)
    event = table.first_record.notnull() & (table.first_record > table.index_date)
    end = ibis.cases((event, table.first_record), else_=table.observed_until)
    days = end.delta(table.index_date, unit="day").cast("float64")
    years = ibis.cases(
        (before | (days <= 0) | days.isnull(), ibis.null("float64")), else_=days / 365.25
    )
    flag = ibis.cases((event, 1), else_=0).cast("float64")  # PostgreSQL casts no boolean to float
    return table.mutate(**{name: years, f"{name}_event": flag}).drop(
        "first_record", "observed_until"
    )


def _left(table: ibis.Table, extra: ibis.Table) -> ibis.Table:
    """``table`` with ``extra``'s columns joined on person_id, one row per person kept."""
    joined = table.left_join(extra, "person_id")
    return joined.drop(*[c for c in joined.columns if c.endswith("_right")])
