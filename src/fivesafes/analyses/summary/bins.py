"""A summary's bins: the catalogue's, or wider ones chosen from released figures only.

A node counts its persons in bins agreed in the task, and its table checker suppresses a bin
under the threshold and, so that it cannot be had from the released n, a second one: the
catalogue's 5-year bins of age give a hospital's 80 persons about four a bin, nearly every bin
is suppressed and no quantile can be taken (``quantiles.MIN_COVERAGE``). Bins that fit a small
cohort must be wide where its persons are, which depends on the data, and edges taken from a
node's values would disclose them (an edge at a value says someone has it). So wider bins are
chosen here from released figures only, which the researcher already holds: each node's
released n (rounded), mean and sd. Nothing here sees a value; the nodes count their persons
in the new bins as in any others, and their table checkers judge the counts.

How (``wider_edges``):

- the *deciding* nodes are the largest that together hold ``HELD`` of the persons (the others
  may suppress all their bins and the pooled ones still hold enough);
- each deciding node is read as a normal distribution of its released mean and sd; candidate
  edges lie on a round step (1, 2 or 5 times a power of ten, about the pooled sd / 5; 1 for a
  count) between the 2 % and 98 % quantiles of their mixture;
- for each number of bins from 3 to ``MAX_BINS``, dynamic programming finds the edges that make
  the fewest persons any deciding node expects in a bin the largest; the most bins whose
  fewest is at least ``PER_BIN`` times the threshold are chosen, else three bins if each is
  expected to hold the threshold, else none: quartiles need a larger cohort;
- an open outer bin is read as if its persons were spread evenly up to its outer edge, so
  that edge is put where this reading matches the mixture's density at the inner edge: a
  quartile just inside an outer bin is then read well (within the catalogue's outer edges).

| nodes' released n, mean, sd (age)               | threshold | edges          |
| ----------------------------------------------- | --------- | -------------- |
| 140, 73.7, 11.6; 20, 49.9, 14.7; 80, 56.2, 11.5 | 10        | 46, 60, 66, 86 |
| 20, 65, 12 at each of three nodes               | 10        | none           |

Such bins are no riskier than edges a researcher may give (``edges=``): edges on a public step,
chosen from figures already released, and their counts judged by the same checker.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from statistics import NormalDist

HELD = 0.9  # the share of the persons whose nodes must release their bins
PER_BIN = 1.5  # every deciding node expects at least this many times the threshold per bin
MAX_BINS = 10

Released = tuple[int, float, float]
"""A node's released n, mean and sd."""


def deciding(nodes: Sequence[Released]) -> list[Released]:
    """The largest nodes that together hold ``HELD`` of the persons."""
    ordered = sorted((r for r in nodes if r[0] > 0 and r[2] > 0), reverse=True)
    total, held, chosen = sum(r[0] for r in ordered), 0, []
    for node in ordered:
        if held >= HELD * total:
            break
        chosen.append(node)
        held += node[0]
    return chosen


def step_for(sd: float, whole: bool) -> float:
    """A round step of about ``sd``/5 (1, 2 or 5 times a power of ten); at least 1 for a
    count."""
    rough = sd / 5
    power = 10.0 ** math.floor(math.log10(rough))
    step = max(m * power for m in (1.0, 2.0, 5.0) if m * power <= rough)
    return max(step, 1.0) if whole else step


class Mixture:
    """The nodes' normal distributions (of their released means and sds) mixed in proportion
    to their released n: where to put the edges, and what each bin is expected to hold."""

    def __init__(self, nodes: Sequence[Released]) -> None:
        total = sum(n for n, _, _ in nodes)
        self.parts = [(n / total, NormalDist(m, s)) for n, m, s in nodes]

    def cdf(self, x: float) -> float:
        return sum(w * normal.cdf(x) for w, normal in self.parts)

    def pdf(self, x: float) -> float:
        return sum(w * normal.pdf(x) for w, normal in self.parts)

    def quantile(self, p: float) -> float:
        low = min(normal.mean - 10 * normal.stdev for _, normal in self.parts)
        high = max(normal.mean + 10 * normal.stdev for _, normal in self.parts)
        for _ in range(60):
            middle = (low + high) / 2
            low, high = (middle, high) if self.cdf(middle) < p else (low, middle)
        return (low + high) / 2


