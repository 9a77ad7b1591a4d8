"""Characterise: a cohort's size, age bands and sex (one-way tables), and the concepts most
recorded in a window before each person's index date, per domain.

| part    | what it does                                                                      |
| ------- | --------------------------------------------------------------------------------- |
| node    | the tables by the table checker, the top concepts by count (``node.py``)          |
| gate    | released only with the cohort's count; a listed concept has a released count     |
| hub     | every count judged again; tables summed cell by cell, concepts by concept        |
| reading | ``CharacterisationResult``: the distributions and the top concepts per domain    |
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer

from fivesafes.analyses.characterise.models import (
    CharacteriseCombined,
    CharacteriseDomain,
    CharacteriseOutput,
    CharacteriseParameters,
    ConceptCount,
)
from fivesafes.analyses.characterise.node import (
    AGE_BANDS,
    NodeCharacterisation,
    combine,
    regate,
    top_concepts,
)
from fivesafes.analyses.characterise.node import (
    characterise as described,
)
from fivesafes.analyses.characterise.result import CharacterisationResult
from fivesafes.analyses.commands import CohortOption
from fivesafes.analyses.parameters import CohortLike, cohort_json
from fivesafes.analyses.plugin import (
    Analysis,
    Asker,
    Command,
    Computed,
    GateFailure,
    Judged,
    NodeContext,
)
from fivesafes.analyses.results.common import not_included
from fivesafes.analyses.results.page import Shown, number, table
from fivesafes.protocol.models import GateRecord, TaskView
from fivesafes.sdc.profiles import Profile

__all__ = [
    "AGE_BANDS",
    "CharacterisationResult",
    "Characterise",
    "CharacteriseCombined",
    "CharacteriseDomain",
    "CharacteriseOutput",
    "CharacteriseParameters",
    "ConceptCount",
    "NodeCharacterisation",
    "combine",
    "regate",
    "top_concepts",
]


def characterise(
    fed: Asker,
    cohort: CohortLike,
    *,
    top: int = 10,
    window_days: int = 365,
    domains: list[str] | None = None,
    project: str | None = None,
    nodes: list[str] | None = None,
    timeout: int = 120,
) -> CharacterisationResult:
    """Age bands, sex and the ``top`` concepts per domain recorded in the ``window_days``
    up to each person's index date, per node and summed."""
    parameters: dict[str, Any] = {
        "cohort": cohort_json(cohort),
        "top": top,
        "window_days": window_days,
    }
    if domains is not None:
        parameters["domains"] = domains
    view = fed.submit("characterise", parameters, project=project, nodes=nodes, timeout=timeout)
    return CharacterisationResult.from_view(fed.wait(view.task_id, timeout))


def _characterise_command(
    fed: Asker,
    *,
    cohort: CohortOption,
    top: Annotated[int, typer.Option(help="Concepts listed per domain (1-50).")] = 10,
    window_days: Annotated[int, typer.Option(help="Days up to the index date searched.")] = 365,
    domain: Annotated[
        list[str] | None,
        typer.Option(help="condition, drug, measurement, procedure, observation (repeat)."),
    ] = None,
    project: str | None,
    nodes: list[str] | None,
    timeout: int,
) -> CharacterisationResult:
    """A cohort's age bands, sex and most recorded concepts, per node and summed, after
    disclosure control."""
    return characterise(
        fed,
        cohort,
        top=top,
        window_days=window_days,
        domains=domain or None,
        project=project,
        nodes=nodes,
        timeout=timeout,
    )


class Characterise(Analysis):
    name = "characterise"
    title = "Characterisation"
    parameters = CharacteriseParameters
    output = CharacteriseOutput
    combined = CharacteriseCombined
    result = CharacterisationResult
    client = {"characterise": characterise}
    exports = (CharacterisationResult,)
    commands = {"characterise": Command(_characterise_command)}

    def compute(self, parameters: CharacteriseParameters, context: NodeContext) -> Computed:
        found = described(context.db, parameters, context.profile)
        return Computed(found.persons, found)

    def judge(self, computed: Computed, profile: Profile) -> Judged:
        found: NodeCharacterisation = computed.found
        if found.failed_checks:
            raise GateFailure("the table checker failed")
        released = not found.count.suppressed
        document = CharacteriseOutput(
            count=found.count,
            age=found.age if released else [],
            sex=found.sex if released else [],
            concepts=found.concepts if released else {},
            gate=GateRecord(
                verdict="pass" if released else "fail",
                profile=profile.name,
                rules=[] if released else ["threshold"],
            ),
        )
        verdict: Literal["pass", "fail"] = "pass" if released else "fail"
        return Judged(verdict, document.model_dump(mode="json"), released=released)

    def regate(self, output: dict[str, Any], profile: Profile) -> dict[str, Any]:
        checked = CharacteriseOutput.model_validate(output)
        return regate(checked, profile).model_dump(mode="json")

    def combine(
        self, outputs: dict[str, dict[str, Any]], missing: list[str], profile: Profile
    ) -> dict[str, Any]:
        return combine(self.checked(outputs), missing, profile)

    def show(self, view: TaskView, page: Shown) -> None:
        found = self.read(view)
        size = "suppressed" if found.count is None else number(found.count)
        page.lines.append(f"The cohort: {size} persons, summed over the nodes")
        age = found.distribution("age")
        page.tables.append(table("Age at index", age, missing="suppressed"))
        page.tables.append(table("Sex", found.distribution("sex"), missing="suppressed"))
        for domain in found.concepts:
            page.tables.append(table(f"Most recorded {domain} concepts", found.top(domain)))
        page.lines.extend(not_included(found.nodes_missing))
