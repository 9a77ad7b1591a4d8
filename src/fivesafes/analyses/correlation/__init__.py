"""Correlation: the pooled Pearson correlation matrix of named numeric, count or binary
variables over a cohort, exact: equal to the correlation of the pooled rows.

For each pair of variables a node releases the persons who have both (``n``), the two means
and the centred sums of squares and cross-products over them. Those are sufficient: the hub
pools them pair by pair (Chan, Golub and LeVeque's update: means and co-moments of two groups
combine exactly), and r = Sxy / sqrt(Sxx Syy) over the pooled rows, to rounding error.

``missing`` says which rows a pair uses: ``listwise`` (the default), the persons with every
variable, so every pair describes one population; ``pairwise``, the persons with both of the
pair's variables (as ``pandas.DataFrame.corr``), so the pairs may describe different
populations.

| part    | what it does                                                                        |
| ------- | ----------------------------------------------------------------------------------- |
| node    | per pair: n, means, centred sums over the complete cases                            |
| gate    | per pair: n judged as a count, and a binary variable's persons with 1 and with 0;  |
|         | a pair that fails is suppressed. Pair populations that differ from one another by  |
|         | 1..threshold-1 persons are refused (``differencing_risk``): subtracting their sums |
|         | would give those persons' values. Every released pair's population is checked      |
|         | against the project's earlier releases and remembered (``also``).                  |
| hub     | each pair's n judged again; pooled pair by pair; a pair a node withheld names it    |
| reading | ``CorrelationResult``: the matrix, each pair with n and a 95 % interval (Fisher z)  |

Like a model's sums, the released n is exact (a pooled correlation needs it): the defences
are the threshold, the rare-level rule and differencing, not rounding.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer
from pyroaring import BitMap

from fivesafes.analyses.commands import CohortOption
from fivesafes.analyses.correlation.hub import Pooled, combined, regated
from fivesafes.analyses.correlation.models import (
    CorrelationCombined,
    CorrelationOutput,
    CorrelationPair,
    CorrelationParameters,
    PooledPair,
)
from fivesafes.analyses.correlation.node import (
    PairRows,
    near_pairs,
    pair_rows,
    pair_sums,
    released_pair,
)
from fivesafes.analyses.correlation.result import CorrelationResult, _heatmap
from fivesafes.analyses.parameters import CohortLike, cohort_json
from fivesafes.analyses.plugin import (
    Analysis,
    Asker,
    Command,
    Computed,
    Judged,
    NodeContext,
    Refused,
)
from fivesafes.analyses.results.common import not_included
from fivesafes.analyses.results.page import Plot, Shown, table
from fivesafes.analyses.variables import analysis_frame
from fivesafes.protocol.models import GateRecord, TaskView
from fivesafes.protocol.runs import ReasonCode
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Verdict

__all__ = [
    "Correlation",
    "CorrelationCombined",
    "CorrelationOutput",
    "CorrelationPair",
    "CorrelationParameters",
    "CorrelationResult",
    "PairRows",
    "Pooled",
    "PooledPair",
    "combined",
    "correlation",
    "near_pairs",
    "pair_rows",
    "pair_sums",
    "regated",
    "released_pair",
]


def correlation(
    fed: Asker,
    cohort: CohortLike,
    variables: list[str],
    *,
    missing: str = "listwise",
    project: str | None = None,
    nodes: list[str] | None = None,
    timeout: int = 120,
    gate: dict[str, Any] | None = None,
) -> CorrelationResult:
    """The pooled Pearson correlation of named numeric, count or binary ``variables`` (e.g.
    ``["age", "bmi", "visits_past_year"]``) over ``cohort``: exactly the correlation of the
    pooled rows, each pair over its complete cases (``missing``: ``listwise``, the persons
    with every variable; ``pairwise``, with both of the pair's)."""
    parameters = {"cohort": cohort_json(cohort), "variables": variables, "missing": missing}
    view = fed.submit(
        "correlation", parameters, project=project, nodes=nodes, timeout=timeout, gate=gate
    )
    return CorrelationResult.from_view(fed.wait(view.task_id, timeout))


def _correlation_command(
    fed: Asker,
    *,
    variable: Annotated[
        list[str], typer.Option(help="A numeric, count or binary variable (repeat, 2-10).")
    ],
    cohort: CohortOption,
    missing: Annotated[
        str, typer.Option(help="listwise (persons with every variable) or pairwise.")
    ] = "listwise",
    project: str | None,
    nodes: list[str] | None,
    timeout: int,
) -> CorrelationResult:
    """The pooled Pearson correlation matrix of named variables, after disclosure control."""
    return correlation(
        fed, cohort, variable, missing=missing, project=project, nodes=nodes, timeout=timeout
    )


class Correlation(Analysis):
    name = "correlation"
    title = "Correlation"
    parameters = CorrelationParameters
    output = CorrelationOutput
    combined = CorrelationCombined
    result = CorrelationResult
    client = {"correlation": correlation}
    exports = (CorrelationResult,)
    commands = {"correlation": Command(_correlation_command)}

    def compute(self, parameters: CorrelationParameters, context: NodeContext) -> Computed:
        frame = analysis_frame(context.db, parameters.cohort, list(parameters.variables))
        pairs = pair_rows(frame.person_ids, frame.columns, parameters)
        everyone = BitMap.union(*(p.persons for p in pairs))
        return Computed(everyone, (pairs, parameters))

    def judge(self, computed: Computed, profile: Profile) -> Judged:
        pairs, parameters = computed.found
        judged = [released_pair(rows, profile) for rows in pairs]
        if any(verdict is Verdict.REVIEW for _, verdict in judged):
            return Judged("review", None)
        shown = [rows.persons for rows, (pair, _) in zip(pairs, judged, strict=True)
                 if not pair.suppressed]  # fmt: skip
        if near_pairs(shown, profile.threshold):
            raise Refused(ReasonCode.DIFFERENCING_RISK)
        released = bool(shown)
        verdict: Literal["pass", "fail"] = "pass" if released else "fail"
        rules = sorted({"threshold"} if any(p.suppressed for p, _ in judged) else set())
        document = CorrelationOutput(
            variables=list(parameters.variables),
            missing=parameters.missing,
            pairs=[pair for pair, _ in judged],
            gate=GateRecord(verdict=verdict, profile=profile.name, rules=rules),
        )
        others = tuple(p for p in shown if p != computed.persons)
        return Judged(verdict, document.model_dump(mode="json"), released=released, also=others)

    def regate(self, output: dict[str, Any], profile: Profile) -> dict[str, Any]:
        return regated(CorrelationOutput.model_validate(output), profile).model_dump(mode="json")

    def combine(
        self, outputs: dict[str, dict[str, Any]], missing: list[str], profile: Profile
    ) -> dict[str, Any]:
        return combined(self.checked(outputs), missing, profile)

    def show(self, view: TaskView, page: Shown) -> None:
        result = self.read(view)
        page.lines.append(
            f"Pearson correlation of {', '.join(result.variables)} ({result.missing} deletion), "
            f"pooled over {', '.join(result.nodes_contributing) or 'no node'}: exactly the "
            "correlation of the pooled rows"
        )
        page.tables.append(table("Correlation matrix", result.matrix(), index=True))
        page.tables.append(table("Each pair: r, its 95 % interval and n", result.to_frame()))
        if any(p["r"] is not None for p in result.pairs):
            page.plots.append(Plot("Heat map of the correlation matrix", _heatmap(result)))
        for pair in result.pairs:
            if pair["nodes_suppressed"]:
                left = ", ".join(pair["nodes_suppressed"])
                page.lines.append(f"{pair['row']} ~ {pair['column']}: not from {left}")
        if result.pairs and all(p["r"] is None for p in result.pairs):
            page.lines.append("Every pair was withheld: too few persons have both variables.")
        page.lines.extend(not_included(result.nodes_missing))
