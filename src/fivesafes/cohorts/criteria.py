"""The platform's own cohort model: a small, typed, bounded JSON definition.

A person is in a cohort when

* their sex is one of ``sex`` (when given),
* their age at the index date is within ``age`` (inclusive; age is
  ``year(index_date) - year_of_birth``, the OMOP convention),
* every criterion with ``exclude: false`` has at least one matching event, and
* no criterion with ``exclude: true`` has a matching event.

An event matches a criterion when its concept is in the criterion's concept set (expanded
through ``concept_ancestor`` unless ``descendants`` is false), its date is within the window
(inclusive) and, where given, its value, unit or value concept fits.

The index date is, by ``index.type``:

* ``first_event``: the date of the person's first event matching criterion ``index.criterion``;
* ``fixed``: one date for everyone;
* ``observation_start``: the start of the person's first observation period.

Without ``index`` the default is ``first_event`` of the first non-excluded criterion, or
``observation_start`` when there is none. See docs/cohorts.md for examples.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    model_validator,
)

MAX_CRITERIA = 20
MAX_CONCEPTS = 500
MAX_CONCEPT_ID = 2**31 - 1
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2100, 12, 31)
MAX_AGE = 130
MAX_ABS_VALUE = 1e15

SEX_CONCEPTS: dict[str, int] = {"female": 8532, "male": 8507}
"""OMOP gender concepts for the ``sex`` field."""

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date_only(value: Any) -> Any:
    """Accept a ``date`` or a ``YYYY-MM-DD`` string; refuse timestamps and numbers."""
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise ValueError("a date must be written YYYY-MM-DD")


def _in_date_range(value: date) -> date:
    if not MIN_DATE <= value <= MAX_DATE:
        raise ValueError(f"a date must be from {MIN_DATE} to {MAX_DATE}")
    return value


Day = Annotated[date, BeforeValidator(_iso_date_only), AfterValidator(_in_date_range)]
ConceptId = Annotated[int, Strict(), Field(ge=1, le=MAX_CONCEPT_ID)]
ConceptIds = Annotated[tuple[ConceptId, ...], Field(min_length=1, max_length=MAX_CONCEPTS)]
Value = Annotated[float, Strict(), Field(allow_inf_nan=False, ge=-MAX_ABS_VALUE, le=MAX_ABS_VALUE)]
Age = Annotated[int, Strict(), Field(ge=0, le=MAX_AGE)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Model):
    """Event dates from ``start`` to ``end``, both inclusive; an absent bound is open."""

    start: Day | None = None
    end: Day | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError("window start must not be after its end")
        return self


class ValueRange(_Model):
    """``value_as_number`` from ``min`` to ``max``, both inclusive; at least one bound."""

    min: Value | None = None
    max: Value | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min is None and self.max is None:
            raise ValueError("a value range needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("value min must not be above max")
        return self


class AgeRange(_Model):
    """Age at index in whole years, both bounds inclusive."""

    min: Age | None = None
    max: Age | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("age min must not be above max")
        return self


class _Criterion(_Model):
    concepts: ConceptIds
    descendants: bool = True
    window: Window | None = None
    exclude: bool = False

    def concept_ids(self) -> frozenset[int]:
        """Every concept id this criterion names (not its descendants)."""
        return frozenset(self.concepts)


class ConditionCriterion(_Criterion):
    """A ``condition_occurrence`` row, dated by ``condition_start_date``."""

    domain: Literal["condition"]


class DrugCriterion(_Criterion):
    """A ``drug_exposure`` row, dated by ``drug_exposure_start_date``."""

    domain: Literal["drug"]


class ProcedureCriterion(_Criterion):
    """A ``procedure_occurrence`` row, dated by ``procedure_date``."""

    domain: Literal["procedure"]


class MeasurementCriterion(_Criterion):
    """A ``measurement`` row, optionally with ``value_as_number`` in range and a unit in
    ``units`` (units match exactly, without descendants)."""

    domain: Literal["measurement"]
    value: ValueRange | None = None
    units: ConceptIds | None = None

    def concept_ids(self) -> frozenset[int]:
        return super().concept_ids() | frozenset(self.units or ())


class ObservationCriterion(_Criterion):
    """An ``observation`` row, optionally with ``value_as_concept_id`` in ``value_concepts``
    (matched exactly, without descendants)."""

    domain: Literal["observation"]
    value_concepts: ConceptIds | None = None

    def concept_ids(self) -> frozenset[int]:
        return super().concept_ids() | frozenset(self.value_concepts or ())


Criterion = Annotated[
    ConditionCriterion
    | DrugCriterion
    | ProcedureCriterion
    | MeasurementCriterion
    | ObservationCriterion,
    Field(discriminator="domain"),
]


class FirstEventIndex(_Model):
    """Index at the person's first event matching ``criteria[criterion]``."""

    type: Literal["first_event"]
    criterion: Annotated[int, Strict(), Field(ge=0, lt=MAX_CRITERIA)]


class FixedIndex(_Model):
    """The same index date for every person."""

    type: Literal["fixed"]
    date: Day


class ObservationStartIndex(_Model):
    """Index at the start of the person's first observation period."""

    type: Literal["observation_start"]


Index = Annotated[FirstEventIndex | FixedIndex | ObservationStartIndex, Field(discriminator="type")]


class Cohort(_Model):
    """A cohort definition; see the module docstring for its meaning."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    index: Index | None = None
    age: AgeRange | None = None
    sex: (
        Annotated[tuple[Literal["female", "male"], ...], Field(min_length=1, max_length=2)] | None
    ) = None
    criteria: Annotated[tuple[Criterion, ...], Field(max_length=MAX_CRITERIA)] = ()

    @model_validator(mode="after")
    def _index_names_an_inclusion_criterion(self) -> Self:
        if isinstance(self.index, FirstEventIndex):
            n = self.index.criterion
            if n >= len(self.criteria):
                raise ValueError(
                    f"index.criterion is {n} but the cohort has {len(self.criteria)} criteria"
                )
            if self.criteria[n].exclude:
                raise ValueError(f"index.criterion {n} is an exclusion criterion")
        return self

    def effective_index(self) -> FirstEventIndex | FixedIndex | ObservationStartIndex:
        """The index rule in force: ``index`` or the documented default."""
        if self.index is not None:
            return self.index
        for n, criterion in enumerate(self.criteria):
            if not criterion.exclude:
                return FirstEventIndex(type="first_event", criterion=n)
        return ObservationStartIndex(type="observation_start")

    def concept_ids(self) -> frozenset[int]:
        """Every concept id the cohort names (criteria, units, value concepts)."""
        return frozenset().union(*(c.concept_ids() for c in self.criteria))

    def gender_concept_ids(self) -> tuple[int, ...] | None:
        """The ``person.gender_concept_id`` values allowed, or None for any."""
        if self.sex is None:
            return None
        return tuple(sorted({SEX_CONCEPTS[s] for s in self.sex}))
