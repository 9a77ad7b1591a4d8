"""Kaplan-Meier: survival of a time to event, optionally by a factor, on intervals agreed in
the task (``curves.py`` says how a node coarsens and the hub pools).

| part    | what it does                                                                        |
| ------- | ----------------------------------------------------------------------------------- |
| node    | per level, blocks of intervals merged by the survival rule, counts rounded          |
|         | cumulatively (``curves.py``, ``node.py``); its figure for them (``accuracy.py``)    |
| gate    | the survival rule as blocks are built; a level below the threshold is suppressed     |
| hub     | blocks merged again under the hub's profile; the curve on the common boundaries      |
| reading | ``KaplanMeierResult``: the pooled curve, its table, the nodes' figures, its picture  |
|         | (``plot.py``: the survival axis scaled to the curves, or 0 to 1)                     |
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from fivesafes.analyses.commands import CohortOption
from fivesafes.analyses.km.accuracy import exact_survival, measured_accuracy
from fivesafes.analyses.km.curves import (
    ALL,
    Block,
    CurvePoint,
    LifeTable,
    blocks,
    combine,
    edges,
    life_table,
    merge,
    pooled_curve,
    regate,
    rounded,
)
from fivesafes.analyses.km.models import (
    KaplanMeierCombined,
    KaplanMeierGroup,
    KaplanMeierOutput,
    KaplanMeierParameters,
    SurvivalBlock,
)
from fivesafes.analyses.km.node import NodeSurvival, judged_group, node_survival
from fivesafes.analyses.km.plot import survival_figure, survival_plot
from fivesafes.analyses.km.result import KaplanMeierResult, accuracy_line
from fivesafes.analyses.parameters import CohortLike, cohort_json
from fivesafes.analyses.plugin import Analysis, Asker, Command, Computed, Judged, NodeContext
from fivesafes.analyses.results import svg
from fivesafes.analyses.results.common import not_included
from fivesafes.analyses.results.page import Plot, Shown, table
from fivesafes.protocol.models import GateRecord, TaskView
from fivesafes.sdc.profiles import Profile

__all__ = [
    "ALL",
    "Block",
    "CurvePoint",
    "KaplanMeier",
    "KaplanMeierCombined",
    "KaplanMeierGroup",
    "KaplanMeierOutput",
    "KaplanMeierParameters",
    "KaplanMeierResult",
    "LifeTable",
    "NodeSurvival",
    "SurvivalBlock",
    "blocks",
    "combine",
    "edges",
    "exact_survival",
    "judged_group",
    "life_table",
    "measured_accuracy",
    "merge",
    "pooled_curve",
    "regate",
    "rounded",
    "survival_figure",
    "survival_plot",
]


def kaplan_meier(
    fed: Asker,
    cohort: CohortLike,
    time: str = "time_to_lung_cancer",
    by: str | None = None,
    *,
    interval: float = 1.0,
    horizon: float = 10.0,
    project: str | None = None,
    nodes: list[str] | None = None,
    timeout: int = 120,
) -> KaplanMeierResult:
    """Kaplan-Meier survival of ``time`` (by the levels of ``by``) on intervals of
    ``interval`` years up to ``horizon``: each node merges intervals until enough persons
    have left the risk set, and the hub pools on the boundaries every node showed."""
    parameters: dict[str, Any] = {
        "cohort": cohort_json(cohort),
        "time": time,
        "interval": interval,
        "horizon": horizon,
    }
    if by is not None:
        parameters["by"] = by
    view = fed.submit("km", parameters, project=project, nodes=nodes, timeout=timeout)
    return KaplanMeierResult.from_view(fed.wait(view.task_id, timeout))


def _km_command(
    fed: Asker,
    *,
    cohort: CohortOption,
    time: Annotated[str, typer.Option(help="A time to event.")] = "time_to_lung_cancer",
    by: Annotated[str | None, typer.Option(help="A categorical or binary factor.")] = None,
    interval: Annotated[float, typer.Option(help="Years per agreed interval.")] = 1.0,
    horizon: Annotated[float, typer.Option(help="Years of follow-up shown.")] = 10.0,
    plot: Annotated[Path | None, typer.Option(help="Also draw the curves to this PNG.")] = None,
    full_axis: Annotated[
        bool, typer.Option("--full-axis", help="Draw survival from 0 to 1, not scaled.")
    ] = False,
    project: str | None,
    nodes: list[str] | None,
    timeout: int,
) -> KaplanMeierResult:
    """Kaplan-Meier survival per level, pooled over the nodes on the interval boundaries each
    node could show (every step hides at least the threshold of persons)."""
    return kaplan_meier(
        fed,
        cohort,
        time,
        by,
        interval=interval,
        horizon=horizon,
        project=project,
        nodes=nodes,
        timeout=timeout,
    )


def _drawn(result: KaplanMeierResult, options: dict[str, Any]) -> tuple[list[str], int]:
    """With --plot, the curves drawn to that file (or why not); --full-axis draws survival
    from 0 to 1."""
    if options.get("plot") is None:
        return [], 0
    try:
        written = result.plot(options["plot"], full_axis=bool(options.get("full_axis")))
    except ValueError as exc:
        return [f"no plot: {exc}"], 1
    return [f"curves written to {written}"], 0


class KaplanMeier(Analysis):
    name = "km"
    title = "Kaplan-Meier"
    parameters = KaplanMeierParameters
    output = KaplanMeierOutput
    combined = KaplanMeierCombined
    result = KaplanMeierResult
    client = {"kaplan_meier": kaplan_meier}
    exports = (KaplanMeierResult, survival_plot, survival_figure)
    commands = {"km": Command(_km_command, finish=_drawn)}

    def compute(self, parameters: KaplanMeierParameters, context: NodeContext) -> Computed:
        survival = node_survival(context.db, parameters, context.profile)
        return Computed(survival.persons, (survival, parameters))

    def judge(self, computed: Computed, profile: Profile) -> Judged:
        """Each level's blocks were merged by the survival rule as they were built; released
        blocks are checked for differencing (the population: every person of a released
        level)."""
        found, parameters = computed.found
        suppressed = any(g.suppressed for _, _, g in found.groups)
        rules = ["survival"] + (["threshold"] if suppressed else [])
        verdict: Literal["pass", "fail"] = "pass" if found.released else "fail"
        document = KaplanMeierOutput(
            time=parameters.time,
            by=parameters.by,
            interval=parameters.interval,
            horizon=parameters.horizon,
            groups=[group for _, _, group in found.groups],
            gate=GateRecord(verdict=verdict, profile=profile.name, rules=rules),
        )
        return Judged(verdict, document.model_dump(mode="json"), released=found.released)

    def regate(self, output: dict[str, Any], profile: Profile) -> dict[str, Any]:
        checked = KaplanMeierOutput.model_validate(output)
        return regate(checked, profile).model_dump(mode="json")

    def combine(
        self, outputs: dict[str, dict[str, Any]], missing: list[str], profile: Profile
    ) -> dict[str, Any]:
        return combine(self.checked(outputs), missing, profile)

    def show(self, view: TaskView, page: Shown) -> None:
        km = self.read(view)
        by = f" by {km.by}" if km.by else ""
        page.lines.append(
            f"Kaplan-Meier of {km.time}{by}, pooled on the boundaries every contributing node "
            f"showed (intervals of {km.interval} years up to {km.horizon})"
        )
        page.tables.append(table("Pooled survival with its 95 % interval", km.to_frame()))
        for level, group in km.groups.items():
            if group["curve"]:
                page.lines.append(f"{level}: {accuracy_line(group)}")
        if any(group["curve"] for group in km.groups.values()):
            picture = svg.drawn(lambda: survival_figure(km))
            label = f"Kaplan-Meier curves of {km.time}{by} with 95 % intervals"
            page.plots.append(Plot(label, picture))
        for level, group in km.groups.items():
            if group.get("nodes_suppressed"):
                page.lines.append(f"{level}: suppressed at {', '.join(group['nodes_suppressed'])}")
        page.lines.extend(not_included(km.nodes_missing))
