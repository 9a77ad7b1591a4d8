"""Linked count: how many persons are in one cohort at one node *and* another cohort at
another node, for the persons linked in the project (docs/linkage.md, ADR 0031), without the
hub or any node learning which linked persons met another node's criteria.

| part    | what it does                                                                      |
| ------- | --------------------------------------------------------------------------------- |
| node    | its part's cohort on its own data, less persons not linked in the project; each   |
|         | person as a value blinded for this task (``node.blinded``); the gate judges the   |
|         | part's size and the node's differencing store checks and keeps the part as a     |
|         | released population; sent padded and sorted                                     |
| hub     | the values found in every part, counted and judged as a count; each part is     |
|         | shown to no one and dropped once combined (``public``)                            |
| reading | ``LinkedCountResult``: the count, and how each node answered                      |

What each party learns: the hub, the padded size of each part and which values are in more
than one part (values it cannot tie to a link id, a person or another task); a node, nothing
of another node's part; the researcher, the count after the hub's gate. A part's cohort is
evaluated on its node's own data: a relation in time across nodes (a death within five years
of a biopsy recorded elsewhere) needs the dates together, in a pool.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import BaseModel

from fivesafes.analyses.jobs import JobFailed
from fivesafes.analyses.linked_count.models import (
    MAX_SENT,
    LinkedCountCombined,
    LinkedCountOutput,
    LinkedCountParameters,
)
from fivesafes.analyses.linked_count.result import LinkedCountResult, PartAnswer
from fivesafes.analyses.parameters import CohortLike, cohort_json
from fivesafes.analyses.plugin import (
    Analysis,
    Asker,
    Command,
    CommandError,
    Computed,
    Judged,
    NodeContext,
    Refused,
)
from fivesafes.analyses.results.common import not_included
from fivesafes.analyses.results.page import Shown, number
from fivesafes.protocol.models import ReleasedCount, TaskView
from fivesafes.protocol.runs import ReasonCode
from fivesafes.sdc.profiles import Profile

if TYPE_CHECKING:
    from fivesafes.sdc.gate import Judgement

__all__ = ["LinkedCount", "LinkedCountResult", "PartAnswer", "linked_count"]

A_PART_MISSING = "a part's node sent no part, so nothing was counted"


def linked_count(
    fed: Asker,
    parts: dict[str, CohortLike],
    *,
    project: str | None = None,
    timeout: int = 120,
    gate: dict[str, Any] | None = None,
) -> LinkedCountResult:
    """Count the persons linked in the project who are in every part: ``parts`` maps each node
    to the cohort evaluated on its own data (``{"northfield": slides, "lakeside": deaths}``).
    The project must be linked (``fivesafes node linkage push`` and ``pull`` at each node)."""
    view = fed.submit(
        "linked_count",
        {"parts": [{"node": node, "cohort": cohort_json(c)} for node, c in parts.items()]},
        project=project,
        nodes=list(parts),
        timeout=timeout,
        gate=gate,
    )
    return LinkedCountResult.from_view(fed.wait(view.task_id, timeout))


PartOption = Annotated[
    list[str],
    typer.Option(
        "--part",
        help="A node and the cohort evaluated there, as NODE=cohort.json (two to four).",
    ),
]


def _command(
    fed: Asker,
    *,
    part: PartOption,
    project: str | None,
    nodes: list[str] | None,
    timeout: int,
) -> LinkedCountResult:
    """Count the persons linked across nodes who are in each node's cohort."""
    if nodes:
        raise CommandError("A linked count's nodes are those of its parts: leave out --node.")
    parts: dict[str, CohortLike] = {}
    for given in part:
        node, sep, file = given.partition("=")
        if not sep or not node or not file:
            raise CommandError("Each --part is NODE=cohort.json.")
        if node in parts:
            raise CommandError("A node is named in two --part options: give each node one.")
        if not Path(file).is_file():
            raise CommandError(f"There is no cohort file {Path(file).name}.")
        parts[node] = Path(file)
    if len(parts) < 2:
        raise CommandError("A linked count needs a part at two nodes at least (--part twice).")
    return linked_count(fed, parts, project=project, timeout=timeout)


