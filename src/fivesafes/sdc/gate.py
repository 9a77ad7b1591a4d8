"""The release gate: the table checker's rules, applied to everything a node or the hub releases.

Every analysis output type declares the *evidence* the gate needs; the evidence stays where it
was computed, and only the judged, released form leaves. The gate builds one cell from the
evidence and runs every rule in :data:`fivesafes.sdc.rules.TABLE_RULES` on it, under the
profile named in the node's (or hub's) configuration:

| output                | evidence (stays where computed)        | cell      | on ``pass``         |
| --------------------- | -------------------------------------- | --------- | ------------------- |
| count of a cohort     | distinct persons                       | count     | the count, rounded  |
| summary of a variable | each contributor's value; missing ones | magnitude | n rounded; mean, sd |
| hub total of counts   | the sum of the nodes' released counts  | count     | the total, rounded  |
| a GLM round           | rows, parameters, binary level counts  | model     | the round's sums    |

| verdict  | what leaves                                                                  |
| -------- | ---------------------------------------------------------------------------- |
| `pass`   | the released values                                                          |
| `fail`   | a suppression marker naming the rules that fired, no value                   |
| `review` | nothing: the run is held for an output checker (``held_for_review``)        |

A single count of zero is suppressed under every profile, whatever its ``zeros_are_disclosive``
says about table cells: a cohort count is one question, and "nobody here" answers whether a
person so described is at this TRE (ADR 0011). Any exception while judging propagates; callers
turn it into a withheld result (fail closed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, model_validator

from fivesafes.protocol.models import GateRecord, GateTightening, ReleasedCount
from fivesafes.sdc.cells import NO_CONTRIBUTIONS, Cell, Kind
from fivesafes.sdc.counts import round_half_up
from fivesafes.sdc.profiles import Profile, get_profile
from fivesafes.sdc.rules import TABLE_RULES, Finding, Outcome
from fivesafes.sdc.rules.base import Verdict, verdict_of
from fivesafes.sdc.rules.model import level_findings, model_findings

if TYPE_CHECKING:  # numpy is imported where a value is judged: reading this module needs none
    import numpy as np
    import numpy.typing as npt

_ONE_CELL = ("output",)
LONE_ZERO = Finding("zeros", Outcome.SUPPRESS, "a count of zero is never released on its own")
NO_VALUES = Finding("threshold", Outcome.SUPPRESS, "no contributor has a value to summarise")


class GateSettings(GateTightening):
    """The ``[gate]`` table of a node's or hub's configuration: a named profile, and settings
    that may only tighten it. Read once at start-up; a task can ask for stricter settings
    (``Profile.at_least``), never looser."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: str = "default"

    @model_validator(mode="after")
    def _resolves(self) -> GateSettings:
        self.resolve()  # an unknown profile or a loosening setting fails at start-up
        return self

    def resolve(self) -> Profile:
        """The profile this configuration names, tightened by its other settings."""
        base = get_profile(self.profile)
        changes = {
            key: value
            for key, value in self.model_dump(exclude={"profile"}).items()
            if value is not None and value != getattr(base, key)
        }
        return base.tightened(**changes) if changes else base


def as_asked(profile: Profile, asked: dict[str, Any] | None) -> Profile:
    """``profile`` made at least as strict as a task's ``gate`` (a ``GateTightening``); never
    looser. Raises ValidationError or ProfileError for settings that are not settings."""
    if not asked:
        return profile
    tightening = GateTightening.model_validate(asked)
    return profile.at_least(**tightening.model_dump(exclude_none=True))


def gate_table(
    profile: str, threshold: int | None = None, rounding_base: int | None = None
) -> dict[str, object]:
    """The ``[gate]`` table ``init`` writes: the profile, and only the settings given."""
    table: dict[str, object] = {"profile": profile}
    if threshold is not None:
        table["threshold"] = threshold
    if rounding_base is not None:
        table["rounding_base"] = rounding_base
    return table


@dataclass(frozen=True)
class CountEvidence:
    """A count of distinct persons (a cohort's size, or a hub total of released counts)."""

    persons: int


@dataclass(frozen=True)
class MagnitudeEvidence:
    """A statistic of a variable: one value per contributor (a person with a non-missing
    value), and how many persons of the population lack it."""

    values: npt.NDArray[np.float64]
    missing: int
    statistic: str = "mean"


@dataclass(frozen=True)
class ModelEvidence:
    """One node's share of a model fit (each round): its rows (one per person), the number of
    parameters, per binary column (outcome and dummies) the rows holding 1, whether the current
    fit separates the outcome, and whether every sum is finite."""

    n: int
    parameters: int
    level_counts: tuple[int, ...]
    separation: bool = False
    finite: bool = True


