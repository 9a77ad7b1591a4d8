"""Running one approved task on the node's data, and gating what it produced.

Nothing leaves this module ungated. Each analysis's node part returns the persons behind its
value and the *evidence* the gate needs (``fivesafes.sdc.gate``); the gate judges it under the
node's profile; a value that passes is checked for differencing against what the project was
already given; only then is the released form built. Any error in a check withholds the result
(fail closed).

| gate verdict | differencing risk | outcome                                                   |
| ------------ | ----------------- | --------------------------------------------------------- |
| ``fail``     | (not checked)     | succeeded: suppression markers only, nothing remembered    |
| ``review``   | (not checked)     | refused: ``held_for_review``                               |
| ``pass``     | none              | succeeded: released values, persons remembered             |
| ``pass``     | yes               | refused: ``differencing_risk`` (profile ``refuse``) or      |
|              |                   | ``held_for_review`` (profile ``review``)                    |
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import ValidationError
from pyroaring import AbstractBitMap, BitMap

from fivesafes.analyses.attrition import Step
from fivesafes.analyses.attrition import steps as attrition_steps
from fivesafes.analyses.catalogue import SummaryVariable
from fivesafes.analyses.characterise import NodeCharacterisation, characterise
from fivesafes.analyses.count import cohort_person_set
from fivesafes.analyses.cox import CoxSums
from fivesafes.analyses.crosstab import (
    NodeTable,
    grid,
    node_histogram,
    node_table,
    released_cells,
)
from fivesafes.analyses.glm import Fit, GLMError, RoundSums, Rows, fit_local
from fivesafes.analyses.km import NodeSurvival, node_survival
from fivesafes.analyses.model_node import evidence_of, model_share, round_sums
from fivesafes.analyses.summary import (
    VariableValues,
    grouped_values,
    released_bins,
    variable_values,
)
from fivesafes.cohorts.circe import UnsupportedCirce
from fivesafes.cohorts.concepts import UnknownConceptError
from fivesafes.data.source import OmopDatabase
from fivesafes.node.gate_cohort import gate_attrition, gate_characterisation
from fivesafes.node.outcome import Outcome, held_output
from fivesafes.node.person_sets import PersonSetStore
from fivesafes.node.release import release
from fivesafes.protocol.models import (
    PARAMETERS,
    AttritionParameters,
    CharacteriseParameters,
    CountOutput,
    CountParameters,
    CoxParameters,
    CrosstabOutput,
    CrosstabParameters,
    GateRecord,
    GLMParameters,
    GroupedSummaryOutput,
    HistogramParameters,
    Instruction,
    KaplanMeierOutput,
    KaplanMeierParameters,
    ModelRoundOutput,
    NodeModelOutput,
    ReleasedCount,
    SummaryOutput,
    SummaryParameters,
    TaskPayload,
)
from fivesafes.protocol.runs import ReasonCode
from fivesafes.protocol.signing import canonical_json
from fivesafes.sdc.gate import (
    CountEvidence,
    Evidence,
    Judgement,
    MagnitudeEvidence,
    ModelEvidence,
    as_asked,
    judge,
    release_count,
)
from fivesafes.sdc.profiles import Profile, ProfileError
from fivesafes.sdc.rules.base import Verdict

log = logging.getLogger("fivesafes.node.runner")

_DATA_ERRORS = ("OperationalError", "IOException", "ConnectionException", "InterfaceError")


@dataclass(frozen=True)
class Computed:
    """What an analysis's node part found: the persons behind it and the gate's evidence."""

    persons: AbstractBitMap
    evidence: Evidence
    variable: SummaryVariable = "age"  # for a summary, the variable it describes
    # a model's round: the instruction, the node's sums, persons left out for missing values
    model_round: tuple[Instruction, RoundSums | CoxSums, int] | None = None
    model_fit: tuple[Fit, int] | None = None  # a node's own fit (meta-analysis), its missing
    # a summary: the agreed bin edges and, per level of ``by`` (one level, None, without a
    # factor), the values (each level judged on its own)
    summary: tuple[list[float], list[tuple[str | None, VariableValues]]] | None = None
    by: str | None = None
    # judged by the table checker: a crosstab or a histogram
    table: tuple[NodeTable, CrosstabParameters | HistogramParameters] | None = None
    # Kaplan-Meier: per level, blocks already merged by the survival rule
    survival: tuple[NodeSurvival, KaplanMeierParameters] | None = None
    # a cohort's attrition (each step's persons) or characterisation
    attrition: list[Step] | None = None
    characterisation: NodeCharacterisation | None = None


class NoInstruction(ValueError):
    """An iterative analysis arrived without its round's instruction."""


