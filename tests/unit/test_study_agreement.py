"""Agreement statistics of review studies (issue 17): differential tests against the reference
implementations (scikit-learn's Cohen's kappa, statsmodels' Fleiss' kappa and Wilson interval,
the ``krippendorff`` package) on fixed and random tables to within TOLERANCE, published worked
examples, and spec tables whose verdicts document the rules (consensus, drift, exclusions).
"""

from __future__ import annotations

import warnings

import krippendorff
import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss
from statsmodels.stats.proportion import proportion_confint

from fivesafes.pathology.study.agreement import (
    AgreementError,
    bootstrap_ci,
    cohen_kappa,
    consensus,
    fleiss_kappa,
    krippendorff_alpha,
    median_consensus,
)
from fivesafes.pathology.study.quality import (
    AidedRead,
    QualityRow,
    aided_effect,
    binary_quality,
    multiclass_quality,
    wilson_interval,
)

TOLERANCE = 1e-12
SEEDS = range(8)
GRADES = ["G1", "G2", "G3"]
LIKERT = [1, 2, 3, 4, 5]


def missing_out(rng, table, share):
    """``table`` (a nested list) with about ``share`` of its entries replaced by None."""
    return [[None if rng.random() < share else x for x in row] for row in table]


# -- Cohen's kappa against scikit-learn ----------------------------------------------------------


def sklearn_kappa(a, b, weights, categories):
    """scikit-learn's kappa on the cases both readers answered (it has no notion of missing)."""
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    first, second = zip(*pairs, strict=True)
    return cohen_kappa_score(first, second, labels=categories, weights=weights)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_kappa_equals_sklearn_on_a_fixed_table_of_grades(weights):
    a = ["G1", "G1", "G2", "G2", "G3", "G3", "G2", "G1", None, "G3"]
    b = ["G1", "G2", "G2", "G3", "G3", "G2", "G2", "G1", "G2", None]
    ours = cohen_kappa(a, b, weights=weights, categories=GRADES)
    assert ours == pytest.approx(sklearn_kappa(a, b, weights, GRADES), abs=TOLERANCE)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_kappa_equals_sklearn_on_random_tables_with_missing_answers(seed, weights):
    rng = np.random.default_rng(seed)
    for _ in range(20):
        n = int(rng.integers(5, 60))
        k = int(rng.integers(2, 6))
        categories = LIKERT[:k]
        a, b = (rng.choice(categories, size=n).tolist() for _ in range(2))
        # a second reader who mostly agrees, so kappa is spread over its range
        b = [x if rng.random() < 0.6 else y for x, y in zip(a, b, strict=True)]
        a, b = missing_out(rng, [a, b], 0.15)
        ours = cohen_kappa(a, b, weights=weights, categories=categories)
        assert ours == pytest.approx(sklearn_kappa(a, b, weights, categories), abs=TOLERANCE)


def test_kappa_of_a_published_two_by_two_table():
    # Wikipedia's worked example: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no: kappa = 0.4
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4, abs=TOLERANCE)


def test_kappa_orders_numeric_answers_numerically_without_categories():
    a, b = [1, 2, 3, 10, 2], [2, 2, 10, 10, 3]
    expected = cohen_kappa_score(a, b, weights="linear", labels=[1, 2, 3, 10])
    assert cohen_kappa(a, b, weights="linear") == pytest.approx(expected, abs=TOLERANCE)


# -- Fleiss' kappa against statsmodels -----------------------------------------------------------


def statsmodels_fleiss_kappa(ratings):
    """statsmodels on the answers given (its aggregate_raters would count None or NaN as a
    category of its own), each case's answers packed to the left."""
    dense = np.array([[x for x in row if x is not None] for row in ratings])
    counts, _ = aggregate_raters(dense)
    return statsmodels_fleiss(counts, method="fleiss")


def test_fleiss_kappa_of_the_published_example():
    # Fleiss (1971) as worked on Wikipedia: 10 cases, 14 readers, 5 categories: kappa 0.210
    counts = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    ratings = [[c for c, n in enumerate(row, 1) for _ in range(n)] for row in counts]
    ours = fleiss_kappa(ratings, categories=LIKERT)
    assert ours == pytest.approx(0.210, abs=5e-4)
    assert ours == pytest.approx(statsmodels_fleiss(np.array(counts)), abs=TOLERANCE)


