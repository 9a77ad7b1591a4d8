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

import itertools
import math
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
import typer
from pydantic import Field, StringConstraints, model_validator
from pyroaring import AbstractBitMap, BitMap

from fivesafes.analyses.catalogue import VARIABLES, VariableName
from fivesafes.analyses.commands import CohortOption
from fivesafes.analyses.parameters import CohortDefinition, CohortLike, cohort_json
from fivesafes.analyses.plugin import (
    Analysis,
    Asker,
    Command,
    Computed,
    Judged,
    NodeContext,
    Refused,
)
from fivesafes.analyses.results import svg
from fivesafes.analyses.results.combined import Nodes, ProfileName
from fivesafes.analyses.results.common import not_included, why_not
from fivesafes.analyses.results.page import Plot, Shown, table
from fivesafes.analyses.variables import analysis_frame
from fivesafes.protocol.models import FiniteFloat, GateRecord, Strict, TaskView
from fivesafes.protocol.runs import ReasonCode
from fivesafes.sdc.differencing import ReleasedSet, check_population, person_set
from fivesafes.sdc.gate import CountEvidence, judge
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Verdict

Z975 = 1.959963984540054
CORRELATED = ("numeric", "count", "binary")
Missing = Literal["listwise", "pairwise"]

# ---- the wire ---------------------------------------------------------------------------------


class CorrelationParameters(Strict):
    """Two to ten distinct numeric, count or binary variables of the catalogue."""

    cohort: CohortDefinition
    variables: Annotated[list[VariableName], Field(min_length=2, max_length=10)]
    missing: Missing = "listwise"

    @model_validator(mode="after")
    def _numbers(self) -> CorrelationParameters:
        if len(set(self.variables)) != len(self.variables):
            raise ValueError("each variable is named once")
        if any(VARIABLES[v].kind not in CORRELATED for v in self.variables):
            raise ValueError("a correlation's variables must be numeric, count or binary")
        return self


class CorrelationPair(Strict):
    """One pair over its complete cases: n, the means and the centred sums, or a marker."""

    row: Annotated[str, StringConstraints(max_length=64)]
    column: Annotated[str, StringConstraints(max_length=64)]
    suppressed: bool
    rule: Annotated[str, StringConstraints(max_length=200)] = ""
    n: Annotated[int, Field(ge=0)] | None = None
    mean_x: FiniteFloat | None = None
    mean_y: FiniteFloat | None = None
    sxx: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = None
    syy: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = None
    sxy: FiniteFloat | None = None

    def sums(self) -> tuple[int, float, float, float, float, float]:
        """n, the means, the centred sums of squares and the cross-product."""
        n, mx, my, sxx, syy, sxy = (self.n, self.mean_x, self.mean_y, self.sxx, self.syy, self.sxy)
        if n is None or mx is None or my is None or sxx is None or syy is None or sxy is None:
            raise ValueError("a suppressed pair has no sums")
        return n, mx, my, sxx, syy, sxy

    @model_validator(mode="after")
    def _values_or_marker(self) -> CorrelationPair:
        values = (self.n, self.mean_x, self.mean_y, self.sxx, self.syy, self.sxy)
        if self.suppressed != all(v is None for v in values):
            raise ValueError("a pair releases every sum or is suppressed, not both")
        return self


class CorrelationOutput(Strict):
    variables: Annotated[list[str], Field(min_length=2, max_length=10)]
    missing: Missing
    pairs: Annotated[list[CorrelationPair], Field(max_length=45)]
    gate: GateRecord

    @model_validator(mode="after")
    def _released_only_on_pass(self) -> CorrelationOutput:
        if (self.gate.verdict == "pass") != any(not p.suppressed for p in self.pairs):
            raise ValueError("a correlation releases pairs exactly when it passed")
        return self


VariableLabel = Annotated[str, StringConstraints(max_length=64)]


class PooledPair(Strict):
    """One pair pooled over the nodes that released it: n, r and its 95 % interval, or
    nothing if the pooled n fails the gate; the nodes that withheld it are named."""

    row: VariableLabel
    column: VariableLabel
    n: Annotated[int, Field(ge=0)] | None
    r: Annotated[float, Field(ge=-1.0, le=1.0, allow_inf_nan=False)] | None
    ci: tuple[FiniteFloat, FiniteFloat] | None
    nodes: Nodes
    nodes_suppressed: Nodes


class CorrelationCombined(Strict):
    """The pooled correlation matrix, pair by pair (``combined``)."""

    analysis: Literal["correlation"]
    variables: Annotated[list[VariableLabel], Field(max_length=10)]
    missing: Missing | None
    pairs: Annotated[list[PooledPair], Field(max_length=45)]
    nodes_contributing: Nodes
    nodes_missing: Nodes
    profile: ProfileName


# ---- the node ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairRows:
    """One pair's complete cases at the node (never leaves it)."""

    row: str
    column: str
    persons: AbstractBitMap
    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]


