"""Federated summaries of a named variable, plain or by a grouping factor.

Quantiles come from released bins (``fivesafes.analyses.quantiles``), never from raw values:
each node's from its own released bins, the pooled ones from the hub's combined bins. Where
they are withheld, the result says what the researcher can do (``advice``): ask with the wider
bins ``summary.bins`` chooses from the released figures, or about a larger cohort.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fivesafes.analyses.catalogue import VARIABLES
from fivesafes.analyses.quantiles import STANDARD, TooFewBinsError, bin_quantiles, label_edges
from fivesafes.analyses.results.common import not_included, why_not
from fivesafes.analyses.results.figures import estimate
from fivesafes.analyses.summary.bins import Released, edges_text, wider_edges
from fivesafes.analyses.summary.models import SummaryOutput
from fivesafes.protocol.models import TaskView
from fivesafes.sdc.profiles import DEFAULT, ProfileError, get_profile

MEDIAN_AND_QUARTILES = (0.25, 0.5, 0.75)


def _shown_quantiles(cells: list[dict[str, Any]], n: int | None) -> dict[float, float]:
    try:
        return bin_quantiles(cells, MEDIAN_AND_QUARTILES, n)
    except ValueError:
        return {}


def _fmt(value: float | None) -> str:
    return estimate(value)


def _quartiles_shown(cells: list[dict[str, Any]], n: int | None) -> bool:
    return n is None or all(p in _shown_quantiles(cells, n) for p in MEDIAN_AND_QUARTILES)


def _iqr(cells: list[dict[str, Any]], n: int | None) -> str:
    """Median (IQR) of released bins, or why there is none (``advice`` says more)."""
    if n is None:
        return "—"
    quantiles = _shown_quantiles(cells, n)
    if not all(p in quantiles for p in MEDIAN_AND_QUARTILES):
        return "— (wider bins)"
    low, median, high = (quantiles[p] for p in MEDIAN_AND_QUARTILES)
    return f"{median:.1f} ({low:.1f}-{high:.1f})"


def edges_of(cells: list[dict[str, Any]]) -> list[float]:
    """The edges of bins, from their labels (``[a, b)``)."""
    edges = [label_edges(str(c["row"])) for c in cells]
    return [edges[0][0], *(high for _, high in edges)] if edges else []


def _listed(edges: Sequence[float]) -> str:
    return "[" + ", ".join(f"{e:g}" for e in edges) + "]"


def gate_threshold(profile: str | None) -> int:
    """The threshold of the hub's profile a combined result names (of a tightened one, its
    preset's: at least that); the default profile's if it names none that is known."""
    try:
        return get_profile((profile or "").removesuffix(" (tightened)")).threshold
    except ProfileError:
        return DEFAULT.threshold


def suggested_edges(
    variable: str | None, nodes: list[Released], profile: str | None
) -> list[float] | None:
    """Wider bins for a variable's quantiles, chosen from the released (n, mean, sd) of each
    node (``summary.bins.wider_edges``); None if the cohort is too small for them."""
    if variable not in VARIABLES:
        return None
    known = VARIABLES[variable]
    threshold = gate_threshold(profile)
    return wider_edges(nodes, threshold, known.bins, whole=known.kind == "count")


def advice(
    what: str, suggestion: list[float] | None, profile: str | None, *, widened: bool = False
) -> str:
    """What a researcher can do when the quartiles of ``what`` are withheld: ask with the
    suggested wider bins, or (none to suggest, or ``widened`` already) about a larger
    cohort."""
    if widened:
        return (
            f"{what}: median (IQR) withheld, even the wider bins hold under 80 % of n (a bin "
            "under the threshold is suppressed). Ask about a larger cohort (more persons or "
            "more nodes), or give three or four wide bins yourself: edges=[a, b, c, d] in "
            "Python, --edges a,b,c,d with `fivesafes analyse summary`."
        )
    if suggestion is not None:
        return (
            f"{what}: median (IQR) withheld, the released bins hold under 80 % of n (a bin "
            "under the threshold is suppressed). Ask with fewer, wider bins: "
            f"edges={_listed(suggestion)} in Python, --edges {edges_text(suggestion)} with "
            "`fivesafes analyse summary` (chosen from the released n, mean and sd); or ask "
            "about a larger cohort."
        )
    return (
        f"{what}: median (IQR) withheld, too few persons for three bins that each hold the "
        f"threshold ({gate_threshold(profile)}) at the nodes with most of them. Ask about a "
        "larger cohort (more persons or more nodes), or give three or four wide bins "
        "yourself: edges=[a, b, c, d] in Python, --edges a,b,c,d with "
        "`fivesafes analyse summary`."
    )


@dataclass(frozen=True)
class NodeSummary:
    node: str
    state: str
    n: int | None
    mean: float | None
    sd: float | None
    verdict: str | None  # pass | fail, None when the node did not succeed
    rules: list[str]
    reason: str | None
    message: str | None
    missing: int | None = None
    bins: list[dict[str, Any]] = field(default_factory=list)

    def quantiles(self, probabilities: Sequence[float] = STANDARD) -> dict[float, float]:
        """Quantiles (default 5, 25, 50, 75, 95 %) from this node's released bins; raises
        ``ValueError`` if they hold too few of its persons (ask with wider bins)."""
        return bin_quantiles(self.bins, probabilities, self.n)


@dataclass(frozen=True)
class SummaryResult:
    """A federated summary: per node what its gate released, and the hub's pooled figures
    (mean and sd weighted by the released, rounded n of each node; quantiles from the summed
    released bins; missing the sum of released missing counts)."""

    task_id: str
    complete: bool
    variable: str | None
    nodes: list[NodeSummary]
    n: int | None
    mean: float | None
    sd: float | None
    nodes_suppressed: list[str] = field(default_factory=list)
    missing: int | None = None
    bins: list[dict[str, Any]] = field(default_factory=list)
    nodes_missing: dict[str, str] = field(default_factory=dict)
    missing_suppressed: list[str] = field(default_factory=list)  # pooled missing: at least
    profile: str | None = None  # the hub's
    widened_from: str | None = None  # the task whose released figures chose these bins

    @classmethod
    def from_view(cls, view: TaskView) -> SummaryResult:
        nodes = []
        for run in view.runs:
            out = SummaryOutput.model_validate(run.output) if run.output else None
            nodes.append(
                NodeSummary(
                    node=run.node,
                    state=run.state.value,
                    n=out.n.value if out else None,
                    mean=out.mean if out else None,
                    sd=out.sd if out else None,
                    verdict=out.gate.verdict if out else None,
                    rules=list(out.gate.rules) if out else [],
                    reason=run.reason.value if run.reason else None,
                    message=run.message,
                    missing=out.missing.value if out else None,
                    bins=[c.model_dump(mode="json") for c in out.bins] if out else [],
                )
            )
        combined: dict[str, Any] = view.combined or {}
        pooled_n: dict[str, Any] = combined.get("n") or {}
        reasons = why_not(view)
        return cls(
            task_id=view.task_id,
            complete=view.state == "complete",
            variable=combined.get("variable"),
            nodes=nodes,
            n=pooled_n.get("value"),
            mean=combined.get("mean"),
            sd=combined.get("sd"),
            nodes_suppressed=list(combined.get("nodes_suppressed", [])),
            missing=combined.get("missing"),
            missing_suppressed=list(combined.get("missing_suppressed", [])),
            bins=list(combined.get("bins", [])),
            nodes_missing={n: reasons.get(n, "") for n in combined.get("nodes_missing", [])},
            profile=combined.get("profile"),
        )

    def quantiles(self, probabilities: Sequence[float] = STANDARD) -> dict[float, float]:
        """Pooled quantiles (default 5, 25, 50, 75, 95 %) from the combined released bins
        (approximate where a node suppressed a bin); raises ``ValueError`` if no bin was
        released, or ``TooFewBinsError`` saying what to ask instead if they hold too few of
        the persons."""
        try:
            return bin_quantiles(self.bins, probabilities, self.n)
        except TooFewBinsError:
            raise TooFewBinsError(self._advice("pooled")) from None

    @property
    def edges(self) -> list[float]:
        """The edges of the bins the quantiles come from."""
        return edges_of(self.bins)

    def quartiles_released(self) -> bool:
        """Whether the pooled median and quartiles could be taken from the released bins."""
        return self.n is not None and _quartiles_shown(self.bins, self.n)

    def wider_edges(self) -> list[float] | None:
        """Wider bins for this cohort, from the nodes' released n, mean and sd only
        (``summary.bins``); None if it is too small for them."""
        released: list[Released] = [
            (s.n, s.mean, s.sd)
            for s in self.nodes
            if s.n is not None and s.mean is not None and s.sd is not None
        ]
        return suggested_edges(self.variable, released, self.profile)

    def _advice(self, what: str) -> str:
        """What to ask instead: wider bins, unless these are the ones they would be."""
        wider = self.wider_edges()
        return advice(what, wider, self.profile, widened=wider is not None and wider == self.edges)

    def notes(self) -> list[str]:
        """What the table does not say itself: where the bins came from, and why a median
        (IQR) is withheld and what to ask instead."""
        lines = []
        if self.widened_from is not None:
            lines.append(
                f"quartiles from bins on the edges {_listed(self.edges)}, chosen from the n, "
                f"mean and sd released by task {self.widened_from} (the catalogue's bins were "
                "too narrow for this cohort)"
            )
        if self.n is not None and not self.quartiles_released():
            lines.append(self._advice("pooled"))
        elif self.n is not None:
            narrow = [s.node for s in self.nodes if not _quartiles_shown(s.bins, s.n)]
            if narrow:
                whose = "its" if len(narrow) == 1 else "their"
                lines.append(
                    f"{', '.join(narrow)}: median (IQR) withheld, {whose} released bins hold "
                    f"under 80 % of {whose} n (too few persons for them); the pooled figures "
                    "count every released bin"
                )
        return lines

    def to_frame(self) -> Any:
        """One row per node and one POOLED row: n, missing, mean, sd, median, quartiles."""
        import pandas as pd

        def row(
            name: str, n: Any, missing: Any, mean: Any, sd: Any, q: dict[float, float]
        ) -> dict[str, Any]:
            return {
                "node": name,
                "n": n,
                "missing": missing,
                "mean": mean,
                "sd": sd,
                **{f"q{round(100 * p)}": q.get(p) for p in MEDIAN_AND_QUARTILES},
            }

        rows = [
            row(s.node, s.n, s.missing, s.mean, s.sd, _shown_quantiles(s.bins, s.n))
            for s in self.nodes
        ]
        pooled = _shown_quantiles(self.bins, self.n)
        rows.append(row("POOLED", self.n, self.missing, self.mean, self.sd, pooled))
        return pd.DataFrame(rows)

    def __str__(self) -> str:
        width = max([len(n.node) for n in self.nodes] + [6])
        header = f"{'n':>8}  {'missing':>10}  {'mean':>8}  {'sd':>8}  {'median (IQR)':>20}"
        lines = [f"Federated summary of {self.variable}", f"{'node':<{width}}  {header}  status"]
        for s in self.nodes:
            status = s.state if not s.reason else f"{s.state}: {s.message or s.reason}"
            if s.verdict == "fail":
                status = "suppressed: " + ", ".join(s.rules)
            n = "—" if s.n is None else str(s.n)
            missing = "—" if s.missing is None else str(s.missing)
            if s.missing is None and s.n is not None:
                missing = "suppressed"
            lines.append(
                f"{s.node:<{width}}  {n:>8}  {missing:>10}  {_fmt(s.mean):>8}  {_fmt(s.sd):>8}  "
                f"{_iqr(s.bins, s.n):>20}  {status}"
            )
        n = "suppressed" if self.n is None else str(self.n)
        missing = "suppressed" if self.missing is None and self.n else str(self.missing or "—")
        if self.missing is not None and self.missing_suppressed:
            missing = f"≥{missing}"
        quantiles = _iqr(self.bins, self.n)
        lines.append(
            f"{'POOLED':<{width}}  {n:>8}  {missing:>10}  {_fmt(self.mean):>8}  "
            f"{_fmt(self.sd):>8}  {quantiles:>20}  weighted by released n; "
            "quantiles from released bins"
        )
        lines.extend(not_included(self.nodes_missing))
        lines.extend(self.notes())
        return "\n".join(lines)


@dataclass(frozen=True)
class SummaryTable:
    """Summaries of several variables over one cohort: one federated summary per variable."""

    results: dict[str, SummaryResult]

    def __getitem__(self, variable: str) -> SummaryResult:
        return self.results[variable]

    def to_frame(self) -> Any:
        """One pooled row per variable: n, missing, mean, sd, median and quartiles."""
        import pandas as pd

        frames = []
        for variable, result in self.results.items():
            pooled = result.to_frame().iloc[[-1]].drop(columns="node")
            frames.append(pooled.assign(variable=variable).set_index("variable"))
        return pd.concat(frames)

    def __str__(self) -> str:
        return "\n\n".join(str(r) for r in self.results.values())


@dataclass(frozen=True)
class GroupedSummaryResult:
    """A summary per level of a grouping factor: per level, each node's released figures and
    the pooled ones (weighted by released n; quantiles from the level's combined bins)."""

    task_id: str
    complete: bool
    variable: str | None
    by: str | None
    groups: dict[str, dict[str, Any]]  # level -> pooled {"n", "mean", "sd", "bins", ...}
    nodes: dict[str, list[dict[str, Any]]]  # node -> its released groups
    nodes_missing: dict[str, str] = field(default_factory=dict)  # node -> why not included
    profile: str | None = None  # the hub's
    widened_from: str | None = None  # the task whose released figures chose these bins

    @classmethod
    def from_view(cls, view: TaskView) -> GroupedSummaryResult:
        combined: dict[str, Any] = view.combined or {}
        return cls(
            task_id=view.task_id,
            complete=view.state == "complete",
            variable=combined.get("variable"),
            by=combined.get("by"),
            groups=dict(combined.get("groups", {})),
            nodes={r.node: list(r.output.get("groups", [])) for r in view.runs if r.output},
            nodes_missing={n: why_not(view).get(n, "") for n in combined.get("nodes_missing", [])},
            profile=combined.get("profile"),
        )

    def quantiles(
        self, level: str, probabilities: Sequence[float] = STANDARD
    ) -> dict[float, float]:
        """Pooled quantiles of one level (default 5, 25, 50, 75, 95 %), from its combined
        released bins; raises ``ValueError`` if none was released, or ``TooFewBinsError``
        saying what to ask instead if they hold too few of the level's persons."""
        pooled = self.groups[level]
        n = (pooled.get("n") or {}).get("value")
        try:
            return bin_quantiles(pooled.get("bins", []), probabilities, n)
        except TooFewBinsError:
            raise TooFewBinsError(self._advice(level)) from None

    def _withheld(self) -> list[str]:
        """The levels whose pooled median (IQR) is withheld though their n was released."""
        return [
            level
            for level, pooled in self.groups.items()
            if not _quartiles_shown(pooled.get("bins", []), (pooled.get("n") or {}).get("value"))
        ]

    def quartiles_released(self) -> bool:
        """Whether every level with a released n has its pooled median and quartiles."""
        return not self._withheld()

    def wider_edges(self) -> list[float] | None:
        """Wider bins for every level, from each node's released n, mean and sd of each level
        only (``summary.bins``); None if the levels are too small for them."""
        released: list[Released] = [
            (g["n"]["value"], g["mean"], g["sd"])
            for groups in self.nodes.values()
            for g in groups
            if (g.get("n") or {}).get("value") is not None
            and g.get("mean") is not None
            and g.get("sd") is not None
        ]
        return suggested_edges(self.variable, released, self.profile)

    @property
    def edges(self) -> list[float]:
        """The edges of the bins the quantiles come from."""
        return next((edges_of(p["bins"]) for p in self.groups.values() if p.get("bins")), [])

    def _advice(self, what: str) -> str:
        """What to ask instead: wider bins, unless these are the ones they would be."""
        wider = self.wider_edges()
        return advice(what, wider, self.profile, widened=wider is not None and wider == self.edges)

    def notes(self) -> list[str]:
        """Where the bins came from, and why a level's median (IQR) is withheld and what to
        ask instead."""
        lines = []
        if self.widened_from is not None:
            edges = self.edges
            lines.append(
                f"quartiles from bins on the edges {_listed(edges)}, chosen from the n, mean "
                f"and sd released by task {self.widened_from} (the catalogue's bins were too "
                "narrow for these groups)"
            )
        withheld = self._withheld()
        if withheld:
            lines.append(self._advice(", ".join(withheld)))
        return lines

    def to_frame(self) -> Any:
        """One pooled row per level: n, missing, mean, sd, median and quartiles (suppressed
        figures are missing)."""
        import pandas as pd

        rows = []
        for level, pooled in self.groups.items():
            n = (pooled.get("n") or {}).get("value")
            q = _shown_quantiles(pooled.get("bins", []), n)
            rows.append(
                {
                    "level": level,
                    "n": n,
                    "missing": pooled.get("missing"),
                    "mean": pooled.get("mean"),
                    "sd": pooled.get("sd"),
                    **{f"q{round(100 * p)}": q.get(p) for p in MEDIAN_AND_QUARTILES},
                }
            )
        columns = ["level", "n", "missing", "mean", "sd", "q25", "q50", "q75"]
        return pd.DataFrame(rows, columns=columns)

    def __str__(self) -> str:
        lines = [f"Federated summary of {self.variable} by {self.by} (pooled over nodes)"]
        lines.append(
            f"{'level':<10} {'n':>10} {'missing':>10} {'mean':>8} {'sd':>8} {'median (IQR)':>20}"
        )
        for level, pooled in self.groups.items():
            n = pooled.get("n", {}).get("value")
            missing = pooled.get("missing")
            shown_n = "suppressed" if n is None else str(n)
            shown_missing = "—" if missing is None else str(missing)
            if missing is None and n is not None:
                shown_missing = "suppressed"
            if missing is not None and pooled.get("missing_suppressed"):
                shown_missing = f"≥{shown_missing}"
            quantiles = _iqr(pooled.get("bins", []), n)
            lines.append(
                f"{level:<10} {shown_n:>10} {shown_missing:>10} {_fmt(pooled.get('mean')):>8} "
                f"{_fmt(pooled.get('sd')):>8} {quantiles:>20}"
            )
        lines.extend(not_included(self.nodes_missing))
        lines.extend(self.notes())
        return "\n".join(lines)