@pytest.mark.parametrize("seed", SEEDS)
def test_fleiss_kappa_equals_statsmodels_on_random_tables(seed):
    rng = np.random.default_rng(seed)
    for _ in range(20):
        cases, readers, k = (int(rng.integers(lo, hi)) for lo, hi in ((2, 50), (2, 7), (2, 6)))
        truth = rng.integers(0, k, size=cases)
        noise = rng.integers(0, k, size=(cases, readers))
        table = np.where(rng.random((cases, readers)) < 0.5, truth[:, None], noise)
        ratings = [[GRADES[x] if x < 3 else f"other{x}" for x in row] for row in table.tolist()]
        try:
            ours = fleiss_kappa(ratings)
        except AgreementError:
            assert len({x for row in ratings for x in row}) == 1
            continue
        assert ours == pytest.approx(statsmodels_fleiss_kappa(ratings), abs=TOLERANCE)


def test_fleiss_kappa_takes_different_readers_per_case_with_the_same_number_of_answers():
    # five readers, each case read by three of them
    ratings = [
        ["a", "a", None, "b", None],
        [None, "b", "b", None, "b"],
        ["a", None, "a", "a", None],
        ["b", "a", None, None, "a"],
    ]
    ours = fleiss_kappa(ratings)
    assert ours == pytest.approx(statsmodels_fleiss_kappa(ratings), abs=TOLERANCE)


def test_fleiss_kappa_refuses_cases_with_different_numbers_of_answers():
    with pytest.raises(AgreementError, match="same number of answers"):
        fleiss_kappa([["a", "a", "b"], ["a", "b", None]])


# -- Krippendorff's alpha against the krippendorff package ---------------------------------------

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the example with missing
# data: four observers, twelve units, values 1-5.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]
PUBLISHED = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}


def package_alpha(data, level, value_domain=None):
    array = np.array([[np.nan if x is None else x for x in row] for row in data], dtype=float)
    return krippendorff.alpha(
        reliability_data=array, level_of_measurement=level, value_domain=value_domain
    )


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_alpha_of_the_published_example(level):
    ours = krippendorff_alpha(KRIPPENDORFF_2011, level=level)
    assert ours == pytest.approx(PUBLISHED[level], abs=5e-4)
    assert ours == pytest.approx(package_alpha(KRIPPENDORFF_2011, level), abs=TOLERANCE)


def test_ordinal_alpha_of_coded_answers_takes_the_categories_order():
    words = ["very low", "low", "mid", "high", "very high"]
    coded = [[None if x is None else words[x - 1] for x in row] for row in KRIPPENDORFF_2011]
    ours = krippendorff_alpha(coded, level="ordinal", categories=words)
    assert ours == pytest.approx(package_alpha(KRIPPENDORFF_2011, "ordinal"), abs=TOLERANCE)
    reference = krippendorff.alpha(
        reliability_data=[[np.nan if x is None else x for x in row] for row in coded],
        level_of_measurement="ordinal",
        value_domain=words,
    )
    assert ours == pytest.approx(reference, abs=TOLERANCE)
    with pytest.raises(AgreementError, match="Ordered categories"):
        krippendorff_alpha(coded, level="ordinal")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_alpha_equals_the_package_on_random_tables_with_missing_answers(seed, level):
    rng = np.random.default_rng(seed)
    checked = 0
    for _ in range(20):
        readers, cases, k = (int(rng.integers(lo, hi)) for lo, hi in ((2, 6), (3, 40), (2, 6)))
        truth = rng.integers(0, k, size=cases)
        noise = rng.integers(0, k, size=(readers, cases))
        table = np.where(rng.random((readers, cases)) < 0.5, truth[None, :], noise)
        data = missing_out(rng, table.tolist(), 0.3)
        try:
            ours = krippendorff_alpha(data, level=level, categories=list(range(k)))
        except AgreementError:
            continue  # one category only, or fewer than two pairable cases
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            reference = package_alpha(data, level, value_domain=list(range(k)))
        assert ours == pytest.approx(reference, abs=TOLERANCE)
        checked += 1
    assert checked >= 10


def test_alpha_ignores_cases_with_a_single_answer():
    data = [["a", "b", "a", "c"], ["a", "b", "b", None], [None, None, None, None]]
    assert krippendorff_alpha(data) == pytest.approx(
        krippendorff_alpha([row[:3] for row in data]), abs=TOLERANCE
    )


# -- undefined statistics and refusals, in words -------------------------------------------------

SECRET = "case-0042-HOSPITAL"  # a value that must never appear in an error's text


