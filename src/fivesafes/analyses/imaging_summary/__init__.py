"""Imaging summary: what imaging a cohort's persons have. Every series of theirs in the node's
imaging index (not only those matching the cohort's imaging criteria), as series, studies and
distinct persons by modality, body part and contrast and by year, per node and pooled.

| part    | what it does                                                                      |
| ------- | --------------------------------------------------------------------------------- |
| node    | the groups, from the index through the view layer (``imaging/summary.py``)        |
| gate    | persons with any series as a count; a group under the threshold is not listed;    |
|         | persons, series and studies rounded (``node.py``)                                 |
| hub     | every figure judged again; groups summed over the nodes listing them (``hub.py``) |
| reading | ``ImagingSummaryResult``: the pooled groups and each node's; ``to_frame``         |

It reads the ``imaging`` data domain as well as ``omop`` (the cohort): the hub refuses a task
whose project did not ask for imaging, and a node one its approval does not cover.
"""

from __future__ import annotations

from typing import Any

from fivesafes.analyses.commands import CohortOption
from fivesafes.analyses.imaging_summary.hub import combine_summaries, regate_summary
from fivesafes.analyses.imaging_summary.models import (
    ImagingSummaryCombined,
    ImagingSummaryOutput,
    ImagingSummaryParameters,
    KindGroup,
    YearGroup,
)
from fivesafes.analyses.imaging_summary.node import (
    KIND,
    YEAR,
    NodeImaging,
    released_groups,
    summarise,
)
from fivesafes.analyses.imaging_summary.result import ImagingSummaryResult
from fivesafes.analyses.parameters import CohortLike, cohort_json
from fivesafes.analyses.plugin import Analysis, Asker, Command, Computed, Judged, NodeContext
from fivesafes.analyses.results.common import not_included
from fivesafes.analyses.results.page import Shown, number, table
from fivesafes.imaging.summary import SCOPE
from fivesafes.protocol.models import GateRecord, TaskView
from fivesafes.sdc.gate import CountEvidence, judge, release_count
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Verdict

__all__ = [
    "ImagingSummary",
    "ImagingSummaryCombined",
    "ImagingSummaryOutput",
    "ImagingSummaryParameters",
    "ImagingSummaryResult",
    "KindGroup",
    "NodeImaging",
    "YearGroup",
    "released_groups",
]

PAGE_LABELS = {"body_part": "body part"}  # the frame's column as the page names it
CAPTIONS = {
    "kind": "Series by modality, body part and contrast",
    "year": "Series by year (of the series, else the study)",
}


def imaging_summary(
    fed: Asker,
    cohort: CohortLike,
    *,
    project: str | None = None,
    nodes: list[str] | None = None,
    timeout: int = 120,
) -> ImagingSummaryResult:
    """What imaging the persons of ``cohort`` have: every series of theirs (not only those
    matching the cohort's imaging criteria), as series, studies and distinct persons by
    modality, body part and contrast and by year, per node and pooled, after each node's
    disclosure gate and the hub's. The project must ask for the data domain ``imaging``."""
    view = fed.submit(
        "imaging_summary",
        {"cohort": cohort_json(cohort)},
        project=project,
        nodes=nodes,
        timeout=timeout,
    )
    return ImagingSummaryResult.from_view(fed.wait(view.task_id, timeout))


def _imaging_summary_command(
    fed: Asker,
    *,
    cohort: CohortOption,
    project: str | None,
    nodes: list[str] | None,
    timeout: int,
) -> ImagingSummaryResult:
    """Series, studies and persons by modality, body part and contrast and by year, of every
    series of a cohort's persons, per node and pooled, after disclosure control."""
    return imaging_summary(fed, cohort, project=project, nodes=nodes, timeout=timeout)


class ImagingSummary(Analysis):
    name = "imaging_summary"
    title = "Imaging summary (every series of the cohort's persons)"
    parameters = ImagingSummaryParameters
    output = ImagingSummaryOutput
    combined = ImagingSummaryCombined
    result = ImagingSummaryResult
    domains = frozenset({"omop", "imaging"})
    client = {"imaging_summary": imaging_summary}
    exports = (ImagingSummaryResult,)
    commands = {"imaging-summary": Command(_imaging_summary_command)}

    def compute(self, parameters: ImagingSummaryParameters, context: NodeContext) -> Computed:
        found = summarise(context.db, parameters)
        return Computed(found.persons, found)

    def judge(self, computed: Computed, profile: Profile) -> Judged:
        """Released only with the count of persons with any series; then every group of at
        least the threshold of persons (see ``node.py``). The population checked for
        differencing: the persons with any series."""
        found: NodeImaging = computed.found
        judgement = judge(CountEvidence(len(found.persons)), profile)
        if judgement.verdict is Verdict.REVIEW:
            return Judged("review", None)
        persons = release_count(len(found.persons), profile)
        if persons.suppressed:
            document = ImagingSummaryOutput(
                scope=SCOPE,
                persons=persons,
                kinds=[],
                years=[],
                gate=GateRecord(verdict="fail", profile=profile.name, rules=judgement.rules),
            )
            return Judged("fail", document.model_dump(mode="json"), released=False)
        kinds, kinds_left_out = released_groups(found.kinds, KIND, profile)
        years, years_left_out = released_groups(found.years, YEAR, profile)
        rules = ["threshold"] if kinds_left_out or years_left_out else []
        document = ImagingSummaryOutput.model_validate(
            {
                "scope": SCOPE,
                "persons": persons.model_dump(mode="json"),
                "kinds": kinds,
                "years": years,
                "gate": {"verdict": "pass", "profile": profile.name, "rules": rules},
            }
        )
        return Judged("pass", document.model_dump(mode="json"), released=True)

    def regate(self, output: dict[str, Any], profile: Profile) -> dict[str, Any]:
        checked = ImagingSummaryOutput.model_validate(output)
        return regate_summary(checked, profile).model_dump(mode="json")

    def combine(
        self, outputs: dict[str, dict[str, Any]], missing: list[str], profile: Profile
    ) -> dict[str, Any]:
        checked = {n: ImagingSummaryOutput.model_validate(o) for n, o in outputs.items()}
        return combine_summaries(checked, missing, profile)

    def show(self, view: TaskView, page: Shown) -> None:
        result: ImagingSummaryResult = self.read(view)
        persons = "suppressed" if result.persons is None else number(result.persons)
        page.lines.append(
            f"Every series of the cohort's persons (not only those matching its imaging "
            f"criteria): {persons} persons with any series, summed over the nodes"
        )
        page.lines.append(
            "A group is listed by a node only when it holds at least that node's threshold of "
            "persons; where the column 'not from' names nodes, the figures count only the "
            "others (at least)"
        )
        for by in ("kind", "year"):
            frame = result.to_frame(by).rename(columns=PAGE_LABELS)
            if not frame.empty:
                page.tables.append(table(CAPTIONS[by], frame, missing="suppressed"))
        for node in sorted(result.nodes):
            for by in ("kind", "year"):
                own = result.to_frame(by, node).rename(columns=PAGE_LABELS)
                if not own.empty:
                    caption = f"{node}: {CAPTIONS[by][0].lower()}{CAPTIONS[by][1:]}"
                    page.details.append(table(caption, own, missing="suppressed"))
        page.lines.extend(not_included(result.nodes_missing))
