"""The platform's own cohort model: a small, typed, bounded JSON definition.

A person is in a cohort when

* their sex is one of ``sex`` (when given),
* their age at the index date is within ``age`` (inclusive; age is
  ``year(index_date) - year_of_birth``, the OMOP convention),
* every criterion with ``exclude: false`` has at least one matching event, and
* no criterion with ``exclude: true`` has a matching event.

An event matches a criterion when its concept is in the criterion's concept set (expanded
through ``concept_ancestor`` unless ``descendants`` is false), its date is within the window
(inclusive) and, where given, its value, unit or value concept fits. An ``imaging`` criterion's
events are the series of the node's imaging index (``fivesafes.imaging.cohort``): by modality,
body part, contrast, series description, number of slices, and a calendar window or a window
in days from the index date (``days_from_index``).

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
MAX_DAYS = 365 * 130
MAX_SLICES = 1_000_000

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


class DaysFromIndex(_Model):
    """Event dates from ``min`` to ``max`` days after the person's index date (negative:
    before), both inclusive; an absent bound is open."""

    min: Annotated[int, Strict(), Field(ge=-MAX_DAYS, le=MAX_DAYS)] | None = None
    max: Annotated[int, Strict(), Field(ge=-MAX_DAYS, le=MAX_DAYS)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min is None and self.max is None:
            raise ValueError("days_from_index needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("days_from_index min must not be above max")
        return self


class _Criterion(_Model):
    concepts: ConceptIds
    descendants: bool = True
    window: Window | None = None
    exclude: bool = False

    def concept_ids(self) -> frozenset[int]:
        """Every concept id this criterion names (not its descendants)."""
        return frozenset(self.concepts)

    def describe(self) -> str:
        """The criterion's concepts in a few words (the first three), for attrition steps."""
        shown = ", ".join(str(c) for c in self.concepts[:3])
        more = len(self.concepts) - 3
        return shown + (f" and {more} more" if more > 0 else "")


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


def _modality(value: str) -> str:
    from fivesafes.imaging.cohort import MODALITIES

    if value not in MODALITIES:
        raise ValueError("a modality must be one of DICOM's defined terms, such as CT, MR or CR")
    return value


def _body_part(value: str) -> str:
    from fivesafes.imaging.cohort import body_part_terms

    terms = body_part_terms()
    if value not in terms:
        raise ValueError(f"a body part must be one of {', '.join(sorted(terms))}")
    return value


def _description(value: str) -> str:
    if not value.strip() or not value.isprintable():
        raise ValueError("a description must be printable text, not blank")
    return value


Modality = Annotated[str, Strict(), Field(max_length=16), AfterValidator(_modality)]
BodyPart = Annotated[str, Strict(), Field(max_length=32), AfterValidator(_body_part)]


class ImagingCriterion(_Model):
    """A series of the node's imaging index (``imaging_series``), dated by its series date
    (else its study date): every field given must fit (``fivesafes.imaging.cohort``).

    ``modality``, ``body_part`` and ``contrast`` are each a list of which any one fits; a body
    part also finds the combined regions that include it (CHEST finds CHESTABDPELVIS);
    ``description`` is found in the series description, case ignored; ``min_slices`` is the
    least number of slices (frames) in the series. ``window`` is in calendar dates,
    ``days_from_index`` in days from the person's index date (not for the index criterion)."""

    domain: Literal["imaging"]
    modality: Annotated[tuple[Modality, ...], Field(min_length=1, max_length=20)] | None = None
    body_part: Annotated[tuple[BodyPart, ...], Field(min_length=1, max_length=20)] | None = None
    contrast: (
        Annotated[tuple[Literal["yes", "no", "unknown"], ...], Field(min_length=1, max_length=3)]
        | None
    ) = None
    description: (
        Annotated[str, Strict(), Field(min_length=1, max_length=64), AfterValidator(_description)]
        | None
    ) = None
    min_slices: Annotated[int, Strict(), Field(ge=1, le=MAX_SLICES)] | None = None
    window: Window | None = None
    days_from_index: DaysFromIndex | None = None
    exclude: bool = False

    def concept_ids(self) -> frozenset[int]:
        """None: an imaging criterion names no concept."""
        return frozenset()

    def describe(self) -> str:
        """The criterion in a few words, for attrition steps and pages."""
        parts = [
            " or ".join(values) for values in (self.modality, self.body_part) if values is not None
        ]
        if self.contrast is not None:
            parts.append("contrast " + " or ".join(self.contrast))
        if self.description is not None:
            parts.append(f"described {self.description!r}")
        if self.min_slices is not None:
            parts.append(f"at least {self.min_slices} slices")
        if self.days_from_index is not None:
            low, high = self.days_from_index.min, self.days_from_index.max
            parts.append(f"days {'' if low is None else low}..{'' if high is None else high}")
        return "series " + (", ".join(parts) if parts else "of any kind")