@pytest.mark.parametrize(
    "call",
    [
        lambda: cohen_kappa([SECRET] * 4, [SECRET] * 4),
        lambda: fleiss_kappa([[SECRET, SECRET]] * 3),
        lambda: krippendorff_alpha([[SECRET] * 3, [SECRET] * 3]),
    ],
    ids=["cohen", "fleiss", "alpha"],
)
def test_one_category_only_is_undefined_in_words(call):
    with pytest.raises(AgreementError, match="undefined when every answer is in one category") as e:
        call()
    assert SECRET not in str(e.value)


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: cohen_kappa(["a", None], ["b", "b"]), "at least two cases"),
        (lambda: cohen_kappa(["a", "b"], ["a"]), "same cases"),
        (lambda: cohen_kappa(["a", SECRET], ["a", "b"], categories=["a", "b"]), "not among"),
        (lambda: cohen_kappa(["a", "b"], ["b", "a"], weights="linear"), "Ordered categories"),
        (lambda: fleiss_kappa([["a", "b"]]), "at least two cases"),
        (lambda: fleiss_kappa([["a"], ["b"]]), "at least two answers"),
        (lambda: krippendorff_alpha([["a", "b"], ["a", None]]), "at least two cases"),
        (lambda: krippendorff_alpha([[1, 2], [1]]), "same cases"),
        (lambda: krippendorff_alpha([["a", "b"], ["a", "b"]], level="interval"), "numeric"),
        (lambda: krippendorff_alpha([[-1, 2], [-1, 2]], level="ratio"), "zero or more"),
    ],
)
def test_refusals_say_why_without_echoing_answers(call, words):
    with pytest.raises(AgreementError, match=words) as e:
        call()
    assert SECRET not in str(e.value)
    assert isinstance(e.value, ValueError)


def test_kappa_of_readers_who_never_agree_is_defined():
    # each reader uses one category, but not the same one: chance agreement is 0, kappa is 0
    assert cohen_kappa(["a"] * 5, ["b"] * 5) == pytest.approx(0.0, abs=TOLERANCE)


# -- consensus: the panel's answer ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "panel"),
    [
        (["a", "a", "b"], "a"),  # two of three
        (["a", "b"], None),  # a tie is no consensus
        (["a", "a", "b", "b"], None),
        (["a", "a", "b", "c"], None),  # the most frequent, but not more than half
        (["a", None, "a", "b"], "a"),  # two of the three answers given
        ([None, float("nan")], None),  # no answer given
        ([], None),
        (["a"], "a"),
        ([3, 3, 3, 1, 2], 3),
    ],
)
def test_consensus_is_a_strict_majority_of_the_answers_given(answers, panel):
    assert consensus(answers) == panel


@pytest.mark.parametrize(
    ("answers", "panel"),
    [
        (["G3", "G1", "G2"], "G2"),
        (["G1", "G1", "G3"], "G1"),
        (["G1", "G3"], None),  # the two middle answers differ: no median answer
        (["G1", "G2", "G2", "G3"], "G2"),
        (["G1", None, "G3", "G3"], "G3"),
        ([None], None),
    ],
)
def test_median_consensus_of_an_ordinal_item(answers, panel):
    assert median_consensus(answers, categories=GRADES) == panel


def test_median_consensus_of_numbers_needs_no_categories():
    assert median_consensus([5, 1, 2, 4, 4]) == 4
    with pytest.raises(AgreementError, match="Ordered categories"):
        median_consensus(["G1", "G2", "G3"])


# -- bootstrap -----------------------------------------------------------------------------------


def kappa_of_pairs(pairs):
    return cohen_kappa([a for a, _ in pairs], [b for _, b in pairs])


def test_bootstrap_is_deterministic_for_one_seed_and_varies_with_it():
    rng = np.random.default_rng(5)
    a = rng.choice(GRADES, size=80).tolist()
    b = [x if rng.random() < 0.7 else GRADES[0] for x in a]
    pairs = list(zip(a, b, strict=True))
    first = bootstrap_ci(kappa_of_pairs, pairs, seed=17, resamples=300)
    assert first == bootstrap_ci(kappa_of_pairs, pairs, seed=17, resamples=300)
    assert first != bootstrap_ci(kappa_of_pairs, pairs, seed=18, resamples=300)
    assert first.estimate == pytest.approx(kappa_of_pairs(pairs), abs=TOLERANCE)
    assert first.low < first.estimate < first.high
    assert (first.resamples, first.skipped) == (300, 0)


def test_bootstrap_skips_and_counts_resamples_where_the_statistic_is_undefined():
    # one disagreement among eight cases mostly "a": many resamples hold only "a"
    pairs = [("a", "a")] * 6 + [("b", "b"), ("a", "b")]
    interval = bootstrap_ci(kappa_of_pairs, pairs, seed=3, resamples=500)
    assert interval.skipped > 0
    assert interval.resamples + interval.skipped == 500


