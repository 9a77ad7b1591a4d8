"""The slide cohort criterion's query (``cohorts.criteria.SlideCriterion``): the node's
registered slides (``pathology_slide``, the ``pathology`` data domain) as events
(``person_id``, ``event_date``) the cohort compiler combines with every other criterion.

A slide's date is its specimen's (the CDM's ``specimen.specimen_date``, through the slide's
``specimen_id``): a slide linked to no person or no specimen is no event. Its stain is compared
with case and spaces ignored, so "H&E" finds "h & e"; ``site`` keeps the slides whose
specimen's ``anatomic_site_concept_id`` is one of the concepts given, either as ids or as a
concept set already expanded through ``concept_ancestor`` (the cohort compiler's, which owns
the vocabulary: this layer does not import it); ``predicted_by`` keeps the slides with a
prediction imported from one of the models named (``pathology_prediction``). Opted-out persons
are gone already: the view layer removes them from ``pathology_slide`` as from the CDM's tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ibis

    from fivesafes.data.source import OmopDatabase


def folded(stain: str) -> str:
    """A stain written one way: upper case, no spaces."""
    return "".join(stain.split()).upper()


def slide_events(
    db: OmopDatabase,
    *,
    stain: tuple[str, ...] | None = None,
    site: Sequence[int] | ibis.Table | None = None,
    predicted_by: tuple[str, ...] | None = None,
    start: date | None = None,
    end: date | None = None,
    with_slide: bool = False,
) -> ibis.Table:
    """The matching slides as events: columns ``person_id`` and ``event_date`` (and
    ``slide_id``, ``with_slide``: which slides, for a release by cohort). ``site`` is concept
    ids, or a table of them (a column ``concept_id``)."""
    slides = db.table("pathology_slide")
    specimens = db.table("specimen")
    dated = slides.join(specimens, slides.specimen_id == specimens.specimen_id)
    event_date = dated.specimen_date.cast("date")
    predicates = [dated.person_id.notnull(), event_date.notnull()]
    if stain is not None:
        written = dated.stain.upper().re_replace(r"\s+", "")
        predicates.append(written.isin(sorted({folded(s) for s in stain})))
    if site is not None:
        anatomic = dated.anatomic_site_concept_id
        if isinstance(site, Sequence):
            predicates.append(anatomic.isin(sorted(set(site))))
        else:
            predicates.append(anatomic.isin(site.concept_id))
    if predicted_by is not None:
        predictions = db.table("pathology_prediction")
        models = predictions.filter(predictions.model.isin(sorted(set(predicted_by))))
        predicates.append(dated.slide_id.isin(models.slide_id))
    if start is not None:
        predicates.append(event_date >= start)
    if end is not None:
        predicates.append(event_date <= end)
    found = dated.filter(*predicates)
    if with_slide:
        return found.select(person_id=dated.person_id, event_date=event_date,
                            slide_id=dated.slide_id)  # fmt: skip
    return found.select(person_id=dated.person_id, event_date=event_date)