def _compute(
    key: str,
    analysis: str,
    parameters: Any,
    db: OmopDatabase,
    instruction: Instruction | None,
    profile: Profile,
) -> Computed:
    if isinstance(parameters, CountParameters):
        persons = cohort_person_set(db, parameters.cohort)
        return Computed(persons, CountEvidence(len(persons)))
    if isinstance(parameters, CrosstabParameters | HistogramParameters):
        table = (
            node_table(db, parameters, profile)
            if isinstance(parameters, CrosstabParameters)
            else node_histogram(db, parameters, profile)
        )
        return Computed(table.persons, CountEvidence(len(table.persons)), table=(table, parameters))
    if isinstance(parameters, AttritionParameters):
        remaining = attrition_steps(parameters.cohort, db)
        cohort = remaining[-1].persons
        return Computed(cohort, CountEvidence(len(cohort)), attrition=remaining)
    if isinstance(parameters, CharacteriseParameters):
        described = characterise(db, parameters, profile)
        size = CountEvidence(len(described.persons))
        return Computed(described.persons, size, characterisation=described)
    if isinstance(parameters, KaplanMeierParameters):
        survival = node_survival(db, parameters, profile)
        return Computed(
            survival.persons, CountEvidence(len(survival.persons)), survival=(survival, parameters)
        )
    if isinstance(parameters, SummaryParameters) and parameters.by is not None:
        groups = grouped_values(db, parameters)
        everyone = BitMap.union(*(g.contributors for _, g in groups))
        return Computed(
            everyone,
            CountEvidence(len(everyone)),
            parameters.variable,
            summary=(parameters.bin_edges, [(level, g) for level, g in groups]),
            by=parameters.by,
        )
    if isinstance(parameters, SummaryParameters):
        found = variable_values(db, parameters)
        evidence = MagnitudeEvidence(found.values, found.missing)
        return Computed(
            found.contributors,
            evidence,
            parameters.variable,
            summary=(parameters.bin_edges, [(None, found)]),
        )
    assert isinstance(parameters, GLMParameters | CoxParameters)
    if analysis == "meta":
        assert isinstance(parameters, GLMParameters)
        share = model_share(db, parameters, key)
        assert isinstance(share.rows, Rows)
        fit = fit_local([share.rows], parameters.family, share.columns)
        model = ModelEvidence(len(share.rows.y), len(share.columns), share.level_counts)
        return Computed(share.persons, model, model_fit=(fit, share.missing))
    if instruction is None:
        raise NoInstruction
    share = model_share(db, parameters, key)
    sums = round_sums(share, parameters, instruction)
    return Computed(
        share.persons,
        evidence_of(share, sums),
        model_round=(instruction, sums, share.missing),
    )


def held(computed: Computed, judgement: Judgement, profile: Profile) -> dict[str, Any] | None:
    """What an output held for review would release, with the persons behind it, kept at the
    node for its airlock (never sent); None if it cannot be built (the run is still held)."""
    try:
        output = released_output(computed, replace(judgement, verdict=Verdict.PASS), profile)
    except Exception:  # noqa: BLE001 - nothing is kept, nothing leaves
        return None
    output["gate"] = {"verdict": "review", "profile": judgement.profile, "rules": judgement.rules}
    return held_output("gate_review", output, [computed.persons])


def released_output(computed: Computed, judgement: Judgement, profile: Profile) -> dict[str, Any]:
    """The released form of a judged output: values only when the verdict is ``pass``."""
    record = judgement.record()
    evidence = computed.evidence
    if isinstance(evidence, CountEvidence):
        count = release_count(evidence.persons, profile)
        return CountOutput(count=count, gate=record).model_dump(mode="json")
    if computed.model_fit is not None:
        fit, missing = computed.model_fit
        return NodeModelOutput(
            names=list(fit.names),
            params=fit.params.tolist(),
            bse=fit.bse.tolist(),
            n=fit.nobs,
            missing=missing,
            gate=record,
        ).model_dump(mode="json")
    if computed.model_round is not None:
        step, sums, missing = computed.model_round
        if isinstance(sums, CoxSums):
            return ModelRoundOutput(
                round=step.round,
                step=step.step,
                n=sums.n,
                events=sums.events,
                missing=missing,
                loglike=sums.loglik,
                xtwx=sums.information.tolist(),
                xtwz=sums.gradient.tolist(),
                gate=record,
            ).model_dump(mode="json")
        return ModelRoundOutput(
            round=step.round,
            step=step.step,
            n=sums.n,
            missing=missing,
            sum_y=sums.sum_y,
            deviance=sums.deviance,
            xtwx=sums.xtwx.tolist(),
            xtwz=sums.xtwz.tolist(),
            pearson=sums.pearson,
            loglike=sums.loglike,
            gate=record,
        ).model_dump(mode="json")
    assert isinstance(evidence, MagnitudeEvidence)
    assert computed.summary is not None
    edges, [(_, found)] = computed.summary
    output = summary_output(computed.variable, found, edges, judgement, profile)
    return output.model_dump(mode="json")