def _finish(result: LinkedCountResult, options: dict[str, Any]) -> tuple[list[str], int]:
    if result.complete and not result.suppressed:
        return [], 0
    return [f"No linked count was released ({result.rule or 'the task did not complete'})."], 1


class LinkedCount(Analysis):
    name = "linked_count"
    title = "Linked count"
    parameters = LinkedCountParameters
    output = LinkedCountOutput
    combined = LinkedCountCombined
    result = LinkedCountResult
    answers_again = False  # each task blinds its parts anew: an earlier task's part is no use
    client = {"linked_count": linked_count}
    exports = (LinkedCountResult, PartAnswer)
    commands = {"linked-count": Command(_command, top_level=True, finish=_finish)}

    def domains_of(self, parameters: BaseModel) -> frozenset[str]:
        assert isinstance(parameters, LinkedCountParameters)
        return self.domains | parameters.domains()

    def compute(self, parameters: LinkedCountParameters, context: NodeContext) -> Computed:
        from fivesafes.analyses.linked_count.node import linked_part
        from fivesafes.sdc.gate import CountEvidence

        linked, task = context.linked, context.task
        if linked is None or task is None:
            raise Refused(ReasonCode.NOT_LINKED)
        part = next((p for p in parameters.parts if p.node == linked.node), None)
        if part is None:
            raise Refused(ReasonCode.NOT_A_TARGET)
        blindings = linked.blindings(task.project_id)
        if not blindings:
            raise Refused(ReasonCode.NOT_LINKED)
        persons, values = linked_part(context.db, part.cohort, blindings, task.task_id)
        if len(values) > MAX_SENT - 10:
            raise JobFailed(ReasonCode.RESOURCE_LIMIT)
        return Computed(persons, (CountEvidence(len(persons)), values))

    def judge(self, computed: Computed, profile: Profile) -> Judged:
        import base64

        from fivesafes.analyses.gating import by_evidence
        from fivesafes.analyses.linked_count.node import pad

        evidence, values = computed.found

        def build(judgement: Judgement) -> dict[str, Any]:
            passed = judgement.verdict.value == "pass"
            members = base64.b64encode(pad(values)).decode() if passed else ""
            record = judgement.record()
            return LinkedCountOutput(members=members, gate=record).model_dump(mode="json")

        return by_evidence(evidence, profile, build)

    def public(self, output: dict[str, Any]) -> dict[str, Any]:
        return {"gate": output.get("gate")} if isinstance(output, dict) else {}

    def combine(
        self, outputs: dict[str, dict[str, Any]], missing: list[str], profile: Profile
    ) -> dict[str, Any]:
        """The values in every part, counted and judged as a count; nothing if a part is
        missing (a count of fewer parts would answer another question)."""
        from fivesafes.sdc.gate import release_count

        parts = {node: LinkedCountOutput.model_validate(raw) for node, raw in outputs.items()}
        if missing or len(parts) < 2:
            count = ReleasedCount(value=None, suppressed=True, rule=A_PART_MISSING)
        else:
            values = [part.values() for part in parts.values()]
            count = release_count(len(set.intersection(*values)), profile)
        return {
            "analysis": "linked_count",
            "count": count.model_dump(mode="json"),
            "nodes_contributing": sorted(parts) if not missing else [],
            "nodes_missing": sorted(missing),
            "profile": profile.name,
        }

    def show(self, view: TaskView, page: Shown) -> None:
        result = self.read(view)
        page.total = "suppressed" if result.suppressed else number(result.count)
        page.lines.append(
            "The persons linked in the project who are in every node's part: "
            + (f"{result.display} ({result.rule})" if result.rule else result.display)
            + ". Each node's part was evaluated on its own data and sent blinded to the hub, "
            "which counted the persons in every part and shows no part."
        )
        page.lines.extend(
            not_included(
                {
                    n.node: n.message or n.reason or ""
                    for n in result.nodes
                    if n.state in ("refused", "failed")
                }
            )
        )
