"""Check a cohort's concept ids against the node's OMOP vocabulary.

A concept id that a node's ``concept`` table does not hold would silently match nothing, and
a count of zero is a wrong answer, not an answer. So a cohort naming unknown concepts is
refused with :class:`UnknownConceptError`, which lists them: concept ids are public
vocabulary, not patient data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fivesafes.cohorts.circe import CirceCohort
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.compiled import fetch
from fivesafes.data.source import OmopDatabase

if TYPE_CHECKING:
    import ibis

_SHOWN = 20


class UnknownConceptError(ValueError):
    """The cohort names concept ids that are not in the node's ``concept`` table."""

    def __init__(self, concept_ids: frozenset[int]) -> None:
        self.concept_ids = tuple(sorted(concept_ids))
        shown = ", ".join(str(c) for c in self.concept_ids[:_SHOWN])
        more = len(self.concept_ids) - _SHOWN
        suffix = f" and {more} more" if more > 0 else ""
        super().__init__(f"unknown concept ids: {shown}{suffix}")


def unknown_concepts(cohort: Cohort | CirceCohort, db: OmopDatabase) -> frozenset[int]:
    """The concept ids ``cohort`` names that ``db``'s ``concept`` table lacks."""
    wanted = cohort.concept_ids()
    if not wanted:
        return frozenset()
    known = fetch(db, known_concepts, ids=sorted(wanted)).column("concept_id").to_pylist()
    return wanted - frozenset(int(c) for c in known)


def known_concepts(db: OmopDatabase, *, ids: list[int]) -> ibis.Table:
    """Which of ``ids`` the ``concept`` table holds (its SQL compiled once per list of ids)."""
    concept = db.table("concept")
    return concept.filter(concept.concept_id.isin(ids)).select("concept_id").distinct()


def check_concepts(cohort: Cohort | CirceCohort, db: OmopDatabase) -> None:
    """Raise :class:`UnknownConceptError` unless every concept id is known to ``db``."""
    unknown = unknown_concepts(cohort, db)
    if unknown:
        raise UnknownConceptError(unknown)


def can_use_concepts(cohort: Cohort | CirceCohort, db: OmopDatabase) -> bool:
    """Whether every concept id ``cohort`` names is known to ``db``."""
    return not unknown_concepts(cohort, db)
