"""The hub part of the imaging summary: each node's released figures judged again under the
hub's profile, and the groups pooled over the nodes.

A node's summary is re-gated as it was gated: its persons with any series as a count (if the
hub's gate would hide it, nothing of that node's summary is passed on), each group's persons
as a count (a group the hub would hide is dropped, its series and studies with it), series
and studies rounded to the hub's base.

Pooling adds the released figures of each group over the nodes that listed it, and judges the
sums again the same way. A node that did not list a group (its persons there were under its
threshold, or it has none: the node does not say which) is named in ``nodes_not_listing``, and
the sums are then lower bounds, as a crosstab's cell some node suppressed is.
"""

from __future__ import annotations

from typing import Any

from fivesafes.analyses.imaging_summary.models import (
    Group,
    ImagingSummaryOutput,
    KindGroup,
    YearGroup,
)
from fivesafes.analyses.results.common import NONE_RELEASED
from fivesafes.imaging.summary import KIND, SCOPE, UNKNOWN, YEAR
from fivesafes.protocol.models import ReleasedCount
from fivesafes.sdc.counts import round_half_up
from fivesafes.sdc.gate import release_count
from fivesafes.sdc.profiles import Profile

HUB_THRESHOLD = "hub: threshold"


def _again(group: Group, profile: Profile) -> dict[str, Any] | None:
    """A released group's figures judged again: None if the hub's gate hides its persons."""
    persons = release_count(group.persons.value or 0, profile)
    if persons.suppressed:
        return None
    return {
        "persons": persons.model_dump(mode="json"),
        "series": round_half_up(group.series, profile.rounding_base),
        "studies": round_half_up(group.studies, profile.rounding_base),
    }


def regate_summary(output: ImagingSummaryOutput, profile: Profile) -> ImagingSummaryOutput:
    """A node's summary as the hub passes it on (see the module's docstring)."""
    if output.persons.value is None:
        return output
    persons = release_count(output.persons.value, profile)
    gate = output.gate
    if persons.suppressed:
        hidden = gate.model_copy(update={"verdict": "fail", "rules": [HUB_THRESHOLD]})
        return output.model_copy(
            update={"persons": persons, "kinds": [], "years": [], "gate": hidden}
        )
    dropped = False
    kinds: list[KindGroup] = []
    for kind in output.kinds:
        again = _again(kind, profile)
        dropped |= again is None
        if again is not None:
            kinds.append(KindGroup.model_validate({**kind.model_dump(mode="json"), **again}))
    years: list[YearGroup] = []
    for year in output.years:
        again = _again(year, profile)
        dropped |= again is None
        if again is not None:
            years.append(YearGroup.model_validate({**year.model_dump(mode="json"), **again}))
    if dropped:
        gate = gate.model_copy(update={"rules": sorted({*gate.rules, HUB_THRESHOLD})})
    return output.model_copy(
        update={"persons": persons, "kinds": kinds, "years": years, "gate": gate}
    )


def _pooled(
    per_node: dict[str, list[Group]], keys: tuple[str, ...], profile: Profile
) -> list[dict[str, Any]]:
    """Each group summed over the nodes that listed it, judged again, naming the others."""
    sums: dict[tuple[str, ...], dict[str, Any]] = {}
    for node, groups in sorted(per_node.items()):
        for group in groups:
            labels = tuple(str(getattr(group, key)) for key in keys)
            entry = sums.setdefault(
                labels, {"persons": 0, "series": 0, "studies": 0, "nodes": set()}
            )
            entry["persons"] += group.persons.value or 0
            entry["series"] += group.series
            entry["studies"] += group.studies
            entry["nodes"].add(node)
    pooled = []
    for labels, entry in sorted(sums.items(), key=lambda kv: [(v == UNKNOWN, v) for v in kv[0]]):
        persons = release_count(entry["persons"], profile)
        if persons.suppressed:
            continue
        pooled.append(
            {
                **dict(zip(keys, labels, strict=True)),
                "persons": persons.model_dump(mode="json"),
                "series": round_half_up(entry["series"], profile.rounding_base),
                "studies": round_half_up(entry["studies"], profile.rounding_base),
                "nodes_not_listing": sorted(set(per_node) - entry["nodes"]),
            }
        )
    return pooled


def combine_summaries(
    outputs: dict[str, ImagingSummaryOutput], missing: list[str], profile: Profile
) -> dict[str, Any]:
    """The persons with any series and every group, summed over the nodes that released them,
    each sum judged again; a node that released nothing is named as missing."""
    released = {n: o for n, o in outputs.items() if o.persons.value is not None}
    total = sum(o.persons.value or 0 for o in released.values())
    persons = (
        release_count(total, profile)
        if released
        else ReleasedCount(value=None, suppressed=True, rule=NONE_RELEASED)
    )
    kinds: dict[str, list[Group]] = {n: list(o.kinds) for n, o in released.items()}
    years: dict[str, list[Group]] = {n: list(o.years) for n, o in released.items()}
    return {
        "analysis": "imaging_summary",
        "scope": SCOPE,
        "persons": persons.model_dump(mode="json"),
        "kinds": _pooled(kinds, KIND, profile),
        "years": _pooled(years, YEAR, profile),
        "nodes_contributing": sorted(released),
        "nodes_missing": sorted({*missing, *(set(outputs) - set(released))}),
        "profile": profile.name,
    }
