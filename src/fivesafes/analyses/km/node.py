"""Kaplan-Meier's node part: per level of the factor, the coarsened life table as released
blocks (``curves.py``) and the node's own figure of how far their curve is from the exact one
(``accuracy.py``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pyroaring import BitMap

from fivesafes.analyses.catalogue import VARIABLES
from fivesafes.analyses.km.accuracy import measured_accuracy
from fivesafes.analyses.km.curves import ALL, blocks, edges, life_table, rounded, to_wire
from fivesafes.analyses.km.models import KaplanMeierGroup, KaplanMeierParameters
from fivesafes.analyses.variables import analysis_frame
from fivesafes.data.source import OmopDatabase
from fivesafes.sdc.differencing import person_set
from fivesafes.sdc.profiles import Profile


@dataclass(frozen=True)
class NodeSurvival:
    """One node's survival by group: everyone with a time (the differencing population) and
    per level, the persons in it and its released form."""

    persons: BitMap
    groups: list[tuple[str, int, KaplanMeierGroup]]  # level, persons, released group
    released: bool


def node_survival(
    db: OmopDatabase, parameters: KaplanMeierParameters, profile: Profile
) -> NodeSurvival:
    """The node's coarsened life tables per level, judged by the survival rule."""
    names = [str(parameters.time)] + ([str(parameters.by)] if parameters.by else [])
    frame = analysis_frame(db, parameters.cohort, names)
    times = frame.columns[parameters.time]
    events = frame.columns[f"{parameters.time}_event"]
    keep = ~np.isnan(times) & (times > 0)
    if parameters.by is not None:
        codes = frame.columns[parameters.by]
        keep &= codes >= 0 if VARIABLES[parameters.by].kind == "categorical" else ~np.isnan(codes)
        labels = _levels(parameters.by)
    else:
        codes = np.zeros(len(times))
        labels = (ALL,)
    grid = edges(parameters.interval, parameters.horizon)
    groups: list[tuple[str, int, KaplanMeierGroup]] = []
    contributors: list[npt.NDArray[np.int64]] = []
    for code, level in enumerate(labels):
        member = keep & (codes == code)
        persons = int(member.sum())
        group = judged_group(level, times[member], events[member], grid, profile)
        if not group.suppressed:
            contributors.append(frame.person_ids[member])
        groups.append((level, persons, group))
    everyone = np.concatenate(contributors) if contributors else np.array([], dtype=np.int64)
    return NodeSurvival(person_set(everyone), groups, bool(contributors))


def _levels(name: str) -> tuple[str, ...]:
    variable = VARIABLES[name]
    return variable.levels if variable.kind == "categorical" else ("no", "yes")


def judged_group(
    level: str,
    times: npt.NDArray[np.float64],
    events: npt.NDArray[np.float64],
    grid: npt.NDArray[np.float64],
    profile: Profile,
) -> KaplanMeierGroup:
    """One level's released form: its blocks under the survival rule, their counts rounded
    cumulatively, and the node's figure for them; or a suppression marker."""
    if len(times) < profile.threshold:
        return KaplanMeierGroup(
            level=level, blocks=[], suppressed=True, rule=f"fewer than {profile.threshold} persons"
        )
    shown = blocks(life_table(times, events, grid), grid, profile.threshold)
    if not shown:  # cannot happen with threshold persons, all of whom leave by the horizon
        return KaplanMeierGroup(level=level, blocks=[], suppressed=True, rule="no step to show")
    released = rounded(shown, profile.rounding_base)
    return KaplanMeierGroup(
        level=level,
        blocks=to_wire(released),
        suppressed=False,
        rule=(
            f"intervals merged until {profile.threshold} persons left; "
            f"cumulative counts rounded to {profile.rounding_base}"
        ),
        accuracy=measured_accuracy(times, events, released, profile.rounding_base),
    )
