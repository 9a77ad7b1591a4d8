"""How well the AI, and readers with and without it, match the panel's consensus.

**Proportions** (accuracy, sensitivity, specificity) carry a Wilson score interval (Wilson
1927): with x successes in n cases, p = x / n and z the normal quantile of the confidence
(1.96 for 95 %), the interval is (p + z^2/2n +- z sqrt(p(1 - p)/n + z^2/4n^2)) / (1 + z^2/n).
Unlike p +- z sqrt(p(1 - p)/n) it stays within [0, 1] and does not shrink to a point when p is
0 or 1, which matters for the small monthly counts of a site.

**The AI's quality** is judged case by case against the consensus answer: accuracy is the share
of cases the AI answered as the consensus did; for a binary question with a named positive
answer, sensitivity is that share among the consensus positives and specificity among the
consensus negatives; Cohen's kappa (``agreement``) corrects accuracy for chance. Cases without
consensus, or without an AI answer, are left out and counted. Each is reported over all sites,
per site, and per site per period (the QA chart's points). A statistic undefined for a group
(kappa when every answer is one category; sensitivity with no consensus positive) is ``None``.

**The drift rule.** A site's period is flagged when the whole Wilson interval of its accuracy
lies below the site's baseline accuracy: the accuracy pooled over the site's earlier periods
that were not themselves flagged, once it rests on at least ``min_baseline_cases`` cases (fewer:
no baseline, no flag). A flagged period stays out of later baselines, so a lasting drop (a new
scanner, a new stain) stays flagged instead of dragging the baseline down with it. With a 95 %
interval a site whose accuracy has not changed is flagged in about 2.5 % of its periods.

**The aided effect.** Readers read each case unaided, then with the AI. Per reader, accuracy
against consensus in each condition on the cases read in both, and their difference; over
readers, the mean of those differences (each reader weighs the same), with a percentile
bootstrap interval over cases: a resample keeps all of a drawn case's reads.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial
from math import sqrt
from statistics import NormalDist
from typing import NamedTuple, TypeAlias

from fivesafes.pathology.study.agreement import (
    AgreementError,
    Answer,
    BootstrapInterval,
    bootstrap_ci,
    cohen_kappa,
    is_given,
)

Period: TypeAlias = str | date  # an ISO month ("2026-03") or a date: either sorts in time order
DEFAULT_MIN_BASELINE_CASES = 100  # at ~90 % accuracy the baseline's standard error is <= 3 points


class QualityRow(NamedTuple):
    """One case's AI answer and the panel's consensus answer (``None`` when there is none)."""

    case_id: str
    site: str
    period: Period
    ai_answer: Answer | None
    consensus: Answer | None


@dataclass(frozen=True)
class Proportion:
    """``successes`` of ``n`` (n >= 1), their share and its Wilson interval."""

    successes: int
    n: int
    estimate: float
    low: float
    high: float


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> Proportion:
    """The share ``successes / n`` with its Wilson score interval."""
    if n < 1 or not 0 <= successes <= n:
        raise AgreementError("A proportion needs at least one case and successes among them.")
    if not 0.0 < confidence < 1.0:
        raise AgreementError("The confidence must lie strictly between 0 and 1.")
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    share = successes / n
    shrink = 1.0 + z * z / n
    centre = (share + z * z / (2.0 * n)) / shrink
    half = z * sqrt(share * (1.0 - share) / n + z * z / (4.0 * n * n)) / shrink
    # the bounds are exactly the share when it is 0 or 1, which rounding can miss by a hair
    low, high = min(max(0.0, centre - half), share), max(min(1.0, centre + half), share)
    return Proportion(successes, n, share, low, high)


@dataclass(frozen=True)
class Performance:
    """The AI against consensus on one group of cases."""

    n: int
    accuracy: Proportion
    sensitivity: Proportion | None  # binary questions only; None also with no positive case
    specificity: Proportion | None  # binary questions only; None also with no negative case
    kappa: float | None  # None: undefined (fewer than two cases, or one category only)


@dataclass(frozen=True)
class PeriodQuality:
    period: Period
    performance: Performance
    baseline: Proportion | None  # the pooled earlier unflagged periods; None below the minimum
    drift: bool


@dataclass(frozen=True)
class SiteQuality:
    site: str
    performance: Performance | None  # None: no case with both a consensus and an AI answer
    periods: tuple[PeriodQuality, ...]  # in time order, the periods with at least one case
    no_consensus: int
    no_ai_answer: int


@dataclass(frozen=True)
class QualityReport:
    overall: Performance | None
    sites: tuple[SiteQuality, ...]  # by site name
    no_consensus: int
    no_ai_answer: int


def binary_quality(
    rows: Iterable[QualityRow],
    *,
    positive: Answer,
    min_baseline_cases: int = DEFAULT_MIN_BASELINE_CASES,
) -> QualityReport:
    """The AI's accuracy, sensitivity, specificity and kappa for a two-answer question whose
    answer ``positive`` is the finding; every other answer is a negative."""
    rows = list(rows)
    answers = {r.ai_answer for r in rows if is_given(r.ai_answer)}
    answers |= {r.consensus for r in rows if is_given(r.consensus)}
    if len(answers) > 2:
        raise AgreementError("A binary question has two answers; use multiclass_quality.")
    return _report(rows, positive, min_baseline_cases)


def multiclass_quality(
    rows: Iterable[QualityRow], *, min_baseline_cases: int = DEFAULT_MIN_BASELINE_CASES
) -> QualityReport:
    """The AI's accuracy and kappa for a question with any number of answers."""
    return _report(list(rows), None, min_baseline_cases)


