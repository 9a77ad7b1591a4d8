"""The node part of the imaging summary: the cohort's persons' series grouped by kind and by
year (``fivesafes.imaging.summary``, every series of theirs), and the gate that decides which
groups leave.

The gate, under the node's profile:

- the **persons with any series** are judged as a count (threshold; a lone zero is never
  released): released rounded, or nothing of the summary leaves (``fail``);
- each group's **distinct persons** are judged as a table cell (threshold; a group is never
  empty): released rounded, or the group is not listed at all, its series and studies with it;
- a listed group's **series and studies** are rounded to the profile's base.

A group under the threshold is left out rather than sent as a marker: the groups come from the
node's data, not from an agreed grid, so a marker would announce that such a group exists.
The persons with any series (everyone counted in either grouping) are the population the
differencing check records, as a crosstab's whole table is; single groups are not checked
against other outputs (docs/analyses.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis
import pandas as pd
from pyroaring import BitMap

from fivesafes.analyses.imaging_summary.models import ImagingSummaryParameters
from fivesafes.cohorts.circe import CirceCohort
from fivesafes.cohorts.compile import cohort_ids
from fivesafes.cohorts.concepts import check_concepts
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.compiled import fetch
from fivesafes.data.source import OmopDatabase
from fivesafes.imaging.summary import (
    COUNTS,
    KIND,
    UNKNOWN,
    YEAR,
    by_kind,
    by_year,
    cohort_series,
    imaged_persons,
)
from fivesafes.sdc.counts import round_half_up
from fivesafes.sdc.differencing import person_set
from fivesafes.sdc.gate import release_count
from fivesafes.sdc.profiles import Profile


@dataclass(frozen=True)
class NodeImaging:
    """What the node found (it stays at the node): the persons with any series, and the exact
    counts per kind and per year."""

    persons: BitMap
    kinds: pd.DataFrame  # modality, body_part, contrast, series, studies, persons
    years: pd.DataFrame  # year, series, studies, persons


def kinds_query(db: OmopDatabase, *, cohort: Cohort | CirceCohort) -> ibis.Table:
    """Series, studies and persons per kind of the cohort's persons' series."""
    return by_kind(cohort_series(db, cohort_ids(db, cohort=cohort)))


def years_query(db: OmopDatabase, *, cohort: Cohort | CirceCohort) -> ibis.Table:
    """Series, studies and persons per year of the cohort's persons' series."""
    return by_year(cohort_series(db, cohort_ids(db, cohort=cohort)))


def persons_query(db: OmopDatabase, *, cohort: Cohort | CirceCohort) -> ibis.Table:
    """The cohort's persons with any series."""
    return imaged_persons(cohort_series(db, cohort_ids(db, cohort=cohort)))


def summarise(db: OmopDatabase, parameters: ImagingSummaryParameters) -> NodeImaging:
    """The exact summary of ``parameters.cohort`` on ``db`` (each query's SQL compiled once
    per cohort, data source and opt-out list: ``fivesafes.data.compiled``)."""
    cohort = parameters.cohort
    check_concepts(cohort, db)
    kinds = fetch(db, kinds_query, cohort=cohort).to_pandas()
    years = fetch(db, years_query, cohort=cohort).to_pandas()
    ids = fetch(db, persons_query, cohort=cohort).column("person_id")
    persons = person_set(ids.to_numpy(zero_copy_only=False).astype("int64"))
    return NodeImaging(persons, kinds, years)


def released_groups(
    frame: pd.DataFrame, keys: tuple[str, ...], profile: Profile
) -> tuple[list[dict[str, Any]], bool]:
    """The groups of ``frame`` whose distinct persons pass the gate as a table cell, each with
    its persons released (rounded) and its series and studies rounded to the profile's base,
    in the order of their labels (``unknown`` last); and whether any group was left out."""
    listed: list[dict[str, Any]] = []
    left_out = False
    for row in frame.to_dict("records"):
        persons = release_count(int(row["persons"]), profile)
        if persons.suppressed:
            left_out = True
            continue
        group: dict[str, Any] = {key: str(row[key]) for key in keys}
        group["persons"] = persons.model_dump(mode="json")
        for name in COUNTS[:2]:
            group[name] = round_half_up(int(row[name]), profile.rounding_base)
        listed.append(group)
    listed.sort(key=lambda g: tuple((g[key] == UNKNOWN, g[key]) for key in keys))
    return listed, left_out


__all__ = [
    "KIND",
    "YEAR",
    "NodeImaging",
    "kinds_query",
    "persons_query",
    "released_groups",
    "summarise",
    "years_query",
]