def pair_rows(
    ids: npt.NDArray[np.int64], columns: dict[str, npt.NDArray[np.float64]], parameters: Any
) -> list[PairRows]:
    """Each pair's complete cases, listwise or pairwise."""
    names: list[str] = list(parameters.variables)
    every = np.all([~np.isnan(columns[n]) for n in names], axis=0)
    pairs = []
    for a, b in itertools.combinations(names, 2):
        both = ~np.isnan(columns[a]) & ~np.isnan(columns[b])
        keep = every if parameters.missing == "listwise" else both
        pairs.append(PairRows(a, b, person_set(ids[keep]), columns[a][keep], columns[b][keep]))
    return pairs


def released_pair(rows: PairRows, profile: Profile) -> tuple[CorrelationPair, Verdict]:
    """One pair as the gate releases it: its n judged as a count, and each binary variable's
    persons with 1 and with 0 too (a rare level would be disclosed by its sum)."""
    counts = [len(rows.x)]
    for name, values in ((rows.row, rows.x), (rows.column, rows.y)):
        if VARIABLES[name].kind == "binary":
            ones = int(np.sum(values == 1.0))
            counts += [ones, len(values) - ones]
    judged = [judge(CountEvidence(c), profile) for c in counts]
    verdicts = {j.verdict for j in judged}
    verdict = next((v for v in (Verdict.REVIEW, Verdict.FAIL) if v in verdicts), Verdict.PASS)
    if verdict is not Verdict.PASS:
        rules = sorted({r for j in judged for r in j.rules})
        marker = CorrelationPair(
            row=rows.row, column=rows.column, suppressed=True, rule="; ".join(rules)
        )
        return marker, verdict
    return pair_sums(rows), verdict


def pair_sums(rows: PairRows) -> CorrelationPair:
    """A pair's n, means and centred sums (two passes: the means first)."""
    dx, dy = rows.x - rows.x.mean(), rows.y - rows.y.mean()
    return CorrelationPair(
        row=rows.row,
        column=rows.column,
        suppressed=False,
        n=len(rows.x),
        mean_x=float(rows.x.mean()),
        mean_y=float(rows.y.mean()),
        sxx=float(dx @ dx),
        syy=float(dy @ dy),
        sxy=float(dx @ dy),
    )


def near_pairs(populations: list[AbstractBitMap], threshold: int) -> bool:
    """Whether two of one output's pair populations differ by 1..threshold-1 persons."""
    for k, persons in enumerate(populations):
        others = [ReleasedSet(f"pair {j}", "", p) for j, p in enumerate(populations) if j != k]
        if not check_population(persons, others, threshold).passed:
            return True
    return False


# ---- the hub ----------------------------------------------------------------------------------


@dataclass
class Pooled:
    """One pair pooled over nodes: n, means and co-moments (Chan, Golub and LeVeque)."""

    n: int = 0
    mean_x: float = 0.0
    mean_y: float = 0.0
    sxx: float = 0.0
    syy: float = 0.0
    sxy: float = 0.0
    nodes: list[str] = field(default_factory=list)

    def add(self, node: str, pair: CorrelationPair) -> None:
        m, mean_x, mean_y, sxx, syy, sxy = pair.sums()
        n = self.n + m
        if n == 0:
            return
        dx, dy = mean_x - self.mean_x, mean_y - self.mean_y
        weight = self.n * m / n
        self.sxx += sxx + dx * dx * weight
        self.syy += syy + dy * dy * weight
        self.sxy += sxy + dx * dy * weight
        self.mean_x += dx * m / n
        self.mean_y += dy * m / n
        self.n = n
        self.nodes.append(node)

    @property
    def r(self) -> float | None:
        if self.sxx <= 0.0 or self.syy <= 0.0:
            return None  # a constant variable has no correlation
        return max(-1.0, min(1.0, self.sxy / math.sqrt(self.sxx * self.syy)))

    def interval(self) -> list[float] | None:
        """The 95 % interval by Fisher's z (none for n <= 3 or |r| = 1)."""
        r = self.r
        if r is None or self.n <= 3 or abs(r) >= 1.0:
            return None
        z, half = math.atanh(r), Z975 / math.sqrt(self.n - 3)
        return [math.tanh(z - half), math.tanh(z + half)]


def regated(output: CorrelationOutput, profile: Profile) -> CorrelationOutput:
    """Each released pair's n judged again under the hub's profile."""
    pairs = []
    for pair in output.pairs:
        if pair.n is not None and judge(CountEvidence(pair.n), profile).verdict is not Verdict.PASS:
            pair = CorrelationPair(
                row=pair.row, column=pair.column, suppressed=True, rule="hub: threshold"
            )
        pairs.append(pair)
    gate = output.gate
    if gate.verdict == "pass" and all(p.suppressed for p in pairs):
        gate = gate.model_copy(update={"verdict": "fail", "rules": [*gate.rules, "hub: threshold"]})
    return output.model_copy(update={"pairs": pairs, "gate": gate})


