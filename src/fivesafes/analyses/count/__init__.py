"""Count: distinct persons of a cohort at each node, gated as a single count (suppressed below
the threshold, otherwise rounded), and their total at the hub, gated again.

| part    | what it does                                                                    |
| ------- | ------------------------------------------------------------------------------- |
| node    | the cohort's persons; evidence: how many (``sdc.gate.CountEvidence``)           |
| hub     | each released count judged again; the total of released counts judged as one   |
| reading | ``CountResult``: per node and the total; a bar chart on the portal              |
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from fivesafes.analyses.commands import CohortOption
from fivesafes.analyses.count.models import CountCombined, CountOutput, CountParameters
from fivesafes.analyses.count.result import CountResult, NodeCount
from fivesafes.analyses.parameters import CohortLike, cohort_json
from fivesafes.analyses.plugin import Analysis, Asker, Command, Computed, Judged, NodeContext
from fivesafes.analyses.results import svg
from fivesafes.analyses.results.common import NONE_RELEASED, not_included
from fivesafes.analyses.results.page import Plot, Shown, number, table
from fivesafes.protocol.models import ReleasedCount, TaskView
from fivesafes.sdc.profiles import Profile

if TYPE_CHECKING:
    from fivesafes.sdc.gate import Judgement

__all__ = [
    "Count",
    "CountCombined",
    "CountOutput",
    "CountParameters",
    "CountResult",
    "NodeCount",
    "cohort_person_set",
    "count_persons",
]


def count(
    fed: Asker,
    cohort: CohortLike,
    *,
    project: str | None = None,
    nodes: list[str] | None = None,
    timeout: int = 120,
    gate: dict[str, Any] | None = None,
) -> CountResult:
    """Count distinct persons in ``cohort`` at every node of the project, after
    disclosure control; per node, a total, and who refused or failed and why. ``gate``
    asks every node for stricter disclosure settings (e.g. ``{"threshold": 20}``)."""
    view = fed.submit(
        "count",
        {"cohort": cohort_json(cohort)},
        project=project,
        nodes=nodes,
        timeout=timeout,
        gate=gate,
    )
    return CountResult.from_view(fed.wait(view.task_id, timeout))


def _count_command(
    fed: Asker,
    *,
    cohort: CohortOption,
    project: str | None,
    nodes: list[str] | None,
    timeout: int,
) -> CountResult:
    """Count distinct persons in a cohort at every node, after disclosure control."""
    return count(fed, cohort, project=project, nodes=nodes, timeout=timeout)


def render(result: CountResult) -> Table:
    """A count as the command line shows it: per node, its count, gate and status, and the
    total with the nodes it leaves out."""
    table = Table(
        "node",
        "count",
        "disclosure gate",
        "status",
        title=f"Federated count (task {result.task_id})",
        caption=outcome_line(result),
    )
    for n in result.nodes:
        status = n.state if n.reason is None else f"{n.state}: {n.message or n.reason}"
        colour = "green" if n.state == "succeeded" else "yellow" if n.state == "refused" else "red"
        table.add_row(n.node, n.display, n.rule or "", f"[{colour}]{status}[/]")
    total = "suppressed" if result.total_suppressed else str(result.total)
    note = ""
    if result.nodes_suppressed:
        note = f"excludes suppressed: {', '.join(result.nodes_suppressed)}"
    table.add_row("[bold]TOTAL[/]", f"[bold]{total}[/]", result.total_rule or "", note)
    return table


def outcome_line(result: CountResult) -> str:
    """How the nodes answered, in one line: how many released a count, how many suppressed,
    refused or failed, and the reasons (``2 released, 1 refused: project_not_approved``)."""
    released = sum(n.state == "succeeded" and not n.suppressed for n in result.nodes)
    parts = [f"{released} of {len(result.nodes)} nodes released a count"]
    suppressed = sum(n.state == "succeeded" and n.suppressed for n in result.nodes)
    if suppressed:
        parts.append(f"{suppressed} suppressed")
    for state in ("refused", "failed"):
        reasons = sorted({n.reason or state for n in result.nodes if n.state == state})
        if reasons:
            many = sum(n.state == state for n in result.nodes)
            parts.append(f"{many} {state} ({', '.join(reasons)})")
    return "; ".join(parts)


def _finish(result: CountResult, options: dict[str, Any]) -> tuple[list[str], int]:
    """Exit 1 when no node released a value: there is no count to read."""
    if any(n.state == "succeeded" and not n.suppressed for n in result.nodes):
        return [], 0
    return ["No node released a count: " + outcome_line(result).split("; ", 1)[-1]], 1


def _shown(result: CountResult, as_json: bool, console: Console) -> None:
    if as_json:
        shown = {
            "task_id": result.task_id,
            "total": result.total,
            "total_suppressed": result.total_suppressed,
            "outcome": outcome_line(result),
            "nodes": [n.__dict__ for n in result.nodes],
        }
        console.print_json(json.dumps(shown))
    else:
        console.print(render(result))


class Count(Analysis):
    name = "count"
    title = "Count"
    parameters = CountParameters
    output = CountOutput
    combined = CountCombined
    result = CountResult
    client = {"count": count}
    exports = (CountResult, NodeCount)
    commands = {"count": Command(_count_command, top_level=True, show=_shown, finish=_finish)}

    def compute(self, parameters: CountParameters, context: NodeContext) -> Computed:
        # the node part (the cohort compiler, Ibis) is imported where it runs, at a node: the
        # researcher's command line and client read this module and never need it
        from fivesafes.analyses.count.node import cohort_person_set
        from fivesafes.sdc.gate import CountEvidence

        persons = cohort_person_set(context.db, parameters.cohort)
        return Computed(persons, CountEvidence(len(persons)))

    def judge(self, computed: Computed, profile: Profile) -> Judged:
        # the gate (and numpy) at the node and hub only: the researcher's side never judges
        from fivesafes.analyses.gating import by_evidence
        from fivesafes.sdc.gate import release_count

        def build(judgement: Judgement) -> dict[str, Any]:
            count = release_count(computed.found.persons, profile)
            return CountOutput(count=count, gate=judgement.record()).model_dump(mode="json")

        return by_evidence(computed.found, profile, build)

    def withheld(self, output: dict[str, Any]) -> str | None:
        """A suppressed count is part of the answer (named in ``nodes_suppressed``, the total
        marked as a lower bound), never left out."""
        return None

    def regate(self, output: dict[str, Any], profile: Profile) -> dict[str, Any]:
        from fivesafes.sdc.gate import release_count

        checked = CountOutput.model_validate(output)
        if checked.count.value is None:
            return checked.model_dump(mode="json")
        again = release_count(checked.count.value, profile)
        gate = checked.gate
        if again.suppressed:
            rules = [*gate.rules, "hub: " + again.rule]
            gate = gate.model_copy(update={"verdict": "fail", "rules": rules})
        return CountOutput(count=again, gate=gate).model_dump(mode="json")

    def combine(
        self, outputs: dict[str, dict[str, Any]], missing: list[str], profile: Profile
    ) -> dict[str, Any]:
        """The total of the released counts, judged as a count; a node whose count was
        suppressed adds nothing and is named."""
        from fivesafes.sdc.gate import release_count

        contributing: list[str] = []
        suppressed: list[str] = []
        total = 0
        for node, raw in sorted(outputs.items()):
            released = CountOutput.model_validate(raw).count
            if released.value is None:
                suppressed.append(node)
            else:
                contributing.append(node)
                total += released.value
        gated = (
            release_count(total, profile)
            if contributing
            else ReleasedCount(value=None, suppressed=True, rule=NONE_RELEASED)
        )
        return {
            "analysis": "count",
            "total": gated.model_dump(mode="json"),
            "nodes_contributing": contributing,
            "nodes_suppressed": suppressed,
            "nodes_missing": sorted(missing),
            "profile": profile.name,
        }

    def show(self, view: TaskView, page: Shown) -> None:
        count = self.read(view)
        page.total = "suppressed" if count.total_suppressed else number(count.total)
        page.tables.append(table("Each node's released count and the total", shown(count)))
        released = {n.node: n.value for n in count.nodes if n.state == "succeeded"}
        picture = svg.count_bars(released, count.total) if released else None
        if picture:
            page.plots.append(
                Plot("Bar chart of the released counts per node and combined", picture)
            )
        page.lines.extend(not_included({**count.refused, **count.failed}))


def shown(count: CountResult) -> Any:
    """The count as the portal's table says it, one statement per cell: a node's answer, the
    count it released (or "suppressed", or nothing when it did not answer), what disclosure
    control did, and why a node is not included; the total last."""
    import pandas as pd

    rows = []
    for n in count.nodes:
        if n.state != "succeeded":
            figure, control, why = "—", "not included", n.message or n.reason or ""
        elif n.suppressed:
            figure, control, why = "suppressed", f"suppressed: {n.rule or 'by the gate'}", ""
        else:
            figure, control, why = str(n.value), f"released, {n.rule or 'as counted'}", ""
        rows.append({"node": n.node, "answer": n.state, "count": figure,
                     "disclosure control": control, "not included because": why})  # fmt: skip
    left_out = sum(n.state != "succeeded" for n in count.nodes)
    rows.append({
        "node": "total",
        "answer": "complete" if count.complete else "waiting for nodes",
        "count": "suppressed" if count.total_suppressed else number(count.total),
        "disclosure control": (
            f"suppressed: {count.total_rule}" if count.total_suppressed
            else f"released, {count.total_rule}" if count.total_rule else ""
        ),
        "not included because": f"{left_out} node(s) not included" if left_out else "",
    })  # fmt: skip
    return pd.DataFrame(rows)


def __getattr__(name: str) -> Any:
    """``cohort_person_set`` and ``count_persons`` (the node part), imported when first asked
    for, so that reading the count's client side does not load the cohort compiler."""
    if name in ("cohort_person_set", "count_persons"):
        from fivesafes.analyses.count import node

        return getattr(node, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
