"""The node part of the count analysis: how many distinct persons are in a cohort.

The number returned is exact, so not yet safe to release: it must pass the node's disclosure
gate before it leaves the node (the gate and the hub part live elsewhere).
"""

from __future__ import annotations

from pyroaring import BitMap

from fivesafes.cohorts.circe import CirceCohort
from fivesafes.cohorts.compile import cohort_ids, cohort_size
from fivesafes.cohorts.concepts import check_concepts
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.compiled import fetch
from fivesafes.data.source import OmopDatabase
from fivesafes.sdc.differencing import person_set


def count_persons(db: OmopDatabase, cohort: Cohort | CirceCohort) -> int:
    """The number of distinct persons in ``cohort`` on ``db``.

    Raises :class:`~fivesafes.cohorts.concepts.UnknownConceptError` first when the cohort
    names concept ids the node's vocabulary lacks.
    """
    check_concepts(cohort, db)
    return int(fetch(db, cohort_size, cohort=cohort).column("persons")[0].as_py())


def cohort_person_set(db: OmopDatabase, cohort: Cohort | CirceCohort) -> BitMap:
    """The distinct persons in ``cohort`` as a compact set: the count is its size, and the
    set is what the node remembers of a released output for its differencing defence."""
    check_concepts(cohort, db)
    ids = fetch(db, cohort_ids, cohort=cohort)
    return person_set(ids.column("person_id").to_numpy())