Pair: TypeAlias = tuple[Answer, Answer]  # (the AI's answer, the consensus answer)


def _report(
    rows: list[QualityRow], positive: Answer | None, min_baseline_cases: int
) -> QualityReport:
    if min_baseline_cases < 1:
        raise AgreementError("The baseline needs a minimum of at least one case.")
    if len({r.case_id for r in rows}) != len(rows):
        raise AgreementError("A case appears more than once.")
    if len({type(r.period) is str for r in rows}) > 1:
        raise AgreementError("The periods must be all months or all dates.")
    pairs: dict[str, dict[Period, list[Pair]]] = defaultdict(lambda: defaultdict(list))
    no_consensus: dict[str, int] = defaultdict(int)
    no_ai_answer: dict[str, int] = defaultdict(int)
    for row in rows:
        if not is_given(row.consensus):
            no_consensus[row.site] += 1
        elif not is_given(row.ai_answer):
            no_ai_answer[row.site] += 1
        else:
            pairs[row.site][row.period].append((row.ai_answer, row.consensus))
    sites = []
    for site in sorted({r.site for r in rows}):
        by_period = pairs[site]
        everything = [pair for period in by_period.values() for pair in period]
        sites.append(
            SiteQuality(
                site=site,
                performance=_performance(everything, positive) if everything else None,
                periods=_periods(by_period, positive, min_baseline_cases),
                no_consensus=no_consensus[site],
                no_ai_answer=no_ai_answer[site],
            )
        )
    everything = [pair for by_period in pairs.values() for p in by_period.values() for pair in p]
    return QualityReport(
        overall=_performance(everything, positive) if everything else None,
        sites=tuple(sites),
        no_consensus=sum(no_consensus.values()),
        no_ai_answer=sum(no_ai_answer.values()),
    )


def _periods(
    by_period: Mapping[Period, list[Pair]], positive: Answer | None, min_baseline_cases: int
) -> tuple[PeriodQuality, ...]:
    """Each period in time order, judged against the baseline of the unflagged ones before."""
    periods: list[PeriodQuality] = []
    hits = cases = 0
    for period in sorted(by_period, key=_time_order):
        performance = _performance(by_period[period], positive)
        baseline = wilson_interval(hits, cases) if cases >= min_baseline_cases else None
        drift = baseline is not None and performance.accuracy.high < baseline.estimate
        periods.append(PeriodQuality(period, performance, baseline, drift))
        if not drift:
            hits += performance.accuracy.successes
            cases += performance.n
    return tuple(periods)


def _time_order(period: Period) -> str:
    return period if isinstance(period, str) else period.isoformat()