def summary_output(
    variable: SummaryVariable,
    found: VariableValues,
    edges: list[float],
    judgement: Judgement,
    profile: Profile,
    level: str | None = None,
) -> SummaryOutput:
    """A summary's released form: n and missing rounded, mean and sd, the persons per agreed
    bin as the table checker releases them; or markers only."""
    record = judgement.record()
    if judgement.verdict is not Verdict.PASS:
        marker = ReleasedCount(value=None, suppressed=True, rule="; ".join(judgement.rules))
        return SummaryOutput(
            variable=variable,
            level=level,
            n=marker,
            missing=marker,
            mean=None,
            sd=None,
            gate=record,
        )
    values = found.values
    return SummaryOutput(
        variable=variable,
        level=level,
        n=release_count(int(values.size), profile),
        missing=release_count(found.missing, profile),
        bins=released_bins(found, edges, profile),
        mean=float(values.mean()),
        sd=float(values.std(ddof=1)) if values.size > 1 else None,
        gate=record,
    )


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
) -> Outcome:
    """Run an approved task: an identical earlier query gets the identical released answer;
    otherwise compute, gate, check for differencing, and release (see the module's table)."""
    model = PARAMETERS.get(task.analysis)
    if model is None:
        return Outcome("refused", ReasonCode.ANALYSIS_NOT_ALLOWED)
    try:
        parameters = model.model_validate(task.parameters)
        profile = as_asked(profile, task.gate)
    except (ValidationError, ProfileError):
        return Outcome("refused", ReasonCode.INVALID_PARAMETERS)
    key = output_key(task, instruction)
    earlier = person_sets.answer_for(task.project_id, key)
    if earlier is not None:
        return Outcome("succeeded", output=earlier)
    try:
        # a model share is cached for the rounds of this one task, never across tasks (the data
        # or the opt-out list may have changed in between)
        share_key = f"{task.task_id}/{output_key(task)}"
        computed = _compute(share_key, task.analysis, parameters, db, instruction, profile)
    except NoInstruction:
        return Outcome("refused", ReasonCode.INVALID_PARAMETERS)
    except GLMError:
        return Outcome("refused", ReasonCode.MODEL_REFUSED)
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
    return gate(task.project_id, key, computed, profile, person_sets)


def gate(
    project_id: str,
    key: str,
    computed: Computed,
    profile: Profile,
    person_sets: PersonSetStore,
) -> Outcome:
    """Judge ``computed`` under ``profile`` and decide what leaves; fails closed."""
    if computed.table is not None:
        return _gate_table(project_id, key, computed, profile, person_sets)
    if computed.by is not None:
        return _gate_groups(project_id, key, computed, profile, person_sets)
    if computed.survival is not None:
        return _gate_survival(project_id, key, computed, profile, person_sets)
    if computed.attrition is not None:
        return gate_attrition(project_id, key, computed.attrition, profile, person_sets)
    if computed.characterisation is not None:
        found = computed.characterisation
        return gate_characterisation(project_id, key, found, profile, person_sets)
    try:
        judgement = judge(computed.evidence, profile)
    except Exception as exc:  # noqa: BLE001 - fail closed: any error in the gate withholds
        log.error("the disclosure gate failed with %s; the result is withheld", type(exc).__name__)
        return Outcome("failed", ReasonCode.GATE_ERROR)
    if judgement.verdict is Verdict.REVIEW:
        log.warning("held for review in project %s: %s", project_id, ", ".join(judgement.rules))
        return Outcome(
            "refused", ReasonCode.HELD_FOR_REVIEW, held=held(computed, judgement, profile)
        )
    if judgement.verdict is Verdict.FAIL and isinstance(computed.evidence, ModelEvidence):
        # a model has no suppression marker: the node declines the round
        log.warning("model refused in project %s: %s", project_id, ", ".join(judgement.rules))
        return Outcome("refused", ReasonCode.MODEL_REFUSED)
    try:
        output = released_output(computed, judgement, profile)
    except Exception as exc:  # noqa: BLE001 - fail closed
        log.error("building the released output failed with %s", type(exc).__name__)
        return Outcome("failed", ReasonCode.GATE_ERROR)
    # suppressed outputs release no value, so there is nothing to subtract or remember
    released = judgement.verdict is Verdict.PASS
    return _release(project_id, key, computed, output, released, profile, person_sets)


