"""Attrition: how many persons remain after each step of a cohort definition.

The steps, each applied on top of the ones before:

| definition        | steps                                                                  |
| ----------------- | ---------------------------------------------------------------------- |
| OHDSI Circe       | initial events (primary criteria, qualifying limit), then each         |
|                   | inclusion rule in order (by its name); the last step is the cohort     |
| the platform's    | persons with an index date (the index criterion, a fixed date, or an   |
| own model         | observation period), then sex, age at index, and each other criterion  |

A Circe step is the cohort with only the first k inclusion rules, compiled by circepy, so the
persons counted are exactly those the full definition would keep at that point.

**The gate.** Every step is a count of distinct persons, released as the gate releases any
count (under the threshold suppressed, otherwise rounded). Two released counts of nested
populations also tell, by subtraction, how many persons a step removed, so a step is released
only if it removed none or at least the threshold of persons since the last released step;
otherwise it is suppressed ("fewer than N persons removed since the last step shown"), and the
next step is compared with the last one shown. Every released step's population is checked for
differencing like any output (``fivesafes.node.runner``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyroaring import BitMap

from fivesafes.analyses.attrition.models import AttritionOutput, AttritionStep
from fivesafes.cohorts.circe import CirceCohort
from fivesafes.cohorts.compile import cohort_ids
from fivesafes.cohorts.concepts import check_concepts
from fivesafes.cohorts.criteria import Cohort, FirstEventIndex
from fivesafes.data.compiled import fetch
from fivesafes.data.source import OmopDatabase
from fivesafes.protocol.models import ReleasedCount
from fivesafes.sdc.differencing import person_set
from fivesafes.sdc.gate import release_count
from fivesafes.sdc.profiles import Profile


@dataclass(frozen=True)
class Step:
    name: str
    persons: BitMap


def steps(cohort: Cohort | CirceCohort, db: OmopDatabase) -> list[Step]:
    """Each step's persons, in order (the last is the whole cohort)."""
    check_concepts(cohort, db)
    return [Step(name, _persons(part, db)) for name, part in partial_cohorts(cohort)]


def _persons(cohort: Cohort | CirceCohort, db: OmopDatabase) -> BitMap:
    ids = fetch(db, cohort_ids, cohort=cohort).column("person_id")  # compiled once per step
    return person_set(ids.to_numpy(zero_copy_only=False))


def partial_cohorts(cohort: Cohort | CirceCohort) -> list[tuple[str, Cohort | CirceCohort]]:
    """The definition cut after each step: (the step's name, the cohort up to it)."""
    if isinstance(cohort, CirceCohort):
        return _circe_parts(cohort)
    return _own_parts(cohort)


def _circe_parts(cohort: CirceCohort) -> list[tuple[str, Cohort | CirceCohort]]:
    key = "InclusionRules" if "InclusionRules" in cohort.circe else "inclusionRules"
    rules: list[dict[str, Any]] = list(cohort.circe.get(key) or [])
    parts: list[tuple[str, Cohort | CirceCohort]] = []
    for k in range(len(rules) + 1):
        name = "initial events" if k == 0 else str(rules[k - 1].get("name") or f"rule {k}")
        cut = cohort.model_copy(update={"circe": {**cohort.circe, key: rules[:k]}})
        parts.append((name, cut))
    return parts


def _own_parts(cohort: Cohort) -> list[tuple[str, Cohort | CirceCohort]]:
    index = cohort.effective_index()
    criteria = list(cohort.criteria)
    first: list[Any] = []
    if isinstance(index, FirstEventIndex):
        first = [criteria.pop(index.criterion)]
        index = FirstEventIndex(type="first_event", criterion=0)
    base = Cohort(name=cohort.name, index=index, criteria=tuple(first))
    parts: list[tuple[str, Cohort | CirceCohort]] = [("persons with an index date", base)]
    if cohort.sex is not None:
        base = base.model_copy(update={"sex": cohort.sex})
        parts.append((f"sex: {' or '.join(cohort.sex)}", base))
    if cohort.age is not None:
        base = base.model_copy(update={"age": cohort.age})
        parts.append(("age at index", base))
    for n, criterion in enumerate(criteria, start=1):
        base = base.model_copy(update={"criteria": (*base.criteria, criterion)})
        verb = "without" if criterion.exclude else "with"
        parts.append((f"criterion {n}: {verb} {criterion.domain} {criterion.describe()}", base))
    return parts


def released_steps(found: list[Step], profile: Profile) -> tuple[list[AttritionStep], list[BitMap]]:
    """Each step's released count (see the module's text for the rule on removed persons),
    and the populations of the steps released."""
    shown: list[AttritionStep] = []
    populations: list[BitMap] = []
    last: int | None = None
    for step in found:
        n = len(step.persons)
        count = release_count(n, profile)
        if not count.suppressed and last is not None and 0 < last - n < profile.threshold:
            count = ReleasedCount(
                value=None,
                suppressed=True,
                rule=f"fewer than {profile.threshold} persons removed since the last step shown",
            )
        if not count.suppressed:
            last = n
            populations.append(step.persons)
        shown.append(AttritionStep(name=step.name, count=count))
    return shown, populations


# ---- hub ----------------------------------------------------------------------------------


def regate(output: AttritionOutput, profile: Profile) -> AttritionOutput:
    """A node's attrition as the hub passes it on: each released count judged again."""
    steps_ = [
        s
        if s.count.value is None
        else s.model_copy(update={"count": release_count(s.count.value, profile)})
        for s in output.steps
    ]
    gate = output.gate
    if gate.verdict == "pass" and all(s.count.suppressed for s in steps_):
        gate = gate.model_copy(update={"verdict": "fail", "rules": [*gate.rules, "hub: threshold"]})
    return output.model_copy(update={"steps": steps_, "gate": gate})


def combine(
    outputs: dict[str, AttritionOutput], missing: list[str], profile: Profile
) -> dict[str, Any]:
    """Per step, the sum of the nodes' released counts, judged again; a step some node
    suppressed is a lower bound naming those nodes."""
    names = next((o.steps for o in outputs.values()), [])
    combined = []
    for k, step in enumerate(names):
        released = {n: o.steps[k].count.value for n, o in outputs.items() if k < len(o.steps)}
        shown = [v for v in released.values() if v is not None]
        count = (
            release_count(sum(shown), profile)
            if shown
            else ReleasedCount(value=None, suppressed=True, rule="no node released this step")
        )
        combined.append(
            {
                "name": step.name,
                "count": count.model_dump(mode="json"),
                "nodes_suppressed": sorted(n for n, v in released.items() if v is None),
            }
        )
    return {
        "analysis": "attrition",
        "steps": combined,
        "nodes_contributing": sorted(outputs),
        "nodes_missing": sorted(missing),
        "profile": profile.name,
    }
