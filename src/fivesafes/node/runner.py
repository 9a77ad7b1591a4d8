"""Running one approved task on the node's data, and gating what it produced.

Nothing leaves this module ungated: the analysis's node part returns the persons behind its
value; the differencing check compares them with what the project was already given; the gate
turns the value into what may be released; any error in a check is a failure (fail closed).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace

from pydantic import ValidationError
from pyroaring import AbstractBitMap

from fivesafes.analyses.count import cohort_person_set
from fivesafes.cohorts.concepts import UnknownConceptError
from fivesafes.data.source import OmopDatabase
from fivesafes.node.outcome import Outcome, Release
from fivesafes.node.person_sets import PersonSetStore
from fivesafes.protocol.models import CountOutput, CountParameters, TaskPayload
from fivesafes.protocol.runs import ReasonCode
from fivesafes.protocol.signing import canonical_json
from fivesafes.sdc.counts import release_count
from fivesafes.sdc.differencing import check_population
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


def output_key(task: TaskPayload) -> str:
    """The same analysis with the same parameters has the same key, whoever asks and whatever
    they call their cohort (a label is not part of the question)."""
    parameters = dict(task.parameters)
    if isinstance(parameters.get("cohort"), dict):
        parameters["cohort"] = {k: v for k, v in parameters["cohort"].items() if k != "name"}
    canonical = canonical_json({"analysis": task.analysis, "parameters": parameters})
    return hashlib.sha256(canonical).hexdigest()


def run_task(
    task: TaskPayload, db: OmopDatabase, profile: GateProfile, person_sets: PersonSetStore
) -> Outcome:
    """Run an approved task: an identical earlier query gets the identical released answer;
    a population large enough to be released is checked for differencing against the
    project's earlier released values, then gated and remembered."""
    if task.analysis != "count":
        return Outcome("refused", ReasonCode.ANALYSIS_NOT_ALLOWED)
    try:
        parameters = CountParameters.model_validate(task.parameters)
    except ValidationError:
        return Outcome("refused", ReasonCode.INVALID_PARAMETERS)
    key = output_key(task)
    earlier = person_sets.answer_for(task.project_id, key)
    if earlier is not None:
        return Outcome("succeeded", output=earlier)
    try:
        persons = cohort_person_set(db, parameters.cohort)
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
    if len(persons) < profile.threshold:
        # suppressed: no value leaves, so there is nothing to subtract and nothing to remember
        return gate_count(len(persons), profile)
    refusal = differencing_refusal(task.project_id, persons, person_sets, profile)
    if refusal is not None:
        return refusal
    outcome = gate_count(len(persons), profile)
    if outcome.status != "succeeded":
        return outcome
    return replace(outcome, release=Release(key, persons))


def differencing_refusal(
    project_id: str, persons: AbstractBitMap, person_sets: PersonSetStore, profile: GateProfile
) -> Outcome | None:
    """A refusal if ``persons`` is too close to what this project was already given; fails
    closed (an error in the check withholds the result)."""
    try:
        verdict = check_population(
            persons, person_sets.released_sets(project_id), profile.threshold
        )
    except Exception as exc:  # noqa: BLE001 - fail closed
        log.error(
            "the differencing check failed with %s; the result is withheld", type(exc).__name__
        )
        return Outcome("failed", ReasonCode.GATE_ERROR)
    if verdict.passed:
        return None
    for finding in verdict.findings:
        log.warning("differencing risk in project %s: %s", project_id, finding.reason())
    return Outcome("refused", ReasonCode.DIFFERENCING_RISK)
