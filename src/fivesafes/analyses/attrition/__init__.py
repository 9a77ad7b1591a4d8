"""Attrition: persons remaining after each step of a cohort definition (a Circe definition's
inclusion rules, or the platform model's index, sex, age and criteria).

| part    | what it does                                                                      |
| ------- | --------------------------------------------------------------------------------- |
| node    | each step's persons (``steps.py``); every count judged as a count                  |
| gate    | a step below the threshold suppressed; every released step's population checked   |
|         | for differencing and remembered, not only the cohort's                            |
| hub     | each count judged again; per step the sum of released counts, judged again        |
| reading | ``AttritionResult``: the steps summed over the nodes, bars on the portal          |
"""

from __future__ import annotations

from typing import Any, Literal

from fivesafes.analyses.attrition.models import (
    AttritionCombined,
    AttritionOutput,
    AttritionParameters,
    AttritionStep,
)
from fivesafes.analyses.attrition.result import AttritionResult
from fivesafes.analyses.attrition.steps import (
    Step,
    combine,
    partial_cohorts,
    regate,
    released_steps,
    steps,
)
from fivesafes.analyses.commands import CohortOption
from fivesafes.analyses.parameters import CohortLike, cohort_json
from fivesafes.analyses.plugin import Analysis, Asker, Command, Computed, Judged, NodeContext
from fivesafes.analyses.results import svg
from fivesafes.analyses.results.common import not_included
from fivesafes.analyses.results.page import Plot, Shown, table
from fivesafes.protocol.models import GateRecord, TaskView
from fivesafes.sdc.profiles import Profile

__all__ = [
    "Attrition",
    "AttritionCombined",
    "AttritionOutput",
    "AttritionParameters",
    "AttritionResult",
    "AttritionStep",
    "Step",
    "partial_cohorts",
    "released_steps",
    "steps",
]


def attrition(
    fed: Asker,
    cohort: CohortLike,
    *,
    project: str | None = None,
    nodes: list[str] | None = None,
    timeout: int = 120,
) -> AttritionResult:
    """Persons remaining after each step of ``cohort`` (a Circe definition's inclusion
    rules, or the platform model's index, sex, age and criteria), per node and summed."""
    parameters = {"cohort": cohort_json(cohort)}
    view = fed.submit("attrition", parameters, project=project, nodes=nodes, timeout=timeout)
    return AttritionResult.from_view(fed.wait(view.task_id, timeout))


def _attrition_command(
    fed: Asker,
    *,
    cohort: CohortOption,
    project: str | None,
    nodes: list[str] | None,
    timeout: int,
) -> AttritionResult:
    """Persons remaining after each step of a cohort definition (a Circe definition's
    inclusion rules), per node and summed, after disclosure control."""
    return attrition(fed, cohort, project=project, nodes=nodes, timeout=timeout)


class Attrition(Analysis):
    name = "attrition"
    title = "Attrition"
    parameters = AttritionParameters
    output = AttritionOutput
    combined = AttritionCombined
    result = AttritionResult
    client = {"attrition": attrition}
    exports = (AttritionResult,)
    commands = {"attrition": Command(_attrition_command)}

    def compute(self, parameters: AttritionParameters, context: NodeContext) -> Computed:
        remaining = steps(parameters.cohort, context.db)
        return Computed(remaining[-1].persons, remaining)

    def judge(self, computed: Computed, profile: Profile) -> Judged:
        """Every step judged as a count; every population shown (the cohort and each earlier
        step released) is checked for differencing and then remembered."""
        shown, populations = released_steps(computed.found, profile)
        verdict: Literal["pass", "fail"] = "pass" if populations else "fail"
        rules = sorted({"threshold"} if any(s.count.suppressed for s in shown) else set())
        document = AttritionOutput(
            steps=shown, gate=GateRecord(verdict=verdict, profile=profile.name, rules=rules)
        )
        others = tuple(p for p in populations if p is not computed.persons)
        output = document.model_dump(mode="json")
        return Judged(verdict, output, released=bool(populations), also=others)

    def regate(self, output: dict[str, Any], profile: Profile) -> dict[str, Any]:
        return regate(AttritionOutput.model_validate(output), profile).model_dump(mode="json")

    def combine(
        self, outputs: dict[str, dict[str, Any]], missing: list[str], profile: Profile
    ) -> dict[str, Any]:
        return combine(self.checked(outputs), missing, profile)

    def show(self, view: TaskView, page: Shown) -> None:
        attrition = self.read(view)
        page.lines.append("Persons remaining after each step, summed over the nodes")
        page.tables.append(table("Attrition", attrition.to_frame(), missing="suppressed"))
        names = [s["name"] for s in attrition.steps]
        counts = [s["count"]["value"] for s in attrition.steps]
        picture = svg.bars(names, counts, "persons remaining")
        if picture:
            page.plots.append(Plot("Persons remaining after each step", picture))
        for step in attrition.steps:
            if step["nodes_suppressed"] and step["count"]["value"] is not None:
                page.lines.append(
                    f"{step['name']}: at least; not from {', '.join(step['nodes_suppressed'])}"
                )
        page.lines.extend(not_included(attrition.nodes_missing))
