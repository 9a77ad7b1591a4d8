"""The hub part of an imaging extract: each node's answer judged again under the hub's
profile, and the persons and written files summed over the nodes.

A node's persons are judged again as a count: if the hub's gate would hide them, nothing else
of that node's answer is passed on (as at the node). Every other figure is judged again as a
table cell. The sums are judged again the same way; ``nodes_holding`` names the nodes that
hold an extract for their output checkers (said only by a node whose persons were released).
"""

from __future__ import annotations

from typing import Any

from fivesafes.analyses.imaging_extract.models import ImagingExtractOutput
from fivesafes.analyses.imaging_extract.node import not_said
from fivesafes.analyses.results.common import NONE_RELEASED
from fivesafes.protocol.models import ReleasedCount
from fivesafes.sdc.gate import release_cell, release_count
from fivesafes.sdc.profiles import Profile

HUB_THRESHOLD = "hub: threshold"


def _cell(count: ReleasedCount, profile: Profile) -> dict[str, Any]:
    if count.value is None:
        return count.model_dump(mode="json")
    return release_cell(count.value, profile).model_dump(mode="json")


def regate_extract(output: ImagingExtractOutput, profile: Profile) -> dict[str, Any]:
    """A node's answer as the hub passes it on (see the module's docstring)."""
    document = output.model_dump(mode="json")
    if output.persons.value is None:
        return document
    persons = release_count(output.persons.value, profile)
    if persons.suppressed:
        gate = {**document["gate"], "verdict": "fail", "rules": [HUB_THRESHOLD]}
        return {
            **document,
            "persons": persons.model_dump(mode="json"),
            "series": not_said(),
            "held": None,
            "figures": None,
            "gate": gate,
        }
    document["persons"] = persons.model_dump(mode="json")
    document["series"] = _cell(output.series, profile)
    if output.figures is not None:
        figures = output.figures
        again: dict[str, Any] = {}
        for name in ("files", "written", "duplicates", "not_local"):
            again[name] = _cell(getattr(figures, name), profile)
        for name in ("rejected", "failed_verification", "unreadable"):
            again[name] = {k: _cell(v, profile) for k, v in getattr(figures, name).items()}
        document["figures"] = again
    return ImagingExtractOutput.model_validate(document).model_dump(mode="json")


def combine_extracts(
    outputs: dict[str, ImagingExtractOutput], missing: list[str], profile: Profile
) -> dict[str, Any]:
    """The persons and written files summed over the nodes that released them, judged again;
    a node that released nothing is named as missing."""
    released = {n: o for n, o in sorted(outputs.items()) if o.persons.value is not None}
    persons = sum(o.persons.value or 0 for o in released.values())
    written = sum(o.figures.written.value or 0 for o in released.values() if o.figures is not None)
    withheld = sorted(set(outputs) - set(released))
    return {
        "analysis": "imaging_extract",
        "persons": (
            release_count(persons, profile)
            if released
            else ReleasedCount(value=None, suppressed=True, rule=NONE_RELEASED)
        ).model_dump(mode="json"),
        "written": release_cell(written, profile).model_dump(mode="json"),
        "nodes_holding": [n for n, o in released.items() if o.held],
        "nodes_contributing": sorted(released),
        "nodes_missing": sorted({*missing, *withheld}),
        "profile": profile.name,
    }