GLM_RATIO = 0.33
"""The federated GLM's parameter trap where the profile sets no ``glm_ratio`` (DataSHIELD's
``nfilter.glm``): parameters may be at most a third of a node's rows."""

Evidence = CountEvidence | MagnitudeEvidence | ModelEvidence


@dataclass(frozen=True)
class Judgement:
    """The gate's decision on one output: a verdict and the rules that fired (no values)."""

    verdict: Verdict
    findings: tuple[Finding, ...]
    profile: str

    @property
    def rules(self) -> list[str]:
        return sorted({f.rule for f in self.findings})

    def record(self) -> GateRecord:
        """The gate record every released output carries. A ``review`` verdict has none: such
        an output is held at the node, never sent."""
        if self.verdict is Verdict.REVIEW:
            raise ValueError("an output held for review is not released")
        return GateRecord(verdict=self.verdict.value, profile=self.profile, rules=self.rules)


def judge(evidence: Evidence, profile: Profile) -> Judgement:
    """Run every table rule on the one cell ``evidence`` describes (model rules for a model)."""
    if isinstance(evidence, ModelEvidence):
        return _judge_model(evidence, profile)
    cell, kind, aggfunc = _cell(evidence)
    findings = tuple(
        found
        for rule in TABLE_RULES
        if (found := rule.check(cell, kind, aggfunc, profile)) is not None
    )
    if kind == "count" and cell.records == 0 and not findings:
        findings = (LONE_ZERO,)
    if kind == "magnitude" and cell.contributors == 0 and not findings:
        findings = (NO_VALUES,)  # an empty cohort's summary: nothing to release, not a pass
    return Judgement(verdict_of(findings), findings, profile.name)


def _judge_model(evidence: ModelEvidence, profile: Profile) -> Judgement:
    _check_count(evidence.n)
    if evidence.parameters < 1 or any(not 0 <= c <= evidence.n for c in evidence.level_counts):
        raise ValueError("model evidence is inconsistent")
    findings = model_findings(
        evidence.n,
        evidence.n - evidence.parameters,
        evidence.parameters,
        evidence.finite,
        evidence.separation,
        profile,
        glm_ratio=GLM_RATIO,
    )
    findings += level_findings(evidence.n, evidence.level_counts, profile)
    return Judgement(verdict_of(findings), tuple(findings), profile.name)


def release_count(persons: int, profile: Profile) -> ReleasedCount:
    """Gate one count of distinct persons: rounded when it passes, a suppression marker naming
    the rules that fired otherwise. Raises on anything but a non-negative integer."""
    judgement = judge(CountEvidence(persons), profile)
    if judgement.verdict is not Verdict.PASS:
        reasons = "; ".join(f.reason for f in judgement.findings)
        return ReleasedCount(value=None, suppressed=True, rule=reasons)
    rounded = round_half_up(int(persons), profile.rounding_base)
    return ReleasedCount(
        value=rounded, suppressed=False, rule=f"rounded to {profile.rounding_base}"
    )


def release_cell(persons: int, profile: Profile) -> ReleasedCount:
    """Gate one cell of a table: as a count, except that an empty cell follows the profile's
    ``zeros_are_disclosive`` (a lone count of zero is always suppressed; a table's zero is
    usually structural)."""
    if persons == 0 and not profile.zeros_are_disclosive:
        return ReleasedCount(value=0, suppressed=False, rule="empty cell")
    return release_count(persons, profile)


def _check_count(n: int) -> None:
    import numpy as np

    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise TypeError("a count must be an integer")
    if n < 0:
        raise ValueError("counts are never negative")


def _cell(evidence: CountEvidence | MagnitudeEvidence) -> tuple[Cell, Kind, str]:
    import numpy as np

    if isinstance(evidence, CountEvidence):
        _check_count(evidence.persons)
        n = int(evidence.persons)
        return Cell(_ONE_CELL, _ONE_CELL, n, n, n, 0, NO_CONTRIBUTIONS, float(n)), "count", "count"
    values = np.asarray(evidence.values, dtype=float)
    if values.ndim != 1 or not np.all(np.isfinite(values)):
        raise ValueError("magnitude evidence must be one finite value per contributor")
    if evidence.missing < 0:
        raise ValueError("a missing count is never negative")
    contributors = int(values.size)
    statistic = float(values.mean()) if contributors else float("nan")
    cell = Cell(
        _ONE_CELL,
        _ONE_CELL,
        contributors + evidence.missing,
        contributors + evidence.missing,
        contributors,
        evidence.missing,
        np.sort(values)[::-1],
        statistic,
    )
    return cell, "magnitude", evidence.statistic