def expected_counts(node: Released, edges: Sequence[float]) -> list[float]:
    """A node's expected persons per bin (outer bins open) under a normal distribution of its
    released mean and sd."""
    n, mean, sd = node
    normal = NormalDist(mean, sd)
    cuts = [0.0, *(normal.cdf(e) for e in edges[1:-1]), 1.0]
    return [n * (b - a) for a, b in itertools.pairwise(cuts)]


def wider_edges(
    nodes: Sequence[Released],
    threshold: int,
    catalogue: Sequence[float],
    *,
    whole: bool = False,
) -> list[float] | None:
    """Bin edges for quantiles of a small cohort from released figures only: each contributing
    node's released (n, mean, sd) and the gate's ``threshold`` (see the module's docstring).
    None when no three bins fit: too few persons at the nodes that hold most of them."""
    chosen = deciding(nodes)
    if not chosen:
        return None
    mixture = Mixture(chosen)
    total = sum(n for n, _, _ in chosen)
    mean = sum(n * m for n, m, _ in chosen) / total
    sd = math.sqrt(sum(n * (s**2 + (m - mean) ** 2) for n, m, s in chosen) / total)
    step = step_for(sd, whole)

    def snap(value: float) -> float:
        return round(round(value / step) * step, 10)

    first, last = float(catalogue[0]), float(catalogue[-1])
    grid = [
        e
        for e in _steps(snap(mixture.quantile(0.02)), snap(mixture.quantile(0.98)), step)
        if first < e < last
    ]
    best = balanced(chosen, grid, MAX_BINS)
    enough = [k for k, (least, _) in best.items() if least >= PER_BIN * threshold]
    if enough:
        cuts = best[max(enough)][1]
    elif 3 in best and best[3][0] >= threshold:
        cuts = best[3][1]
    else:
        return None
    # open outer bins are read as if even up to their outer edge: put it where that reading
    # matches the density at the inner edge, so a quartile just inside is read well
    low = cuts[0] - mixture.cdf(cuts[0]) / max(mixture.pdf(cuts[0]), 1e-12)
    high = cuts[-1] + (1.0 - mixture.cdf(cuts[-1])) / max(mixture.pdf(cuts[-1]), 1e-12)
    return [
        max(first, min(snap(low), cuts[0] - step)),
        *cuts,
        min(last, max(snap(high), cuts[-1] + step)),
    ]


def _steps(low: float, high: float, step: float) -> list[float]:
    count = max(0, round((high - low) / step))
    return [round(low + k * step, 10) for k in range(count + 1)]


def balanced(
    nodes: Sequence[Released], grid: Sequence[float], most: int
) -> dict[int, tuple[float, list[float]]]:
    """For each number of bins k from 3 to ``most``: the k - 1 inner edges, from ``grid``,
    that make the fewest persons any of the ``nodes`` expects in a bin (outer bins open) the
    largest, with that fewest. Dynamic programming over the grid."""
    normals = [(n, NormalDist(m, s)) for n, m, s in nodes]
    below = [[n * normal.cdf(e) for e in grid] for n, normal in normals]
    size = len(grid)

    def held(i: int, j: int) -> float:
        """The fewest persons a node expects from grid[i] to grid[j] (-1, ``size``: open)."""
        return min(
            (below[k][j] if j < size else n) - (below[k][i] if i >= 0 else 0.0)
            for k, (n, _) in enumerate(normals)
        )

    # ending[j]: the best fewest over some bins, the last ending at grid[j], and their edges
    ending: list[tuple[float, list[int]]] = [(held(-1, j), [j]) for j in range(size)]
    result: dict[int, tuple[float, list[float]]] = {}
    for bins in range(3, most + 1):
        ending = [
            max(
                ((min(ending[i][0], held(i, j)), [*ending[i][1], j]) for i in range(j)),
                default=(-math.inf, [j]),
            )
            for j in range(size)
        ]
        if ending:  # and one more bin, open above
            fewest, chosen = max((min(f, held(e[-1], size)), e) for f, e in ending)
            result[bins] = (fewest, [grid[i] for i in chosen])
    return result


def edges_text(edges: Sequence[float]) -> str:
    """Edges as the command line takes them: ``0,60,72,110``."""
    return ",".join(f"{e:g}" for e in edges)
