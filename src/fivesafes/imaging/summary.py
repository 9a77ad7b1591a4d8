"""The imaging summary's node query: what imaging a cohort's persons have, from the node's
index, as the ``imaging_summary`` analysis (``fivesafes.analyses.imaging_summary``) releases it
after its gate.

Given the cohort's persons (an Ibis table with a ``person_id`` column), **every series of
theirs** in ``imaging_series`` is summarised, whether or not it matches the cohort's imaging
criteria: the question is "what imaging do these persons have", the one a researcher scoping an
extract asks. The table is read through the view layer (``db.table``), so an opted-out person's
series are gone before anything is counted. Only series linked to a person are read (an
unlinked series has no ``person_id``, so it joins no cohort).

Two groupings of the same series, each group with three counts (series, studies, distinct
persons), all exact here (the gate suppresses and rounds them):

| grouping               | groups                                            |
| ---------------------- | ------------------------------------------------- |
| kind (:func:`by_kind`) | modality, body part and contrast                  |
| year (:func:`by_year`) | year of the series date, else of the study date   |

Every label is from a closed vocabulary, never free text of a header: a modality that is not
one of DICOM's defined terms is ``other`` and a missing one ``unknown``; a body part outside
the shipped vocabulary is ``other`` and a missing one ``unknown``; contrast is ``yes``, ``no``
or ``unknown``; a series with neither date is in the year ``unknown``. Every series is in
exactly one group of each grouping, so both count the same persons (:func:`imaged_persons`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis

from fivesafes.imaging.cohort import CONTRAST, MODALITIES, body_part_terms

if TYPE_CHECKING:
    from fivesafes.data.source import OmopDatabase

UNKNOWN = "unknown"
OTHER = "other"
KIND = ("modality", "body_part", "contrast")
YEAR = ("year",)
COUNTS = ("series", "studies", "persons")
SCOPE = "every series of the cohort's persons"
"""What is summarised, in words (the result says it)."""


def cohort_series(db: OmopDatabase, persons: ibis.Table) -> ibis.Table:
    """The series of ``persons`` (one row per series): ``person_id``,
    ``study_instance_uid``, ``series_instance_uid`` and the labels ``modality``,
    ``body_part``, ``contrast`` and ``year``, each from its closed vocabulary."""
    series = db.table("imaging_series")
    ids = persons.select(cohort_person=persons.person_id).distinct()
    mine = series.filter(series.person_id.notnull()).join(
        ids, series.person_id == ids.cohort_person
    )
    modality = mine.modality.upper()
    body_part = mine.body_part
    contrast = mine.contrast
    dated = ibis.coalesce(mine.series_date, mine.study_date)
    return mine.select(
        person_id=mine.person_id,
        study_instance_uid=mine.study_instance_uid,
        series_instance_uid=mine.series_instance_uid,
        modality=modality.isnull().ifelse(
            ibis.literal(UNKNOWN),
            modality.isin(sorted(MODALITIES)).ifelse(modality, ibis.literal(OTHER)),
        ),
        body_part=body_part.isnull().ifelse(
            ibis.literal(UNKNOWN),
            body_part.isin(sorted(body_part_terms())).ifelse(body_part, ibis.literal(OTHER)),
        ),
        contrast=contrast.isin(list(CONTRAST)).ifelse(contrast, ibis.literal(UNKNOWN)),
        year=dated.year().cast("string").fill_null(UNKNOWN),
    )


def _grouped(series: ibis.Table, keys: tuple[str, ...]) -> ibis.Table:
    return series.group_by(list(keys)).aggregate(
        series=series.series_instance_uid.nunique(),
        studies=series.study_instance_uid.nunique(),
        persons=series.person_id.nunique(),
    )


def by_kind(series: ibis.Table) -> ibis.Table:
    """Per modality, body part and contrast of :func:`cohort_series`: how many series, studies
    and distinct persons."""
    return _grouped(series, KIND)


def by_year(series: ibis.Table) -> ibis.Table:
    """Per year (of the series date, else the study date; ``unknown`` without either) of
    :func:`cohort_series`: how many series, studies and distinct persons."""
    return _grouped(series, YEAR)


def imaged_persons(series: ibis.Table) -> ibis.Table:
    """The distinct persons with any series of :func:`cohort_series` (``person_id``): everyone
    counted in either grouping."""
    return series.select("person_id").distinct()
