"""The node part of an imaging extract: which series, the node's job that builds and holds the
extract, and the gate on what the node tells the hub.

**Which series.** The cohort's persons' series in the node's index (``imaging_series``,
through the view layer: opted-out persons are gone), those matching ``series`` if given
(``imaging.cohort.matching_series``), else all of theirs. Only linked series have a person.

**The extract** is built by the node's job (``NodeContext.jobs``, ``analyses.jobs``): this
part hands it the series' UIDs and the options and gets back counts; the job checks the
custodian's extraction approval first and refuses otherwise (``extraction_not_approved``,
``extraction_options_not_allowed``). A node without jobs refuses (``analysis_not_allowed``).
No series: nothing is built, and nothing is held.

**The gate**, under the node's profile: the persons whose series were chosen are judged as a
count (threshold; a lone zero is never released) and are the population the differencing
check records; if they are suppressed, nothing else is said (``fail``). Otherwise the series
and every file figure are judged as table cells (released rounded, or a marker), and each
reason a figure is split by is listed only when some file had it. The extract is held at the
node whatever the hub is told: the node's output checkers see it in full.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pyroaring import BitMap

from fivesafes.analyses.imaging_extract.models import ImagingExtractParameters
from fivesafes.analyses.jobs import ExtractOrder
from fivesafes.analyses.plugin import NodeContext, Refused
from fivesafes.cohorts.compile import cohort_ids
from fivesafes.cohorts.concepts import check_concepts
from fivesafes.data.source import OmopDatabase
from fivesafes.imaging.cohort import matching_series
from fivesafes.protocol.models import ReleasedCount
from fivesafes.protocol.runs import ReasonCode
from fivesafes.sdc.differencing import person_set
from fivesafes.sdc.gate import release_cell
from fivesafes.sdc.profiles import Profile

REASONED = ("rejected", "failed_verification", "unreadable")
COUNTED = ("files", "written", "not_local")
NOT_SAID = "not said: the persons are suppressed"
NO_DEADLINE_SECONDS = 3600.0  # a job's deadline when the node gave the run none


@dataclass(frozen=True)
class NodeExtract:
    """What the node found and built (it stays at the node): the persons whose series were
    chosen, how many series, whether an extract is held, and the job's report in counts."""

    persons: BitMap
    series: int
    held: bool
    report: dict[str, Any]


def chosen_series(
    db: OmopDatabase, parameters: ImagingExtractParameters
) -> tuple[BitMap, list[str]]:
    """The persons and the SeriesInstanceUIDs of the series the extract holds."""
    cohort = parameters.cohort
    check_concepts(cohort, db)
    persons = cohort_ids(db, cohort=cohort)
    criterion = parameters.series
    window = criterion.window if criterion is not None else None
    series = matching_series(
        db,
        modality=criterion.modality if criterion else None,
        body_part=criterion.body_part if criterion else None,
        contrast=criterion.contrast if criterion else None,
        description=criterion.description if criterion else None,
        min_slices=criterion.min_slices if criterion else None,
        start=window.start if window is not None else None,
        end=window.end if window is not None else None,
    )
    ids = persons.select(cohort_person=persons.person_id)
    mine = series.join(ids, series.person_id == ids.cohort_person)
    rows = mine.select("person_id", "series_instance_uid").distinct().to_pyarrow()
    chosen = person_set(rows.column("person_id").to_numpy(zero_copy_only=False).astype("int64"))
    return chosen, sorted(set(rows.column("series_instance_uid").to_pylist()))


def build(parameters: ImagingExtractParameters, context: NodeContext) -> NodeExtract:
    """Choose the series and have the node's job build and hold their extract."""
    if context.jobs is None or context.task is None:
        raise Refused(ReasonCode.ANALYSIS_NOT_ALLOWED)
    persons, series = chosen_series(context.db, parameters)
    if not series:
        return NodeExtract(persons, 0, False, {})
    task = context.task
    deadline = context.deadline or time.time() + NO_DEADLINE_SECONDS
    order = ExtractOrder(
        project_id=task.project_id,
        task_id=task.task_id,
        requester=task.requester,
        series=tuple(series),
        options=parameters.options,
        deadline=deadline,
    )
    built = context.jobs.build_extract(order)
    return NodeExtract(persons, len(series), True, built.report)


def figures(report: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """The file figures of a job's report, each judged as a table cell."""

    def cell(value: Any) -> dict[str, Any]:
        return release_cell(int(value or 0), profile).model_dump(mode="json")

    out: dict[str, Any] = {name: cell(report.get(name)) for name in COUNTED}
    duplicates = report.get("duplicates") or {}
    out["duplicates"] = cell(sum(int(v) for v in duplicates.values()))
    for name in REASONED:
        found = report.get(name) or {}
        out[name] = {str(k): cell(v) for k, v in sorted(found.items()) if int(v) > 0}
    return out


def not_said() -> dict[str, Any]:
    """The marker of a figure not said because the persons were suppressed."""
    return ReleasedCount(value=None, suppressed=True, rule=NOT_SAID).model_dump(mode="json")
