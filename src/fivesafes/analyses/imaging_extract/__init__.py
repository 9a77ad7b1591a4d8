"""Imaging extract: the de-identified imaging of a cohort's persons, built at each node into
the project's area inside the TRE and held there for the node's output checkers (ADR 0028).
The hub never receives an image, a UID or a path: each node tells it counts, gated.

| part    | what it does                                                                       |
| ------- | ---------------------------------------------------------------------------------- |
| node    | the cohort's persons' series (``node.py``); the node's job checks the custodian's  |
|         | extraction approval, de-identifies, verifies and holds the extract                 |
|         | (``analyses.jobs``, ``extracts.build``)                                            |
| gate    | persons as a count (else nothing else is said); series and every file figure as    |
|         | table cells (``node.py``)                                                          |
| hub     | every figure judged again; persons and written files summed (``hub.py``)           |
| reading | ``ImagingExtractResult``: where extracts are held, each node's figures             |

Every task builds its own extract (``answers_again`` is False): asking again builds again, the
same bytes for the same files and options (the keys are the project's). It reads the
``imaging`` data domain as well as ``omop``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from fivesafes.analyses.commands import CohortOption
from fivesafes.analyses.imaging_extract.hub import combine_extracts, regate_extract
from fivesafes.analyses.imaging_extract.models import (
    ImagingExtractCombined,
    ImagingExtractOutput,
    ImagingExtractParameters,
)
from fivesafes.analyses.imaging_extract.node import NodeExtract, build, figures, not_said
from fivesafes.analyses.imaging_extract.result import ImagingExtractResult
from fivesafes.analyses.parameters import CohortLike, cohort_json
from fivesafes.analyses.plugin import Analysis, Asker, Command, Computed, Judged, NodeContext
from fivesafes.analyses.results.common import not_included
from fivesafes.analyses.results.page import Shown, table
from fivesafes.protocol.models import TaskView
from fivesafes.sdc.gate import CountEvidence, judge, release_cell, release_count
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Verdict

__all__ = [
    "ImagingExtract",
    "ImagingExtractCombined",
    "ImagingExtractOutput",
    "ImagingExtractParameters",
    "ImagingExtractResult",
]

TIMEOUT = 3600  # seconds a client waits by default: de-identifying and OCR take a while


def request_extract(
    fed: Asker,
    cohort: CohortLike,
    *,
    imaging: dict[str, Any] | None = None,
    options: list[str] | tuple[str, ...] = (),
    project: str | None = None,
    nodes: list[str] | None = None,
    timeout: int = TIMEOUT,
) -> ImagingExtractResult:
    """Ask each node to build a de-identified extract of the imaging of ``cohort``'s persons
    (``imaging``: which series, as an imaging criterion's fields, e.g. ``{"modality": ["CT"],
    "body_part": ["CHEST"]}``; none: all of theirs), with the de-identification ``options``
    (``retain-modified-dates``, ...; none: the Basic Profile alone). Each node's custodian must
    have allowed extraction for the project with those options. The extracts stay at the
    nodes, held until an output checker there releases them into the project's workspace;
    what comes back is counts."""
    parameters: dict[str, Any] = {"cohort": cohort_json(cohort), "options": list(options)}
    if imaging is not None:
        parameters["series"] = {"domain": "imaging", **imaging}
    view = fed.submit("imaging_extract", parameters, project=project, nodes=nodes, timeout=timeout)
    return ImagingExtractResult.from_view(fed.wait(view.task_id, timeout))


def _imaging_extract_command(
    fed: Asker,
    *,
    cohort: CohortOption,
    modality: Annotated[
        list[str] | None, typer.Option(help="Only series of this modality (repeat).")
    ] = None,
    body_part: Annotated[
        list[str] | None, typer.Option(help="Only series of this body part (repeat).")
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(help="A de-identification option, e.g. retain-modified-dates (repeat)."),
    ] = None,
    project: str | None,
    nodes: list[str] | None,
    timeout: int,
) -> ImagingExtractResult:
    """Ask each node to build a de-identified extract of a cohort's imaging, held there for
    its output checkers; prints counts (the files stay at the nodes)."""
    imaging: dict[str, Any] = {}
    if modality:
        imaging["modality"] = [m.upper() for m in modality]
    if body_part:
        imaging["body_part"] = [b.upper() for b in body_part]
    return request_extract(
        fed,
        cohort,
        imaging=imaging or None,
        options=option or (),
        project=project,
        nodes=nodes,
        timeout=timeout,
    )


class ImagingExtract(Analysis):
    name = "imaging_extract"
    title = "Imaging extract (de-identified, held at each node)"
    parameters = ImagingExtractParameters
    output = ImagingExtractOutput
    combined = ImagingExtractCombined
    result = ImagingExtractResult
    answers_again = False
    domains = frozenset({"omop", "imaging"})
    client = {"request_extract": request_extract}
    exports = (ImagingExtractResult,)
    commands = {
        "imaging-extract": Command(
            _imaging_extract_command, timeout=TIMEOUT, waits_for="every node's extract"
        )
    }

    def compute(self, parameters: ImagingExtractParameters, context: NodeContext) -> Computed:
        found = build(parameters, context)
        return Computed(found.persons, found)

    def judge(self, computed: Computed, profile: Profile) -> Judged:
        """The persons as a count, else nothing else is said; the rest as table cells."""
        found: NodeExtract = computed.found
        judgement = judge(CountEvidence(len(found.persons)), profile)
        if judgement.verdict is Verdict.REVIEW:
            return Judged("review", None)
        persons = release_count(len(found.persons), profile)
        if persons.suppressed:
            document = ImagingExtractOutput.model_validate(
                {
                    "analysis": self.name,
                    "persons": persons.model_dump(mode="json"),
                    "series": not_said(),
                    "held": None,
                    "figures": None,
                    "gate": {"verdict": "fail", "profile": profile.name, "rules": judgement.rules},
                }
            )
            return Judged("fail", document.model_dump(mode="json"), released=False)
        document = ImagingExtractOutput.model_validate(
            {
                "analysis": self.name,
                "persons": persons.model_dump(mode="json"),
                "series": release_cell(found.series, profile).model_dump(mode="json"),
                "held": found.held,
                "figures": figures(found.report, profile),
                "gate": {"verdict": "pass", "profile": profile.name, "rules": []},
            }
        )
        return Judged("pass", document.model_dump(mode="json"), released=True)

    def regate(self, output: dict[str, Any], profile: Profile) -> dict[str, Any]:
        return regate_extract(ImagingExtractOutput.model_validate(output), profile)

    def combine(
        self, outputs: dict[str, dict[str, Any]], missing: list[str], profile: Profile
    ) -> dict[str, Any]:
        checked = {n: ImagingExtractOutput.model_validate(o) for n, o in outputs.items()}
        return combine_extracts(checked, missing, profile)

    def show(self, view: TaskView, page: Shown) -> None:
        result: ImagingExtractResult = self.read(view)
        persons = "suppressed" if result.persons is None else f"{result.persons:,}"
        written = "suppressed" if result.written is None else f"{result.written:,}"
        page.lines.append(
            f"{persons} persons, {written} files de-identified, verified and written (summed "
            "over the nodes). The files stay at each node, held until an output checker "
            "there releases them into the project's workspace."
        )
        holding = ", ".join(result.nodes_holding) or "no node"
        page.lines.append(f"Extracts held for the output checkers at: {holding}")
        frame = result.to_frame()
        if not frame.empty:
            page.tables.append(table("Each node's extract", frame, missing="suppressed"))
        reasons = result.reasons_frame()
        if not reasons.empty:
            page.tables.append(table("Files not written, by why", reasons, missing="suppressed"))
        page.lines.extend(not_included(result.nodes_missing))
