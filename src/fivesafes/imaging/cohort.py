"""The imaging cohort criterion's query: the series of the node's index that match, as events
(``person_id``, ``event_date``) the cohort compiler (``fivesafes.cohorts.compile``) combines
with every clinical criterion.

What a criterion may ask, and how each is read from ``imaging_series`` (``tables.py``):

- ``modality``: the series' Modality, a DICOM defined term (:data:`MODALITIES`);
- ``body_part``: the body part the rules decided; a term also finds the combined regions
  that include it (CHEST finds CHESTABDOMEN and CHESTABDPELVIS: the vocabulary's
  ``includes``);
- ``contrast``: yes / no / unknown, rolled up to the series (yes if any image says so);
- ``description``: found in the series description, case ignored;
- ``min_slices``: the least number of the series' frames (``n_frames``: one per
  single-frame image, each frame of a multi-frame image);
- a window: on the series date, else the study date.

Only series linked to a person of the node are events (``person_id`` is null otherwise: the
index counts them unlinked), and only dated ones: a series with neither a series nor a study
date matches no imaging criterion (the index's report counts them). Opted-out persons are
gone already: the view layer removes them from the imaging tables as from the CDM's.

The body part terms are the shipped rules file's vocabulary (``rules.toml``), the platform's
controlled vocabulary: a node's own rules file maps its texts onto these terms, so one
criterion means the same at every node.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ibis

    from fivesafes.data.source import OmopDatabase

MODALITIES = frozenset(
    {
        "AR", "AU", "BDUS", "BI", "BMD", "CR", "CT", "DG", "DOC", "DX", "ECG", "EPS", "ES",
        "GM", "HC", "HD", "IO", "IVOCT", "IVUS", "KER", "KO", "LEN", "LS", "MG", "MR", "NM",
        "OAM", "OCT", "OP", "OPM", "OPT", "OPV", "OSS", "OT", "PLAN", "PR", "PT", "PX", "REG",
        "RESP", "RF", "RG", "RTDOSE", "RTIMAGE", "RTPLAN", "RTRECORD", "RTSTRUCT", "RWV",
        "SEG", "SM", "SMR", "SR", "SRF", "STAIN", "TG", "US", "VA", "XA", "XC",
    }
)  # fmt: skip
"""DICOM's defined terms for Modality (PS3.3 C.7.3.1.1.1) that a series may carry."""

CONTRAST = ("yes", "no", "unknown")
MAX_DESCRIPTION = 64


@cache
def body_part_terms() -> frozenset[str]:
    """The controlled vocabulary of body parts (the shipped rules file's)."""
    from fivesafes.imaging.rules import load_rules

    return frozenset(load_rules().vocabulary)


def covering(terms: tuple[str, ...]) -> list[str]:
    """``terms`` and every term of the vocabulary that includes one of them, sorted."""
    from fivesafes.imaging.rules import load_rules

    rules = load_rules()
    return sorted(set().union(*(rules.includes(term) for term in terms)))


def series_events(
    db: OmopDatabase,
    *,
    modality: tuple[str, ...] | None = None,
    body_part: tuple[str, ...] | None = None,
    contrast: tuple[str, ...] | None = None,
    description: str | None = None,
    min_slices: int | None = None,
    start: date | None = None,
    end: date | None = None,
) -> ibis.Table:
    """The matching series as events: columns ``person_id`` and ``event_date``."""
    series = matching_series(
        db,
        modality=modality,
        body_part=body_part,
        contrast=contrast,
        description=description,
        min_slices=min_slices,
        start=start,
        end=end,
    )
    return series.select(person_id=series.person_id, event_date=series.event_date)


def matching_series(
    db: OmopDatabase,
    *,
    modality: tuple[str, ...] | None = None,
    body_part: tuple[str, ...] | None = None,
    contrast: tuple[str, ...] | None = None,
    description: str | None = None,
    min_slices: int | None = None,
    start: date | None = None,
    end: date | None = None,
) -> ibis.Table:
    """The matching series: ``person_id``, ``series_instance_uid``, ``study_instance_uid``
    and ``event_date`` (what an imaging extract selects: ``analyses.imaging_extract``)."""
    import ibis

    series = db.table("imaging_series")
    event_date = ibis.coalesce(series.series_date, series.study_date)
    predicates = [series.person_id.notnull(), event_date.notnull()]
    if modality is not None:
        predicates.append(series.modality.isin(sorted(set(modality))))
    if body_part is not None:
        predicates.append(series.body_part.isin(covering(body_part)))
    if contrast is not None:
        predicates.append(series.contrast.isin(sorted(set(contrast))))
    if description is not None:
        predicates.append(series.series_description.upper().contains(description.upper()))
    if min_slices is not None:
        predicates.append(series.n_frames >= min_slices)
    if start is not None:
        predicates.append(event_date >= start)
    if end is not None:
        predicates.append(event_date <= end)
    return series.filter(*predicates).select(
        person_id=series.person_id,
        series_instance_uid=series.series_instance_uid,
        study_instance_uid=series.study_instance_uid,
        event_date=event_date.cast("date"),
    )