def test_bootstrap_refuses_a_statistic_undefined_on_all_cases():
    with pytest.raises(AgreementError, match="one category"):
        bootstrap_ci(kappa_of_pairs, [("a", "a")] * 5, seed=1, resamples=10)


def test_percentile_interval_agrees_with_scipy_within_monte_carlo_error():
    values = np.random.default_rng(11).normal(size=200).tolist()
    ours = bootstrap_ci(lambda xs: float(np.mean(xs)), values, seed=2, resamples=4000)
    scipy = stats.bootstrap(
        (np.array(values),), np.mean, n_resamples=4000, method="percentile", rng=9
    ).confidence_interval
    assert ours.low == pytest.approx(scipy.low, abs=0.03)
    assert ours.high == pytest.approx(scipy.high, abs=0.03)


# -- the AI's quality against consensus ----------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_wilson_interval_equals_statsmodels(seed):
    rng = np.random.default_rng(seed)
    for _ in range(50):
        n = int(rng.integers(1, 500))
        x = int(rng.integers(0, n + 1))
        confidence = float(rng.choice([0.8, 0.9, 0.95, 0.99]))
        ours = wilson_interval(x, n, confidence=confidence)
        low, high = proportion_confint(x, n, alpha=1 - confidence, method="wilson")
        assert ours.low == pytest.approx(low, abs=TOLERANCE)
        assert ours.high == pytest.approx(high, abs=TOLERANCE)


