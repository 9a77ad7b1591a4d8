"""The gate for outputs that describe a cohort as a whole: its attrition and its
characterisation (``fivesafes.analyses.attrition``, ``fivesafes.analyses.characterise``).

Both release only counts of distinct persons, each judged as the gate judges any count (the
tables by the table checker). Every population an attrition releases (the cohort and each
earlier step shown) is checked against what the project was already given and then
remembered, for later differencing checks and for the patient data account.
"""

from __future__ import annotations

import logging
from typing import Literal

from fivesafes.analyses.attrition import Step, released_steps
from fivesafes.analyses.characterise import NodeCharacterisation
from fivesafes.node.outcome import Outcome
from fivesafes.node.person_sets import PersonSetStore
from fivesafes.node.release import release
from fivesafes.protocol.models import AttritionOutput, CharacteriseOutput, GateRecord
from fivesafes.protocol.runs import ReasonCode
from fivesafes.sdc.profiles import Profile

log = logging.getLogger("fivesafes.node.runner")


def gate_attrition(
    project_id: str, key: str, found: list[Step], profile: Profile, person_sets: PersonSetStore
) -> Outcome:
    try:
        shown, populations = released_steps(found, profile)
        verdict: Literal["pass", "fail"] = "pass" if populations else "fail"
        rules = sorted({"threshold"} if any(s.count.suppressed for s in shown) else set())
        document = AttritionOutput(
            steps=shown, gate=GateRecord(verdict=verdict, profile=profile.name, rules=rules)
        ).model_dump(mode="json")
    except Exception as exc:  # noqa: BLE001 - fail closed
        log.error("building the released attrition failed with %s", type(exc).__name__)
        return Outcome("failed", ReasonCode.GATE_ERROR)
    cohort = found[-1].persons
    others = [p for p in populations if p is not cohort]
    return release(
        project_id, key, cohort, document, bool(populations), profile, person_sets, others
    )


def gate_characterisation(
    project_id: str,
    key: str,
    found: NodeCharacterisation,
    profile: Profile,
    person_sets: PersonSetStore,
) -> Outcome:
    if found.failed_checks:
        log.error("the table checker failed; the characterisation is withheld")
        return Outcome("failed", ReasonCode.GATE_ERROR)
    released = not found.count.suppressed
    try:
        rules = [] if released else ["threshold"]
        document = CharacteriseOutput(
            count=found.count,
            age=found.age if released else [],
            sex=found.sex if released else [],
            concepts=found.concepts if released else {},
            gate=GateRecord(
                verdict="pass" if released else "fail", profile=profile.name, rules=rules
            ),
        ).model_dump(mode="json")
    except Exception as exc:  # noqa: BLE001 - fail closed
        log.error("building the released characterisation failed with %s", type(exc).__name__)
        return Outcome("failed", ReasonCode.GATE_ERROR)
    return release(project_id, key, found.persons, document, released, profile, person_sets)