def _performance(pairs: Sequence[Pair], positive: Answer | None) -> Performance:
    accuracy = wilson_interval(sum(ai == truth for ai, truth in pairs), len(pairs))
    sensitivity = specificity = None
    if positive is not None:
        found = [ai == positive for ai, truth in pairs if truth == positive]
        cleared = [ai != positive for ai, truth in pairs if truth != positive]
        sensitivity = wilson_interval(sum(found), len(found)) if found else None
        specificity = wilson_interval(sum(cleared), len(cleared)) if cleared else None
    try:
        kappa: float | None = cohen_kappa([ai for ai, _ in pairs], [truth for _, truth in pairs])
    except AgreementError:
        kappa = None
    return Performance(len(pairs), accuracy, sensitivity, specificity, kappa)


# -- unaided and aided reads ---------------------------------------------------------------------


class AidedRead(NamedTuple):
    """One reader's two answers to one case: before and after seeing the AI's."""

    case_id: str
    reader: str
    unaided: Answer | None
    aided: Answer | None


@dataclass(frozen=True)
class ReaderEffect:
    reader: str
    unaided: Proportion  # accuracy against consensus, on the cases read in both conditions
    aided: Proportion
    difference: float  # aided minus unaided accuracy


@dataclass(frozen=True)
class AidedEffect:
    readers: tuple[ReaderEffect, ...]  # by reader
    mean_difference: BootstrapInterval  # readers' mean aided minus unaided accuracy, over cases
    cases: int  # cases with a consensus and at least one complete read
    no_consensus: int  # cases left out: no consensus answer
    incomplete_reads: int  # reads left out: an unaided or an aided answer missing


Scored: TypeAlias = tuple[tuple[str, bool, bool], ...]  # one case: (reader, unaided, aided right)


def aided_effect(
    reads: Iterable[AidedRead],
    consensus: Mapping[str, Answer | None],
    *,
    seed: int,
    resamples: int = 2000,
    confidence: float = 0.95,
) -> AidedEffect:
    """Each reader's accuracy unaided and aided against the consensus of each case (a case
    missing from ``consensus`` has none), and the readers' mean difference with its percentile
    bootstrap interval over cases; ``seed`` is the platform's."""
    reads = list(reads)
    if len({(r.case_id, r.reader) for r in reads}) != len(reads):
        raise AgreementError("A reader has more than one read of a case.")
    truth = {case: answer for case, answer in consensus.items() if is_given(answer)}
    by_case: dict[str, list[tuple[str, bool, bool]]] = defaultdict(list)
    incomplete = 0
    for read in reads:
        if read.case_id not in truth:
            continue
        if not (is_given(read.unaided) and is_given(read.aided)):
            incomplete += 1
            continue
        right = truth[read.case_id]
        by_case[read.case_id].append((read.reader, read.unaided == right, read.aided == right))
    cases: list[Scored] = [tuple(by_case[case]) for case in sorted(by_case)]
    readers = _reader_effects(cases)
    statistic = partial(_mean_difference, readers=frozenset(r.reader for r in readers))
    interval = bootstrap_ci(statistic, cases, seed=seed, resamples=resamples, confidence=confidence)
    return AidedEffect(
        readers=readers,
        mean_difference=interval,
        cases=len(cases),
        no_consensus=len({r.case_id for r in reads} - truth.keys()),
        incomplete_reads=incomplete,
    )


def _tallies(cases: Sequence[Scored]) -> dict[str, list[int]]:
    """Per reader: [reads, unaided right, aided right]."""
    tallies: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for case in cases:
        for reader, unaided, aided in case:
            tally = tallies[reader]
            tally[0] += 1
            tally[1] += unaided
            tally[2] += aided
    return tallies


def _reader_effects(cases: Sequence[Scored]) -> tuple[ReaderEffect, ...]:
    effects = []
    for reader, (n, unaided, aided) in sorted(_tallies(cases).items()):
        before, after = wilson_interval(unaided, n), wilson_interval(aided, n)
        effects.append(ReaderEffect(reader, before, after, after.estimate - before.estimate))
    return tuple(effects)


def _mean_difference(cases: Sequence[Scored], *, readers: frozenset[str]) -> float:
    """The readers' mean aided minus unaided accuracy; undefined on a resample missing one of
    the ``readers`` (which a design where every reader reads every case never draws)."""
    tallies = _tallies(cases)
    if tallies.keys() != readers:
        raise AgreementError("A reader has no case in this resample.")
    return sum((aided - unaided) / n for n, unaided, aided in tallies.values()) / len(tallies)