def month_rows(site, month, right, wrong, *, positive="tumour", negative="benign"):
    """``right`` cases the AI answered as the consensus did, ``wrong`` it did not."""
    rows = [
        QualityRow(f"{site}-{month}-{i}", site, month, answer, answer)
        for i, answer in enumerate([positive, negative] * (right // 2) + [positive] * (right % 2))
    ]
    rows += [
        QualityRow(f"{site}-{month}-x{i}", site, month, negative, positive) for i in range(wrong)
    ]
    return rows


MONTHS = [f"2026-{m:02d}" for m in range(1, 10)]


def test_drift_flags_a_site_whose_accuracy_drops_and_not_a_steady_one():
    # Site A: 45 of 50 (90 %) a month for six months, then 30 of 50 (60 %) after a new scanner.
    # Site B: 43 to 47 of 50 every month. Month 7's 60 % interval lies wholly below A's 90 %.
    rows = [r for m in MONTHS[:6] for r in month_rows("A", m, 45, 5)]
    rows += month_rows("A", MONTHS[6], 30, 20)
    steady = [45, 43, 47, 44, 46, 43, 45]
    by_month = zip(MONTHS[:7], steady, strict=True)
    rows += [r for m, right in by_month for r in month_rows("B", m, right, 50 - right)]
    report = binary_quality(rows, positive="tumour")
    site_a, site_b = report.sites
    assert [p.drift for p in site_a.periods] == [False] * 6 + [True]
    assert [p.drift for p in site_b.periods] == [False] * 7
    # the first months have no baseline: fewer than the default 100 earlier cases
    assert [p.baseline is None for p in site_a.periods] == [True, True] + [False] * 5
    assert site_a.periods[6].baseline.successes == 270
    assert site_a.periods[6].performance.accuracy.estimate == pytest.approx(0.6)


def test_a_lasting_drop_stays_flagged_and_stays_out_of_the_baseline():
    rows = [r for m in MONTHS[:6] for r in month_rows("A", m, 45, 5)]
    rows += [r for m in MONTHS[6:9] for r in month_rows("A", m, 30, 20)]
    (site,) = binary_quality(rows, positive="tumour").sites
    assert [p.drift for p in site.periods] == [False] * 6 + [True] * 3
    assert {(p.baseline.successes, p.baseline.n) for p in site.periods[6:]} == {(270, 300)}


def test_no_flag_without_enough_baseline_cases_or_with_a_wide_interval():
    rows = [r for m in MONTHS[:6] for r in month_rows("A", m, 45, 5)]
    rows += month_rows("A", MONTHS[6], 30, 20)
    (site,) = binary_quality(rows, positive="tumour", min_baseline_cases=301).sites
    assert not any(p.drift for p in site.periods)
    # five cases at 80 %: the interval (about 0.38 to 0.96) reaches above the 90 % baseline
    rows = [r for m in MONTHS[:6] for r in month_rows("A", m, 45, 5)]
    rows += month_rows("A", MONTHS[6], 4, 1)
    (site,) = binary_quality(rows, positive="tumour").sites
    assert not site.periods[6].drift


def test_binary_quality_of_a_small_table():
    # consensus positives: 4, the AI finds 3; negatives: 6, the AI clears 5
    answers = [("T", "T")] * 3 + [("B", "T")] + [("B", "B")] * 5 + [("T", "B")]
    rows = [QualityRow(f"c{i}", "A", "2026-01", ai, truth) for i, (ai, truth) in enumerate(answers)]
    rows += [QualityRow("no-panel", "A", "2026-01", "T", None)]
    rows += [QualityRow("no-ai", "A", "2026-01", None, "T")]
    report = binary_quality(rows, positive="T")
    performance = report.sites[0].performance
    assert (performance.n, performance.accuracy.successes) == (10, 8)
    assert (performance.sensitivity.successes, performance.sensitivity.n) == (3, 4)
    assert (performance.specificity.successes, performance.specificity.n) == (5, 6)
    ai, truth = zip(*answers, strict=True)
    assert performance.kappa == pytest.approx(cohen_kappa_score(ai, truth), abs=TOLERANCE)
    assert (report.no_consensus, report.no_ai_answer) == (1, 1)
    assert report.overall == performance


def test_dates_as_periods_sort_in_time_order():
    from datetime import date

    rows = [
        QualityRow("c1", "A", date(2026, 3, 1), "T", "T"),
        QualityRow("c2", "A", date(2025, 12, 1), "T", "B"),
    ]
    (site,) = binary_quality(rows, positive="T").sites
    assert [p.period for p in site.periods] == [date(2025, 12, 1), date(2026, 3, 1)]
    assert site.periods[0].performance.kappa is None  # one case: undefined, not NaN


def test_multiclass_quality_has_accuracy_and_kappa_only():
    answers = [("adeno", "adeno"), ("squamous", "adeno"), ("small", "small"), ("adeno", "small")]
    answers += [("squamous", "squamous")] * 2
    rows = [QualityRow(f"c{i}", "A", "2026-01", ai, truth) for i, (ai, truth) in enumerate(answers)]
    performance = multiclass_quality(rows).overall
    assert performance.accuracy.successes == 4
    assert performance.sensitivity is None and performance.specificity is None
    ai, truth = zip(*answers, strict=True)
    assert performance.kappa == pytest.approx(cohen_kappa_score(ai, truth), abs=TOLERANCE)
    with pytest.raises(AgreementError, match="two answers"):
        binary_quality(rows, positive="adeno")


def test_quality_refuses_a_case_twice_and_mixed_periods():
    row = QualityRow("c1", "A", "2026-01", "T", "T")
    with pytest.raises(AgreementError, match="more than once"):
        multiclass_quality([row, row])
    from datetime import date

    with pytest.raises(AgreementError, match="all months or all dates"):
        multiclass_quality([row, QualityRow("c2", "A", date(2026, 1, 1), "T", "T")])


# -- unaided and aided reads ---------------------------------------------------------------------


def test_aided_effect_per_reader_and_on_average():
    panel = {"c1": "T", "c2": "B", "c3": "T", "c4": "B", "c5": None}
    reads = [
        # r1: unaided right on c1, c2; aided right on c1, c2, c3
        AidedRead("c1", "r1", "T", "T"),
        AidedRead("c2", "r1", "B", "B"),
        AidedRead("c3", "r1", "B", "T"),
        AidedRead("c4", "r1", "T", "T"),
        # r2: unaided right on c4; aided right on c1, c3, c4
        AidedRead("c1", "r2", "B", "T"),
        AidedRead("c2", "r2", "T", "T"),
        AidedRead("c3", "r2", "B", "T"),
        AidedRead("c4", "r2", "B", "B"),
        AidedRead("c5", "r2", "B", "B"),  # no consensus
        AidedRead("c1", "r3", "T", None),  # incomplete
    ]
    effect = aided_effect(reads, panel, seed=4, resamples=400)
    r1, r2 = effect.readers
    assert (r1.unaided.successes, r1.aided.successes, r1.difference) == (2, 3, 0.25)
    assert (r2.unaided.successes, r2.aided.successes, r2.difference) == (1, 3, 0.5)
    assert effect.mean_difference.estimate == pytest.approx(0.375, abs=TOLERANCE)
    assert effect.mean_difference.low <= 0.375 <= effect.mean_difference.high
    assert (effect.cases, effect.no_consensus, effect.incomplete_reads) == (4, 1, 1)
    assert effect == aided_effect(reads, panel, seed=4, resamples=400)


def test_aided_effect_refuses_a_reader_reading_a_case_twice():
    reads = [AidedRead("c1", "r1", "T", "T"), AidedRead("c1", "r1", "B", "T")]
    with pytest.raises(AgreementError, match="more than one read"):
        aided_effect(reads, {"c1": "T"}, seed=1)
