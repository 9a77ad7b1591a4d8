"""The node part of a correlation: each pair's complete cases, the gate per pair, and the
check that no two pairs of one matrix describe nearly the same persons."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap

from fivesafes.analyses.catalogue import VARIABLES
from fivesafes.analyses.correlation.models import (
    CorrelationPair,
)
from fivesafes.sdc.differencing import ReleasedSet, check_population, person_set
from fivesafes.sdc.gate import CountEvidence, judge
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Verdict


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
