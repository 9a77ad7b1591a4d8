"""The encodings' threshold of one linkage run, chosen from the run's own strangers.

A fixed Dice threshold suits one population and not another: how alike two strangers' encodings
are depends on how varied the names, dates of birth and postcodes are, and the chance that
some stranger comes above a threshold grows with how many pairs are compared. The synthetic
hospitals (most persons at one hospital only, UK-style test NHS numbers that all begin 999)
need 0.69 or more to stay precise; FEBRL4's records, compared there, link nothing wrongly at
0.60. So the linkage unit measures, in every run, how often strangers reach each coefficient
and sets the threshold where the wrong links to expect stay under one in a thousand.

**Strangers.** Two records of one node are two persons (a node has one record per person), so
the Dice coefficients of pairs within a node are what strangers score, with the run's own
names, dates and postcodes. Every pair of a node's records is compared (of at most
``SAMPLE`` records, the first by their random references: so a run of nodes that size or
smaller chooses the same threshold from the same uploads, whatever their references). The hub
holds these encodings anyway; comparing them tells it nothing it could not compute, and it
keeps only the counts.

**Wrong links to expect at a threshold t**: ``compared * k(t) / strangers``, where
``compared`` is the pairs of the run's cross-node comparison (the records tokens left
unlinked, one node's against the other's) and ``k(t)`` the strangers' pairs at or above t of
``strangers`` compared. That counts every stranger pair above t as a wrong link, although the
one-to-one rule turns many into none (a record takes its true partner first): an over-estimate
where most persons are shared, close where few are.

**The rule.** ``THRESHOLD`` (0.70, chosen once on the synthetic truth) stands unless the run's
data say otherwise. The threshold is the lowest coefficient, in steps of 0.01 from ``LOWEST``
to ``HIGHEST``, at which, and at every step above, the wrong links to expect are at most
``1 - PRECISION`` (0.001) of the run's links (tokens' and encodings'); below ``THRESHOLD`` it
is the one-sided 95% upper bound of ``k(t)`` (Poisson) that must pass, so lowering needs
proof; at and above, its count as found, so raising needs evidence. A run too small to prove
anything keeps 0.70; a population of more alike strangers raises it; FEBRL4 lowers it.

Encodings are linked once, most alike first
(:func:`~fivesafes.linkage.encodings.match_encodings`), from the lowest step the rule could
take were every record tokens left linked (:func:`lowest_possible`: so a large run whose
strangers are alike does not gather the millions of pairs below it); the links at a higher
threshold are exactly those scoring at or above it, since the one-to-one rule decides each
coefficient before any lower one (tested).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal, TypeVar

import numpy as np

from fivesafes.linkage.encodings import THRESHOLD, _candidates, _packed, match_encodings

LOWEST = 0.60
HIGHEST = 0.90
STEPS = [round(LOWEST + 0.01 * i, 2) for i in range(round((HIGHEST - LOWEST) / 0.01) + 1)]
PRECISION = 0.999
CONFIDENCE = 0.95
SAMPLE = 20_000
"""Records of each node compared among themselves: at most 200 million distinct pairs a node
(anonlink compares both orders: about 5 s at the worker's rate)."""

L = TypeVar("L")
R = TypeVar("R")


@dataclass(frozen=True)
class Threshold:
    """What a run's threshold is and why: ``how`` is ``default`` (THRESHOLD stood), ``lowered``
    (the strangers proved a lower one precise) or ``raised`` (they showed THRESHOLD was not)."""

    value: float
    how: Literal["default", "lowered", "raised"]
    strangers: int  # pairs of strangers compared
    above: int  # of which at or above ``value``
    expected_wrong: float  # wrong links to expect at ``value``

    def as_dict(self) -> dict[str, float | int | str]:
        return {"value": self.value, "how": self.how, "strangers": self.strangers,
                "above": self.above, "expected_wrong": round(self.expected_wrong, 3)}  # fmt: skip


def upper_bound(k: int, confidence: float = CONFIDENCE) -> float:
    """The one-sided upper confidence bound of a Poisson mean from ``k`` events: half the
    chi-square quantile with ``2(k + 1)`` degrees of freedom (Wilson and Hilferty's cube-root
    approximation of it, within 1% of the exact value: tested against scipy)."""
    if k == 0:
        return -math.log(1 - confidence)  # exact
    df = 2 * (k + 1)
    z = NormalDist().inv_cdf(confidence)
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3 / 2


def strangers(encodings: Mapping[L, bytes], *, sample: int = SAMPLE) -> tuple[np.ndarray, int]:
    """The Dice coefficients at or above ``LOWEST`` of every pair of one node's records (of
    at most ``sample``, the first by id), and how many pairs were compared."""
    ids = sorted(encodings, key=str)[:sample]
    if len(ids) < 2:
        return np.zeros(0), 0
    packed = _packed(encodings, ids)
    rows, cols, scores = _candidates(packed, packed, LOWEST)
    return scores[rows < cols], len(ids) * (len(ids) - 1) // 2


def choose(
    linked_scores: np.ndarray,
    by_tokens: int,
    compared: int,
    stranger_scores: np.ndarray,
    stranger_pairs: int,
    floor: float = LOWEST,
) -> Threshold:
    """The run's threshold (the module's rule) from the coefficients of the encodings' links
    at ``floor``, the links tokens made, the cross-node pairs compared and the strangers."""
    wrong = _Expected(stranger_scores, stranger_pairs, compared)
    linked = np.sort(linked_scores)
    chosen = HIGHEST
    for t in reversed([t for t in STEPS if t >= floor]):
        if wrong.bound(t) > (1 - PRECISION) * (by_tokens + _above(linked, t)):
            break
        chosen = t
    if compared == 0 or stranger_pairs == 0:  # nothing to link, or nothing to measure by
        chosen = THRESHOLD
    how: Literal["default", "lowered", "raised"] = (
        "default" if chosen == THRESHOLD else "lowered" if chosen < THRESHOLD else "raised"
    )
    k = _above(wrong.scores, chosen)
    return Threshold(chosen, how, stranger_pairs, k, wrong.at(k) if stranger_pairs else 0.0)


def lowest_possible(
    by_tokens: int, most: int, compared: int, stranger_scores: np.ndarray, stranger_pairs: int
) -> float:
    """The lowest step :func:`choose` could take were ``most`` records linked by encodings: no
    pair scoring below it needs to be found (what bounds the matching's candidates)."""
    wrong = _Expected(stranger_scores, stranger_pairs, compared)
    for t in STEPS:
        if wrong.bound(t) <= (1 - PRECISION) * (by_tokens + most):
            return t
    return HIGHEST


class _Expected:
    """Wrong links to expect among ``compared`` cross-node pairs, from the strangers."""

    def __init__(self, scores: np.ndarray, pairs: int, compared: int) -> None:
        self.scores, self.pairs, self.compared = np.sort(scores), pairs, compared

    def at(self, k: float) -> float:
        return self.compared * k / self.pairs if self.pairs else float("inf")

    def bound(self, t: float) -> float:
        """At t: the strangers' count's upper bound below ``THRESHOLD``, the count above."""
        k = _above(self.scores, t)
        return self.at(upper_bound(k) if t < THRESHOLD else k)


def _above(values: np.ndarray, t: float) -> int:
    """How many of the sorted ``values`` are at or above t."""
    return int(len(values) - np.searchsorted(values, t, side="left"))


def link_encodings(
    left: Mapping[L, bytes],
    right: Mapping[R, bytes],
    *,
    by_tokens: int,
    left_all: Mapping[L, bytes],
    right_all: Mapping[R, bytes],
) -> tuple[list[tuple[L, R, float]], Threshold]:
    """The encodings' links of the records tokens left (``left`` and ``right``), at the
    threshold this run's strangers choose (each node's records: ``left_all``, ``right_all``),
    and that threshold. Pairs are sought only from the lowest step the rule could take."""
    found = [strangers(left_all), strangers(right_all)]
    scores = np.concatenate([s for s, _ in found])
    pairs = sum(n for _, n in found)
    compared = len(left) * len(right)
    floor = (
        lowest_possible(by_tokens, min(len(left), len(right)), compared, scores, pairs)
        if pairs
        else THRESHOLD  # nothing to measure by: the default
    )
    at_floor = match_encodings(left, right, threshold=floor)
    linked = np.array([score for *_, score in at_floor])
    chosen = choose(linked, by_tokens, compared, scores, pairs, floor)
    return [p for p in at_floor if p[2] >= chosen.value], chosen