def combined(
    outputs: dict[str, CorrelationOutput], missing: list[str], profile: Profile
) -> dict[str, Any]:
    """Per pair, the nodes' released sums pooled; a pair some node withheld names it."""
    first = next(iter(outputs.values()), None)
    variables = first.variables if first else []
    unlike = sorted(
        n
        for n, o in outputs.items()
        if first and (o.variables, o.missing) != (variables, first.missing)
    )
    pooled: dict[tuple[str, str], Pooled] = {}
    withheld: dict[tuple[str, str], list[str]] = {}
    for node, output in sorted(outputs.items()):
        if node in unlike:
            continue
        for pair in output.pairs:
            key = (pair.row, pair.column)
            if pair.suppressed:
                withheld.setdefault(key, []).append(node)
            else:
                pooled.setdefault(key, Pooled()).add(node, pair)
    pairs = []
    for a, b in itertools.combinations(variables, 2):
        found = pooled.get((a, b), Pooled())
        shown = found.n > 0 and judge(CountEvidence(found.n), profile).verdict is Verdict.PASS
        pairs.append(
            {
                "row": a,
                "column": b,
                "n": found.n if shown else None,
                "r": found.r if shown else None,
                "ci": found.interval() if shown else None,
                "nodes": found.nodes if shown else [],
                "nodes_suppressed": withheld.get((a, b), []),
            }
        )
    return {
        "analysis": "correlation",
        "variables": variables,
        "missing": first.missing if first else None,
        "pairs": pairs,
        "nodes_contributing": sorted(n for n in outputs if n not in unlike),
        "nodes_missing": sorted([*missing, *unlike]),
        "profile": profile.name,
    }


# ---- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorrelationResult:
    """The pooled correlation matrix: per pair r, n and its 95 % interval, and the nodes whose
    pair was withheld (then the pooled value leaves them out)."""

    task_id: str
    complete: bool
    variables: list[str]
    missing: str | None
    pairs: list[dict[str, Any]]
    nodes_contributing: list[str]
    nodes_missing: dict[str, str]

    @classmethod
    def from_view(cls, view: TaskView) -> CorrelationResult:
        combined: dict[str, Any] = view.combined or {}
        reasons = why_not(view)
        return cls(
            task_id=view.task_id,
            complete=view.state == "complete",
            variables=list(combined.get("variables", [])),
            missing=combined.get("missing"),
            pairs=list(combined.get("pairs", [])),
            nodes_contributing=list(combined.get("nodes_contributing", [])),
            nodes_missing={n: reasons.get(n, "") for n in combined.get("nodes_missing", [])},
        )

    def r(self, a: str, b: str) -> float | None:
        """The pooled correlation of ``a`` and ``b`` (None if withheld)."""
        if a == b:
            return 1.0
        for pair in self.pairs:
            if {pair["row"], pair["column"]} == {a, b}:
                found: float | None = pair["r"]
                return found
        raise KeyError(f"no pair {a!r}, {b!r}")

    def matrix(self) -> Any:
        """The matrix as a DataFrame (NA where a pair was withheld)."""
        import pandas as pd

        values = [[self.r(a, b) for b in self.variables] for a in self.variables]
        return pd.DataFrame(values, index=self.variables, columns=self.variables, dtype=float)

    def to_frame(self) -> Any:
        """One row per pair: r, its interval, n and the nodes that withheld it."""
        import pandas as pd

        rows = [
            {
                "pair": f"{p['row']} ~ {p['column']}",
                "r": p["r"],
                "ci_low": p["ci"][0] if p["ci"] else None,
                "ci_high": p["ci"][1] if p["ci"] else None,
                "n": p["n"],
                "withheld by": ", ".join(p["nodes_suppressed"]) or None,
            }
            for p in self.pairs
        ]
        return pd.DataFrame(rows)

    def __str__(self) -> str:
        lines = [f"Pearson correlation ({self.missing} deletion), pooled over the nodes"]
        for p in self.pairs:
            shown = "withheld" if p["r"] is None else f"{p['r']: .4f}  (n={p['n']:,})"
            lines.append(f"  {p['row']} ~ {p['column']}: {shown}")
        lines.extend(not_included(self.nodes_missing))
        return "\n".join(lines)


def _heatmap(result: CorrelationResult) -> str:
    def draw() -> Any:
        import matplotlib.pyplot as plt

        matrix = result.matrix().to_numpy()
        figure, axes = plt.subplots(figsize=(1.2 + 0.8 * len(result.variables),) * 2)
        image = axes.imshow(matrix, vmin=-1.0, vmax=1.0, cmap="RdBu_r")
        ticks = range(len(result.variables))
        axes.set_xticks(ticks, result.variables, rotation=45, ha="right")
        axes.set_yticks(ticks, result.variables)
        for (i, j), value in np.ndenumerate(matrix):
            axes.text(j, i, "—" if np.isnan(value) else f"{value:.2f}", ha="center", va="center")
        figure.colorbar(image, ax=axes, shrink=0.8)
        figure.tight_layout()
        return figure

    return svg.drawn(draw)


# ---- asking -----------------------------------------------------------------------------------


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