def _gate_groups(
    project_id: str,
    key: str,
    computed: Computed,
    profile: Profile,
    person_sets: PersonSetStore,
) -> Outcome:
    """A summary by group: each level judged on its own; anything for review holds the whole
    output; released values are checked for differencing (the population: every contributor)."""
    assert computed.summary is not None
    edges, groups = computed.summary
    try:
        judged = [
            (level, found, judge(MagnitudeEvidence(found.values, found.missing), profile))
            for level, found in groups
        ]
    except Exception as exc:  # noqa: BLE001 - fail closed
        log.error("the disclosure gate failed with %s; the result is withheld", type(exc).__name__)
        return Outcome("failed", ReasonCode.GATE_ERROR)
    if any(j.verdict is Verdict.REVIEW for _, _, j in judged):
        return Outcome("refused", ReasonCode.HELD_FOR_REVIEW)
    try:
        document = GroupedSummaryOutput(
            variable=computed.variable,
            by=computed.by or "",
            groups=[
                summary_output(computed.variable, found, edges, j, profile, level)
                for level, found, j in judged
            ],
        )
    except Exception as exc:  # noqa: BLE001 - fail closed
        log.error("building the released summaries failed with %s", type(exc).__name__)
        return Outcome("failed", ReasonCode.GATE_ERROR)
    released = any(j.verdict is Verdict.PASS for _, _, j in judged)
    output = document.model_dump(mode="json")
    return _release(project_id, key, computed, output, released, profile, person_sets)


def _release(
    project_id: str,
    key: str,
    computed: Computed,
    output: dict[str, Any],
    released: bool,
    profile: Profile,
    person_sets: PersonSetStore,
) -> Outcome:
    return release(project_id, key, computed.persons, output, released, profile, person_sets)


def _gate_table(
    project_id: str,
    key: str,
    computed: Computed,
    profile: Profile,
    person_sets: PersonSetStore,
) -> Outcome:
    """A crosstab: the checker has judged every cell; a table with released cells is checked
    for differencing like any output (its persons: everyone counted in it)."""
    assert computed.table is not None
    table, parameters = computed.table
    output = table.output
    if output.errors:
        log.error("the table checker failed; the result is withheld")
        return Outcome("failed", ReasonCode.GATE_ERROR)
    if output.verdict is Verdict.REVIEW:
        return Outcome("refused", ReasonCode.HELD_FOR_REVIEW)
    try:
        cells = released_cells(table, grid(table, parameters), profile)
    except Exception as exc:  # noqa: BLE001 - fail closed
        log.error("building the released table failed with %s", type(exc).__name__)
        return Outcome("failed", ReasonCode.GATE_ERROR)
    released = any(not c.count.suppressed for c in cells)
    rules = sorted({f.finding.rule for f in output.findings})
    verdict: Literal["pass", "fail"] = "pass" if output.verdict is Verdict.PASS else "fail"
    magnitude: dict[str, Any] = {}
    if isinstance(parameters, CrosstabParameters):
        rows, columns = parameters.rows, parameters.columns
        magnitude = {"value": parameters.value, "statistic": parameters.statistic}
    else:
        rows, columns = parameters.variable, None
    try:
        document = CrosstabOutput(
            rows=rows,
            columns=columns,
            cells=cells,
            gate=GateRecord(verdict=verdict, profile=profile.name, rules=rules),
            **magnitude,
        ).model_dump(mode="json")
    except Exception as exc:  # noqa: BLE001 - fail closed
        log.error("building the released table failed with %s", type(exc).__name__)
        return Outcome("failed", ReasonCode.GATE_ERROR)
    return _release(project_id, key, computed, document, released, profile, person_sets)


def _gate_survival(
    project_id: str,
    key: str,
    computed: Computed,
    profile: Profile,
    person_sets: PersonSetStore,
) -> Outcome:
    """Kaplan-Meier: each level's blocks were merged by the survival rule as they were built
    (``fivesafes.analyses.km``); released blocks are checked for differencing (the population:
    every person of a released level)."""
    assert computed.survival is not None
    found, parameters = computed.survival
    rules = ["survival"] + (["threshold"] if any(g.suppressed for _, _, g in found.groups) else [])
    verdict: Literal["pass", "fail"] = "pass" if found.released else "fail"
    try:
        document = KaplanMeierOutput(
            time=parameters.time,
            by=parameters.by,
            interval=parameters.interval,
            horizon=parameters.horizon,
            groups=[group for _, _, group in found.groups],
            gate=GateRecord(verdict=verdict, profile=profile.name, rules=rules),
        ).model_dump(mode="json")
    except Exception as exc:  # noqa: BLE001 - fail closed
        log.error("building the released survival table failed with %s", type(exc).__name__)
        return Outcome("failed", ReasonCode.GATE_ERROR)
    return _release(project_id, key, computed, document, found.released, profile, person_sets)
