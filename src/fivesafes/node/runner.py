"""Running one approved task on the node's data: the release pipeline.

Nothing leaves this module ungated. For every analysis (``fivesafes.analyses.registry``) the
same steps run in the same order, and an exception anywhere is a refusal or a withheld
result, never a release (fail closed):

    parameters → compute (the analysis's node part) → gate (the analysis's ``judge``)
               → differencing (``fivesafes.node.release``) → outcome (the outbox)

| gate verdict | differencing risk | outcome                                                   |
| ------------ | ----------------- | --------------------------------------------------------- |
| ``fail``     | (not checked)     | succeeded: suppression markers only, nothing remembered    |
| ``review``   | (not checked)     | refused: ``held_for_review`` (the form it would release    |
|              |                   | kept at the node for its airlock, when there is one)       |
| ``pass``     | none              | succeeded: released values, persons remembered             |
| ``pass``     | yes               | refused: ``differencing_risk`` (profile ``refuse``) or      |
|              |                   | ``held_for_review`` (profile ``review``)                    |

A model has no suppression marker: its gate refuses (``model_refused``). An identical earlier
question of the same project gets the identical released answer, without computing.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from pydantic import ValidationError

from fivesafes.analyses.jobs import JobFailed, NodeJobs
from fivesafes.analyses.linked import LinkedPersons
from fivesafes.analyses.plugin import Analysis, Computed, NodeContext, Refused
from fivesafes.analyses.registry import REGISTRY
from fivesafes.cohorts.circe import UnsupportedCirce
from fivesafes.cohorts.concepts import UnknownConceptError
from fivesafes.data.source import OmopDatabase
from fivesafes.node.outcome import Outcome, held_output
from fivesafes.node.person_sets import PersonSetStore
from fivesafes.node.release import release
from fivesafes.protocol.models import Instruction, TaskPayload
from fivesafes.protocol.runs import ReasonCode
from fivesafes.protocol.signing import canonical_json
from fivesafes.sdc.gate import as_asked
from fivesafes.sdc.profiles import Profile, ProfileError

__all__ = ["Computed", "gate", "output_key", "run_task"]

log = logging.getLogger("fivesafes.node.runner")

_DATA_ERRORS = ("OperationalError", "IOException", "ConnectionException", "InterfaceError")


def output_key(task: TaskPayload, instruction: Instruction | None = None) -> str:
    """The same analysis with the same parameters has the same key, whoever asks and whatever
    they call their cohort (a label is not part of the question); a round of an iterative
    analysis adds its step and values."""
    parameters = dict(task.parameters)
    if isinstance(parameters.get("cohort"), dict):
        parameters["cohort"] = {k: v for k, v in parameters["cohort"].items() if k != "name"}
    question: dict[str, Any] = {"analysis": task.analysis, "parameters": parameters}
    if task.gate:  # a stricter gate is a different question (its answer may be suppressed)
        question["gate"] = task.gate
    if instruction is not None:
        question["round"] = instruction.model_dump(mode="json", exclude={"task_id", "round"})
    canonical = canonical_json(question)
    return hashlib.sha256(canonical).hexdigest()


def run_task(
    task: TaskPayload,
    db: OmopDatabase,
    profile: Profile,
    person_sets: PersonSetStore,
    instruction: Instruction | None = None,
    jobs: NodeJobs | None = None,
    deadline: float | None = None,
    linked: LinkedPersons | None = None,
) -> Outcome:
    """Run an approved task: an identical earlier query gets the identical released answer
    (unless its analysis does new work for each task: ``Analysis.answers_again``); otherwise
    compute, gate, check for differencing, and release (see the module's table). ``jobs``:
    the node's jobs an analysis may ask for (``analyses.jobs``); ``deadline``: the run's, as
    ``time.time()``; ``linked``: the node's linked persons (``analyses.linked``)."""
    analysis = REGISTRY.get(task.analysis)
    if analysis is None:
        return Outcome("refused", ReasonCode.ANALYSIS_NOT_ALLOWED)
    try:
        parameters = analysis.parameters.model_validate(task.parameters)
        profile = as_asked(profile, task.gate)
    except (ValidationError, ProfileError):
        return Outcome("refused", ReasonCode.INVALID_PARAMETERS)
    key = output_key(task, instruction)
    if not analysis.answers_again:  # each task's answer is its own, remembered as its own
        key = hashlib.sha256(f"{key}/{task.task_id}".encode()).hexdigest()
    earlier = person_sets.answer_for(task.project_id, key) if analysis.answers_again else None
    if earlier is not None:
        return Outcome("succeeded", output=earlier)
    # a model share is cached for the rounds of this one task, never across tasks (the data
    # or the opt-out list may have changed in between)
    cache_key = f"{task.task_id}/{output_key(task)}"
    context = NodeContext(db, profile, cache_key, instruction, task, jobs, deadline, linked)
    try:
        computed = analysis.compute(parameters, context)
    except Refused as refusal:
        return Outcome("refused", refusal.reason)
    except JobFailed as failure:
        return Outcome("failed", failure.reason)
    except UnsupportedCirce as exc:
        log.warning("cohort refused: %s", exc)  # names a construct, never data
        return Outcome("refused", ReasonCode.UNSUPPORTED_COHORT)
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
    return gate(task.project_id, key, analysis, computed, profile, person_sets)


def gate(
    project_id: str,
    key: str,
    analysis: Analysis,
    computed: Computed,
    profile: Profile,
    person_sets: PersonSetStore,
) -> Outcome:
    """Judge ``computed`` with the analysis's gate under ``profile`` and decide what leaves:
    an error anywhere in the gate withholds the result (``gate_error``)."""
    try:
        judged = analysis.judge(computed, profile)
    except Refused as refusal:
        log.warning("%s refused in project %s", analysis.name, project_id)
        return Outcome("refused", refusal.reason)
    except Exception as exc:  # noqa: BLE001 - fail closed: any error in the gate withholds
        log.error("the disclosure gate failed with %s; the result is withheld", type(exc).__name__)
        return Outcome("failed", ReasonCode.GATE_ERROR)
    if judged.verdict == "review":
        log.warning("held for review in project %s", project_id)
        kept = _kept(judged.output, computed)
        return Outcome("refused", ReasonCode.HELD_FOR_REVIEW, held=kept)
    if judged.output is None:  # a pass or a fail always has its released form
        return Outcome("failed", ReasonCode.GATE_ERROR)
    return release(
        project_id,
        key,
        computed.persons,
        judged.output,
        judged.released,
        profile,
        person_sets,
        judged.also,
    )


def _kept(output: dict[str, Any] | None, computed: Computed) -> dict[str, Any] | None:
    """What an output held for review keeps at the node (never sent): the form it would
    release and the persons behind it, for the node's airlock."""
    return None if output is None else held_output("gate_review", output, [computed.persons])
