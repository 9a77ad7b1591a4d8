"""How far the readers of a review study agree, beyond what chance alone would give.

An *answer* is one coded answer to one item of the study's form on one case: an option's code
(the tumour type, nominal; a grade or a Likert confidence, ordinal, ordered as the form lists
its options) or an integer item's value. A missing answer is ``None``; a float NaN, as pandas
gives, is missing too. Every statistic here is written from its published definition:

**Cohen's kappa** (Cohen 1960; weighted, Cohen 1968) compares two readers on the same cases,
keeping the cases both answered. Let p[i][j] be the share of those cases the first reader put in
category i and the second in j, with margins r[i] (the first reader's shares) and c[j] (the
second's). A disagreement weight w[i][j] is 0 when i = j and otherwise 1 (unweighted), |i - j|
(linear) or (i - j)^2 (quadratic), i and j being positions in the categories' order. Then
kappa = 1 - sum w[i][j] p[i][j] / sum w[i][j] r[i] c[j]: one minus the observed disagreement
over the disagreement expected if the two readers answered independently with their own margins.

**Fleiss' kappa** (Fleiss 1971) takes n answers per case, not necessarily from the same readers.
With n[i][j] the answers to case i in category j, the share of agreeing pairs among case i's
n(n - 1) ordered pairs is P[i] = (sum_j n[i][j]^2 - n) / (n(n - 1)); with p[j] the share of all
answers in category j, chance agreement is Pe = sum_j p[j]^2, and
kappa = (mean_i P[i] - Pe) / (1 - Pe).

**Krippendorff's alpha** (Krippendorff, *Content Analysis*, 2004; "Computing Krippendorff's
alpha-reliability", 2011) takes any number of readers and any pattern of missing answers. A case
with m >= 2 answers is *pairable*; each ordered pair of its answers from two different readers,
valued c and k, adds 1 / (m - 1) to the coincidence o[c][k]. With n[c] = sum_k o[c][k] and
n = sum_c n[c] (the pairable answers), alpha = 1 - (n - 1) sum o[c][k] d[c][k] /
sum n[c] n[k] d[c][k]: one minus observed over expected disagreement, where the squared distance
d is, by level of measurement,

- nominal: 0 when c = k, else 1;
- ordinal: (n[g] summed over the categories g from c to k, both included, - (n[c] + n[k]) / 2)^2,
  categories taken in their order (so only their ranks matter, not their codes);
- interval: (c - k)^2;
- ratio: ((c - k) / (c + k))^2, for non-negative values (0 when both are 0).

**Undefined statistics** raise :class:`AgreementError`, in words, never NaN: a kappa or alpha
whose expected disagreement is zero (every answer in one category, so chance alone would agree
on every case), and any statistic with fewer than two cases to compare. Reports built on these
(``quality``) record such a statistic as ``None``, meaning undefined.

**Bootstrap intervals** (Efron and Tibshirani 1993, the percentile method) resample the cases
with replacement, recompute the statistic on each resample, and take the resamples' quantiles.
A resample on which the statistic is undefined is skipped and counted. The seed is the
platform's (recorded with the study), never a client's: a client who could choose it could
shop for a favourable interval.

**Consensus** is the panel's answer to a case: the strict majority of its non-missing answers
(a tie, or no majority, is no consensus: ``None``); for ordinal items :func:`median_consensus`
offers the median answer instead.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias, TypeGuard, TypeVar

import numpy as np
import numpy.typing as npt

Answer: TypeAlias = str | int | float
Weights: TypeAlias = Literal["linear", "quadratic"]
Level: TypeAlias = Literal["nominal", "ordinal", "interval", "ratio"]
Case = TypeVar("Case")

WEIGHTS: tuple[Weights, ...] = ("linear", "quadratic")
LEVELS: tuple[Level, ...] = ("nominal", "ordinal", "interval", "ratio")
MIN_CASES = 2  # fewer cases than this compare nothing


class AgreementError(ValueError):
    """A statistic that is undefined for the answers given, or answers it cannot take."""


def is_given(answer: Answer | None) -> TypeGuard[Answer]:
    """Whether ``answer`` was given: neither ``None`` nor a float NaN."""
    return answer is not None and not (isinstance(answer, float) and math.isnan(answer))


def given(answers: Sequence[Answer | None]) -> list[Answer]:
    """The answers given, in order, without the missing ones."""
    return [answer for answer in answers if is_given(answer)]


# -- Cohen's kappa -------------------------------------------------------------------------------


def cohen_kappa(
    first: Sequence[Answer | None],
    second: Sequence[Answer | None],
    *,
    weights: Weights | None = None,
    categories: Sequence[Answer] | None = None,
) -> float:
    """Cohen's kappa of two readers' answers to the same cases, in the same order.

    Cases either reader left unanswered are dropped. ``categories`` lists every category, in
    order for a weighted kappa; without it the categories are the answers seen, and a weighted
    kappa needs numeric answers (taken in numeric order).
    """
    if weights is not None and weights not in WEIGHTS:
        raise AgreementError("Kappa's weights are none, linear or quadratic.")
    if len(first) != len(second):
        raise AgreementError("The two readers' answers must cover the same cases.")
    pairs = [(a, b) for a, b in zip(first, second, strict=True) if is_given(a) and is_given(b)]
    if len(pairs) < MIN_CASES:
        raise AgreementError("Kappa needs at least two cases that both readers answered.")
    seen = [answer for pair in pairs for answer in pair]
    order = _categories(seen, categories, ordered=weights is not None)
    position = {category: i for i, category in enumerate(order)}
    table = np.zeros((len(order), len(order)))
    for a, b in pairs:
        table[position[a], position[b]] += 1.0
    shares = table / len(pairs)
    chance = np.outer(shares.sum(axis=1), shares.sum(axis=0))
    weight = _disagreement_weights(len(order), weights)
    expected = float((weight * chance).sum())
    if expected == 0.0:
        raise AgreementError(_ONE_CATEGORY.format(statistic="Kappa"))
    return 1.0 - float((weight * shares).sum()) / expected


def _disagreement_weights(size: int, weights: Weights | None) -> npt.NDArray[np.float64]:
    rank = np.arange(size, dtype=np.float64)
    gap = np.abs(rank[:, np.newaxis] - rank[np.newaxis, :])
    if weights is None:
        return (gap > 0).astype(np.float64)
    return gap if weights == "linear" else gap**2


# -- Fleiss' kappa -------------------------------------------------------------------------------


def fleiss_kappa(
    ratings: Sequence[Sequence[Answer | None]], *, categories: Sequence[Answer] | None = None
) -> float:
    """Fleiss' kappa of a cases x readers table of nominal answers.

    Every case must have the same number (at least two) of non-missing answers; which readers
    gave them may differ from case to case.
    """
    cases = [given(row) for row in ratings]
    if len(cases) < MIN_CASES:
        raise AgreementError("Fleiss' kappa needs at least two cases.")
    per_case = len(cases[0])
    if any(len(answers) != per_case for answers in cases):
        raise AgreementError(
            "Fleiss' kappa needs the same number of answers for every case; "
            "use Krippendorff's alpha when the number of answers varies."
        )
    if per_case < MIN_CASES:
        raise AgreementError("Fleiss' kappa needs at least two answers for every case.")
    seen = [answer for answers in cases for answer in answers]
    order = _categories(seen, categories, ordered=False)
    counts = _counts(cases, order)
    agreeing = ((counts**2).sum(axis=1) - per_case) / (per_case * (per_case - 1))
    shares = counts.sum(axis=0) / counts.sum()
    if np.count_nonzero(shares) == 1:
        raise AgreementError(_ONE_CATEGORY.format(statistic="Fleiss' kappa"))
    chance = float((shares**2).sum())
    return (float(agreeing.mean()) - chance) / (1.0 - chance)


# -- Krippendorff's alpha ------------------------------------------------------------------------


def krippendorff_alpha(
    reliability_data: Sequence[Sequence[Answer | None]],
    *,
    level: Level = "nominal",
    categories: Sequence[Answer] | None = None,
) -> float:
    """Krippendorff's alpha of a readers x cases table (``None`` where a reader gave none).

    Cases with fewer than two answers are not pairable and add nothing. ``categories`` lists
    every category; an ordinal level takes their order from it (needed for coded answers;
    numeric answers without it are taken in numeric order). Interval and ratio levels need
    numeric answers.
    """
    if level not in LEVELS:
        raise AgreementError("Alpha's level is nominal, ordinal, interval or ratio.")
    readers = [list(row) for row in reliability_data]
    if not readers or any(len(row) != len(readers[0]) for row in readers):
        raise AgreementError("Every reader's row must cover the same cases.")
    answered = [given([row[case] for row in readers]) for case in range(len(readers[0]))]
    seen = [answer for unit in answered for answer in unit]
    pairable = [unit for unit in answered if len(unit) >= MIN_CASES]
    if len(pairable) < MIN_CASES:
        raise AgreementError("Alpha needs at least two cases with two or more answers each.")
    if level in ("nominal", "ordinal"):
        order = _categories(seen, categories, ordered=level == "ordinal")
    else:
        _categories(seen, categories, ordered=False)  # answers must be among the categories
        order = tuple(sorted(set(_numbers(seen, level))))
    coincidences = _coincidences(_counts(pairable, order))
    marginals = coincidences.sum(axis=1)
    distance = _distances(order, marginals, level)
    expected = float((np.outer(marginals, marginals) * distance).sum())
    if expected == 0.0:
        raise AgreementError(_ONE_CATEGORY.format(statistic="Alpha"))
    observed = float((coincidences * distance).sum())
    return 1.0 - (float(marginals.sum()) - 1.0) * observed / expected


def _coincidences(counts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """o[c][k] over the pairable cases: their answer counts (cases x categories) paired."""
    scaled = counts / (counts.sum(axis=1) - 1.0)[:, np.newaxis]
    paired: npt.NDArray[np.float64] = scaled.T @ counts
    return paired - np.diag(scaled.sum(axis=0))


def _distances(
    order: Sequence[Answer], marginals: npt.NDArray[np.float64], level: Level
) -> npt.NDArray[np.float64]:
    """The squared distance d[c][k] between the categories in ``order``."""
    size = len(order)
    if level == "nominal":
        return 1.0 - np.eye(size)
    if level == "ordinal":
        rank = np.arange(size)
        low = np.minimum(rank[:, np.newaxis], rank[np.newaxis, :])
        high = np.maximum(rank[:, np.newaxis], rank[np.newaxis, :])
        through = np.concatenate(([0.0], np.cumsum(marginals)))  # through[g]: categories < g
        between = through[high + 1] - through[low]
        span: npt.NDArray[np.float64] = between - (marginals[low] + marginals[high]) / 2.0
        return span**2
    value = np.asarray(_numbers(order, level), dtype=np.float64)
    difference = value[:, np.newaxis] - value[np.newaxis, :]
    if level == "interval":
        return difference**2
    total = value[:, np.newaxis] + value[np.newaxis, :]
    ratio = np.divide(difference, total, out=np.zeros_like(difference), where=total != 0.0)
    return ratio**2


def _numbers(answers: Sequence[Answer], level: Level) -> list[float]:
    values = [answer for answer in answers if isinstance(answer, int | float)]
    if len(values) != len(answers):
        raise AgreementError(f"Alpha at the {level} level needs numeric answers.")
    if level == "ratio" and any(value < 0 for value in values):
        raise AgreementError("Alpha at the ratio level needs answers of zero or more.")
    return [float(value) for value in values]


# -- shared --------------------------------------------------------------------------------------

_ONE_CATEGORY = (
    "{statistic} is undefined when every answer is in one category: "
    "chance alone would agree on every case."
)


def _categories(
    seen: Sequence[Answer], categories: Sequence[Answer] | None, *, ordered: bool
) -> tuple[Answer, ...]:
    """The categories, in order: ``categories`` checked against the answers ``seen``, or the
    answers seen (numeric ones sorted; coded ones need ``categories`` when ``ordered``)."""
    if categories is not None:
        listed = tuple(categories)
        if not all(is_given(category) for category in listed):
            raise AgreementError("A category cannot be missing.")
        if len(set(listed)) != len(listed):
            raise AgreementError("The categories must not repeat.")
        known = set(listed)
        if any(answer not in known for answer in seen):
            raise AgreementError("An answer is not among the categories.")
        return listed
    distinct = list(dict.fromkeys(seen))
    numbers = [answer for answer in distinct if isinstance(answer, int | float)]
    if len(numbers) == len(distinct):
        return tuple(sorted(numbers))
    if ordered:
        raise AgreementError("Ordered categories are needed for coded answers; list them.")
    return tuple(distinct)


def _counts(cases: Sequence[Sequence[Answer]], order: Sequence[Answer]) -> npt.NDArray[np.float64]:
    """Per case (rows), how many of its answers fall in each category (columns)."""
    position = {category: i for i, category in enumerate(order)}
    counts = np.zeros((len(cases), len(order)))
    for row, answers in enumerate(cases):
        for answer in answers:
            counts[row, position[answer]] += 1.0
    return counts


# -- bootstrap -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BootstrapInterval:
    """A statistic on all the cases and its percentile bootstrap interval."""

    estimate: float
    low: float
    high: float
    confidence: float
    resamples: int  # resamples the interval was taken from
    skipped: int  # resamples on which the statistic was undefined


def bootstrap_ci(
    statistic: Callable[[Sequence[Case]], float],
    cases: Sequence[Case],
    *,
    seed: int,
    resamples: int = 2000,
    confidence: float = 0.95,
) -> BootstrapInterval:
    """``statistic`` on ``cases`` with its percentile bootstrap interval over cases.

    Each resample draws ``len(cases)`` cases with replacement from a numpy Generator seeded by
    ``seed`` (the platform's), so one seed always gives one interval. A resample on which the
    statistic raises :class:`AgreementError` or is not finite is skipped and counted.
    """
    if resamples < 1:
        raise AgreementError("The bootstrap needs at least one resample.")
    if not 0.0 < confidence < 1.0:
        raise AgreementError("The confidence must lie strictly between 0 and 1.")
    if len(cases) < MIN_CASES:
        raise AgreementError("The bootstrap needs at least two cases.")
    estimate = statistic(cases)
    if not math.isfinite(estimate):
        raise AgreementError("The statistic is undefined for these cases.")
    generator = np.random.default_rng(seed)
    values: list[float] = []
    for _ in range(resamples):
        drawn = generator.integers(0, len(cases), size=len(cases))
        try:
            value = statistic([cases[i] for i in drawn])
        except AgreementError:
            continue
        if math.isfinite(value):
            values.append(value)
    if not values:
        raise AgreementError("The statistic is undefined on every resample of these cases.")
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(np.asarray(values), [tail, 1.0 - tail])
    return BootstrapInterval(
        estimate=estimate,
        low=float(low),
        high=float(high),
        confidence=confidence,
        resamples=len(values),
        skipped=resamples - len(values),
    )


# -- consensus -----------------------------------------------------------------------------------


def consensus(answers: Sequence[Answer | None]) -> Answer | None:
    """The panel's answer to a case: the answer more than half its non-missing answers give,
    else ``None`` (no consensus: a tie, no majority, or no answer at all)."""
    reads = given(answers)
    if not reads:
        return None
    top, votes = Counter(reads).most_common(1)[0]
    return top if 2 * votes > len(reads) else None


def median_consensus(
    answers: Sequence[Answer | None], *, categories: Sequence[Answer] | None = None
) -> Answer | None:
    """The panel's median answer to an ordinal item, ordered by ``categories`` (numeric
    answers without it in numeric order). With an even number of answers whose two middle
    answers differ there is no median answer: ``None``, as for no answer at all."""
    reads = given(answers)
    if not reads:
        return None
    order = _categories(reads, categories, ordered=True)
    position = {category: i for i, category in enumerate(order)}
    ranks = sorted(position[answer] for answer in reads)
    lower, upper = ranks[(len(ranks) - 1) // 2], ranks[len(ranks) // 2]
    return order[lower] if lower == upper else None
