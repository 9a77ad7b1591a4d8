"""Agreement statistics of review studies (issue 17), generated: what must hold for any answers.

- Cohen's kappa (any weights) is the same whichever reader comes first, and is 1 for two
  identical readers who use more than one category;
- Krippendorff's alpha does not depend on the order of the readers or of the cases, and Fleiss'
  kappa not on the order of the answers within a case;
- a kappa or alpha is either a number no greater than 1 or an AgreementError, never NaN;
- the bootstrap gives one interval for one seed;
- a Wilson interval contains its proportion and lies within [0, 1];
- a consensus answer is given by more than half of the answers given.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fivesafes.pathology.study.agreement import (
    AgreementError,
    bootstrap_ci,
    cohen_kappa,
    consensus,
    fleiss_kappa,
    krippendorff_alpha,
)
from fivesafes.pathology.study.quality import wilson_interval

TOLERANCE = 1e-12
CATEGORIES = ["G1", "G2", "G3", "G4"]
EXAMPLES = settings(max_examples=100, deadline=None)

answer = st.sampled_from(CATEGORIES)
maybe = st.one_of(st.none(), answer)


@st.composite
def two_readers(draw):
    n = draw(st.integers(2, 30))
    first = draw(st.lists(maybe, min_size=n, max_size=n))
    second = draw(st.lists(maybe, min_size=n, max_size=n))
    return first, second


@st.composite
def readers_by_cases(draw):
    readers = draw(st.integers(2, 5))
    cases = draw(st.integers(2, 15))
    return [draw(st.lists(maybe, min_size=cases, max_size=cases)) for _ in range(readers)]


def outcome(call):
    """A statistic's value, or "undefined" when it raises AgreementError."""
    try:
        value = call()
    except AgreementError:
        return "undefined"
    assert math.isfinite(value) and value <= 1.0 + TOLERANCE
    return value


@EXAMPLES
@given(two_readers(), st.sampled_from([None, "linear", "quadratic"]))
def test_kappa_is_symmetric_in_its_two_readers(readers, weights):
    first, second = readers
    forward = outcome(lambda: cohen_kappa(first, second, weights=weights, categories=CATEGORIES))
    backward = outcome(lambda: cohen_kappa(second, first, weights=weights, categories=CATEGORIES))
    assert forward == pytest.approx(backward, abs=TOLERANCE)


@EXAMPLES
@given(st.lists(answer, min_size=2, max_size=30).filter(lambda a: len(set(a)) > 1))
def test_kappa_of_identical_readers_is_one(answers):
    for weights in (None, "linear", "quadratic"):
        kappa = cohen_kappa(answers, answers, weights=weights, categories=CATEGORIES)
        assert kappa == pytest.approx(1.0, abs=TOLERANCE)


@EXAMPLES
@given(readers_by_cases(), st.sampled_from(["nominal", "ordinal"]), st.randoms())
def test_alpha_does_not_depend_on_the_order_of_readers_or_cases(data, level, random):
    def alpha(table):
        return outcome(lambda: krippendorff_alpha(table, level=level, categories=CATEGORIES))

    readers = list(data)
    random.shuffle(readers)
    order = list(range(len(data[0])))
    random.shuffle(order)
    cases = [[row[i] for i in order] for row in data]
    assert alpha(readers) == pytest.approx(alpha(data), abs=TOLERANCE)
    assert alpha(cases) == pytest.approx(alpha(data), abs=TOLERANCE)


@EXAMPLES
@given(
    st.integers(2, 4).flatmap(
        lambda n: st.lists(st.lists(answer, min_size=n, max_size=n), min_size=2, max_size=15)
    ),
    st.randoms(),
)
def test_fleiss_kappa_does_not_depend_on_who_gave_which_answer(table, random):
    shuffled = [random.sample(row, len(row)) for row in table]
    assert outcome(lambda: fleiss_kappa(shuffled)) == pytest.approx(
        outcome(lambda: fleiss_kappa(table)), abs=TOLERANCE
    )


@settings(max_examples=25, deadline=None)
@given(two_readers(), st.integers(0, 2**32 - 1))
def test_the_bootstrap_gives_one_interval_for_one_seed(readers, seed):
    pairs = list(zip(*readers, strict=True))

    def kappa(sample):
        return cohen_kappa([a for a, _ in sample], [b for _, b in sample])

    def interval():
        try:
            return bootstrap_ci(kappa, pairs, seed=seed, resamples=50)
        except AgreementError:
            return "undefined"

    first = interval()
    assert first == interval()
    if first != "undefined":
        assert first.resamples + first.skipped == 50
        assert first.low <= first.high


@EXAMPLES
@given(
    st.integers(1, 100_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.floats(0.5, 0.999),
)
def test_a_wilson_interval_contains_its_proportion_within_zero_and_one(counts, confidence):
    successes, n = counts
    share = wilson_interval(successes, n, confidence=confidence)
    assert 0.0 <= share.low <= share.estimate <= share.high <= 1.0
    assert share.estimate == successes / n


@EXAMPLES
@given(st.lists(maybe, max_size=12))
def test_a_consensus_answer_is_given_by_more_than_half(answers):
    panel = consensus(answers)
    given_answers = [a for a in answers if a is not None]
    if panel is None:
        counts = [given_answers.count(a) for a in set(given_answers)]
        assert all(2 * c <= len(given_answers) for c in counts)
    else:
        assert 2 * given_answers.count(panel) > len(given_answers)
