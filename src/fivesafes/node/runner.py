"""Running one approved task on the node's data, and gating what it produced.

Nothing leaves this module ungated: the analysis's node part returns a true value, the gate
turns it into what may be released, and any error in the gate is a failure (fail closed).
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from fivesafes.analyses.count import count_persons
from fivesafes.cohorts.concepts import UnknownConceptError
from fivesafes.data.source import OmopDatabase
from fivesafes.node.outcome import Outcome
from fivesafes.protocol.models import CountOutput, CountParameters, TaskPayload
from fivesafes.protocol.runs import ReasonCode
from fivesafes.sdc.counts import release_count
from fivesafes.sdc.profile import GateProfile

log = logging.getLogger("fivesafes.node.runner")

_DATA_ERRORS = ("OperationalError", "IOException", "ConnectionException", "InterfaceError")


def gate_count(n: int, profile: GateProfile) -> Outcome:
    try:
        released = release_count(n, profile)
        output = CountOutput(count=released, profile=profile.name).model_dump(mode="json")
    except Exception:  # noqa: BLE001 - fail closed: any error in the gate withholds the result
        log.error("the disclosure gate failed; the result is withheld")
        return Outcome("failed", ReasonCode.GATE_ERROR)
    return Outcome("succeeded", output=output)


def run_task(task: TaskPayload, db: OmopDatabase, profile: GateProfile) -> Outcome:
    if task.analysis != "count":
        return Outcome("refused", ReasonCode.ANALYSIS_NOT_ALLOWED)
    try:
        parameters = CountParameters.model_validate(task.parameters)
    except ValidationError:
        return Outcome("refused", ReasonCode.INVALID_PARAMETERS)
    try:
        n = count_persons(db, parameters.cohort)
    except UnknownConceptError as exc:
        return Outcome(
            "refused", ReasonCode.UNKNOWN_CONCEPT, unknown_concepts=list(exc.concept_ids)
        )
    except Exception as exc:  # noqa: BLE001 - never let a data error escape with its text
        kind = type(exc).__name__
        log.error("the analysis failed with %s (message withheld: it may quote data)", kind)
        reason = (
            ReasonCode.DATA_SOURCE_UNAVAILABLE
            if kind in _DATA_ERRORS
            else ReasonCode.INTERNAL_ERROR
        )
        return Outcome("failed", reason)
    return gate_count(n, profile)
