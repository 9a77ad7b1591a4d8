"""The hub part of a correlation: each pair's n judged again, and the pairs pooled exactly
(Chan, Golub and LeVeque's update of means and co-moments)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from fivesafes.analyses.correlation.models import (
    CorrelationOutput,
    CorrelationPair,
)
from fivesafes.sdc.gate import CountEvidence, judge
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Verdict

Z975 = 1.959963984540054


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