Stain = Annotated[str, Strict(), Field(min_length=1, max_length=32), AfterValidator(_description)]


class SlideCriterion(_Model):
    """A registered whole-slide image of the node (``pathology_slide``), dated by its
    specimen's date (the CDM's ``specimen_date``: a slide not linked to a specimen has no date
    and matches no slide criterion): every field given must fit (``fivesafes.slides.cohort``).

    ``stain`` is a list of which any one fits, compared case and spaces ignored ("H&E",
    "h & e"); ``site`` lists OMOP concepts of the specimen's anatomic site (the CDM's
    ``specimen.anatomic_site_concept_id``), any one fitting, with their descendants through
    ``concept_ancestor`` unless ``descendants`` is false (as a condition's concepts: "Lung
    structure" finds a lobe of the lung); ``predicted_by`` names models (their ``model`` as
    imported, exactly), the slide having a prediction of one of them
    (``pathology_prediction``); ``window`` is in calendar dates, ``days_from_index`` in days
    from the person's index date (not for the index criterion)."""

    domain: Literal["slide"]
    stain: Annotated[tuple[Stain, ...], Field(min_length=1, max_length=20)] | None = None
    site: ConceptIds | None = None
    descendants: bool = True
    predicted_by: Annotated[tuple[Stain, ...], Field(min_length=1, max_length=20)] | None = None
    window: Window | None = None
    days_from_index: DaysFromIndex | None = None
    exclude: bool = False

    @model_validator(mode="after")
    def _descendants_of_a_site(self) -> Self:
        # only a false one is a mistake: a cohort as the hub signs it writes every field, so a
        # criterion without a site arrives at the node with descendants true
        if not self.descendants and self.site is None:
            raise ValueError("descendants applies to a slide's site: give site too")
        return self

    def concept_ids(self) -> frozenset[int]:
        """The anatomic sites' concepts (not their descendants); none without ``site``."""
        return frozenset(self.site or ())

    def describe(self) -> str:
        """The criterion in a few words, for attrition steps and pages."""
        stains = " or ".join(self.stain) if self.stain else "of any stain"
        sites = ""
        if self.site:
            shown = ", ".join(str(c) for c in self.site[:3])
            more = f" and {len(self.site) - 3} more" if len(self.site) > 3 else ""
            sites = f", site {shown}{more}" + ("" if self.descendants else " exactly")
        models = f", predicted by {' or '.join(self.predicted_by)}" if self.predicted_by else ""
        return f"slide {stains}{sites}{models}"


Criterion = Annotated[
    ConditionCriterion
    | DrugCriterion
    | ProcedureCriterion
    | MeasurementCriterion
    | ObservationCriterion
    | ImagingCriterion
    | SlideCriterion,
    Field(discriminator="domain"),
]

DATA_DOMAINS = {"imaging": "imaging", "slide": "pathology"}
"""The data domain each criterion domain reads beyond the OMOP CDM (the rest read ``omop``)."""


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

    @model_validator(mode="after")
    def _relative_windows_need_another_index(self) -> Self:
        index = self.effective_index()
        for n, criterion in enumerate(self.criteria):
            if getattr(criterion, "days_from_index", None) is None:
                continue
            if isinstance(index, FirstEventIndex) and index.criterion == n:
                raise ValueError(
                    f"criterion {n} is the index criterion: its dates cannot be counted from "
                    "the index date it sets (give a calendar window, or index on another)"
                )
        return self

    def data_domains(self) -> frozenset[str]:
        """The data domains the cohort reads: ``omop``, ``imaging`` for an imaging criterion,
        ``pathology`` for a slide criterion (a task reading a domain needs a project approved
        for it)."""
        return frozenset({"omop"}) | {
            DATA_DOMAINS[c.domain] for c in self.criteria if c.domain in DATA_DOMAINS
        }

    def calendar_dates(self) -> list[str]:
        """Where the cohort names a calendar date (a fixed index, a criterion's window), in
        words: what means something else for each person where dates are shifted per person
        (a pool)."""
        found = ["a fixed index date"] if isinstance(self.index, FixedIndex) else []
        for n, criterion in enumerate(self.criteria):
            window = getattr(criterion, "window", None)
            if window is not None and (window.start is not None or window.end is not None):
                found.append(f"criterion {n}'s window")
        return found

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
