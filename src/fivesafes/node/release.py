"""Releasing a gated output: the last step at the node before a result is signed and sent.

An output that releases any value has its population(s) checked for differencing against
everything this project was already given (``fivesafes.sdc.differencing``), and each is then
remembered; suppression markers alone are sent as they are. Fails closed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pyroaring import AbstractBitMap

from fivesafes.node.outcome import Outcome, Release
from fivesafes.node.person_sets import PersonSetStore
from fivesafes.protocol.models import MAX_COLLIDING_RUNS
from fivesafes.protocol.runs import ReasonCode
from fivesafes.sdc.differencing import NEW_OUTPUT, Finding, ReleasedSet, check_population
from fivesafes.sdc.profiles import Profile

log = logging.getLogger("fivesafes.node.runner")


def release(
    project_id: str,
    key: str,
    persons: AbstractBitMap,
    output: dict[str, Any],
    released: bool,
    profile: Profile,
    person_sets: PersonSetStore,
    also_checked: Sequence[AbstractBitMap] = (),
) -> Outcome:
    """Send ``output``. If it releases any value, its population ``persons`` (and any other
    population it releases, ``also_checked``) is first checked for differencing and then
    each is remembered; markers alone are sent as they are."""
    if not released:
        return Outcome("succeeded", output=output)
    for population in (persons, *also_checked):
        refusal = differencing_refusal(project_id, population, person_sets, profile)
        if refusal is not None:
            return refusal
    return Outcome("succeeded", output=output, release=Release(key, persons, tuple(also_checked)))


def differencing_refusal(
    project_id: str, persons: AbstractBitMap, person_sets: PersonSetStore, profile: Profile
) -> Outcome | None:
    """A refusal if ``persons`` is too close to what this project was already given; fails
    closed (an error in the check withholds the result)."""
    try:
        released = person_sets.released_sets(project_id)
        verdict = check_population(persons, released, profile.threshold)
    except Exception as exc:  # noqa: BLE001 - fail closed
        log.error(
            "the differencing check failed with %s; the result is withheld", type(exc).__name__
        )
        return Outcome("failed", ReasonCode.GATE_ERROR)
    if verdict.passed:
        return None
    for finding in verdict.findings:
        log.warning("differencing risk in project %s: %s", project_id, finding.reason())
    colliding = colliding_runs(verdict.findings, released)
    if profile.differencing == "review":
        return Outcome("refused", ReasonCode.HELD_FOR_REVIEW, colliding=colliding)
    return Outcome("refused", ReasonCode.DIFFERENCING_RISK, colliding=colliding)


def colliding_runs(findings: Sequence[Finding], released: Sequence[ReleasedSet]) -> tuple[str, ...]:
    """The runs whose released outputs the findings combine the new output with, in the order
    they were released, each once (a run of several rounds as the run): what the hub turns into
    the researcher's own earlier tasks."""
    named = {key for f in findings for key in f.operands if key != NEW_OUTPUT}
    runs = (r.run_id.split("/", 1)[0] for r in released if r.output_key in named)
    return tuple(dict.fromkeys(runs))[:MAX_COLLIDING_RUNS]
