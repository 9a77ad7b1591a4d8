"""The differencing rule, as tables: released populations + a new one → the verdict.

Threshold 10 throughout the tables. ``r(a, b)`` is persons a..b-1; ``+`` joins lists.
A finding is (relation, target, operands); ``new`` is the output being checked. One attack on
three outputs is often seen from more than one of them (N = A | B + t is also A = N - B - t):
every view is listed, so a reviewer sees each way the outputs combine.
"""

from __future__ import annotations

import dataclasses
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroaring import BitMap

from fivesafes.sdc.differencing import (
    NEW_OUTPUT,
    DifferencingVerdict,
    Finding,
    PersonIdOutOfRange,
    Relation,
    ReleasedSet,
    check_population,
    person_set,
)

NEW = NEW_OUTPUT
ONE, UNION, INTER, DIFF, COVER = (
    Relation.ONE,
    Relation.UNION,
    Relation.INTERSECTION,
    Relation.DIFFERENCE,
    Relation.COVER,
)


def r(a: int, b: int) -> list[int]:
    return list(range(a, b))


P, Q, R = r(1000, 1200), r(2000, 2300), r(3000, 3150)  # big paddings, far from the rest
TARGET = [7]

SPEC = [
    # (name, released {key: persons}, new persons, expected findings)
    ("identical population: not a risk", {"a": r(0, 100)}, r(0, 100), set()),
    ("one person fewer", {"a": r(0, 100)}, r(0, 99), {(ONE, NEW, ("a",))}),
    ("one person swapped", {"a": r(0, 100)}, r(1, 101), {(ONE, NEW, ("a",))}),
    ("nine fewer: below threshold", {"a": r(0, 100)}, r(0, 91), {(ONE, NEW, ("a",))}),
    ("ten fewer: at threshold, passes", {"a": r(0, 100)}, r(0, 90), set()),
    ("tracker: padding, then padding + target", {"p": P}, P + TARGET, {(ONE, NEW, ("p",))}),
    (
        "tracker through a difference: (P+t+Q) - Q vs P",
        {"a": P + TARGET + Q, "q": Q},
        P,
        {(DIFF, NEW, ("a", "q")), (DIFF, "q", ("a", NEW)), (UNION, "a", (NEW, "q"))},
    ),
    (
        "union of two plus one person",
        {"p": P, "q": Q},
        P + Q + TARGET,
        {(UNION, NEW, ("p", "q")), (DIFF, "p", (NEW, "q")), (DIFF, "q", (NEW, "p"))},
    ),
    (
        "union of two minus three persons",
        {"p": P, "q": Q},
        P[3:] + Q,
        {(UNION, NEW, ("p", "q")), (DIFF, "p", (NEW, "q"))},
    ),
    (
        "intersection of two minus one person",
        {"a": r(0, 200), "b": r(100, 300)},
        r(100, 199),
        {(INTER, NEW, ("a", "b"))},
    ),
    (
        "the new output as operand: an earlier output = new - earlier + 1",
        {"a": P + TARGET, "q": Q},
        P + Q,
        {(DIFF, "a", (NEW, "q")), (UNION, NEW, ("a", "q"))},
    ),
    (
        "a released union reveals a small overlap of its parts",
        {"a": r(0, 100), "b": r(97, 200)},
        r(0, 200),
        {(DIFF, "a", (NEW, "b")), (DIFF, "b", (NEW, "a"))},
    ),
    (
        "the same attack in the other order: union first",
        {"u": r(0, 200), "a": r(0, 100)},
        r(97, 200),
        {(DIFF, NEW, ("u", "a")), (DIFF, "a", ("u", NEW))},
    ),
    (
        "combinations differing by ten or more pass",
        {"p": P, "q": Q},
        P + Q + r(0, 10),
        set(),
    ),
    (
        "tracker with three paddings: their union covers all but the target",
        {"p": P, "q": Q, "s": R},
        P + Q + R + TARGET,
        {(COVER, NEW, ("p", "q", "s"))},
    ),
    (
        "the same tracker, padded population first: the last padding completes it",
        {"a": P + Q + R + TARGET, "p": P, "q": Q},
        R,
        {(COVER, "a", (NEW, "p", "q"))},
    ),
    (
        "three parts leaving ten or more uncovered pass",
        {"p": P, "q": Q, "s": R},
        P + Q + R + r(0, 10),
        set(),
    ),
    (
        "a population released already passes, whatever else overlaps it",
        {"a": r(0, 100), "b": r(97, 300)},
        r(0, 100),
        set(),
    ),
    ("unrelated populations pass", {"a": r(0, 100), "b": r(200, 300)}, r(500, 600), set()),
    ("nothing released yet", {}, r(0, 3), set()),
    ("an empty new population is not differencing", {"a": r(0, 100)}, [], set()),
]


def released(sets: dict[str, list[int]]) -> list[ReleasedSet]:
    return [ReleasedSet(key, f"run-{key}", person_set(ids)) for key, ids in sets.items()]


@pytest.mark.parametrize(
    ("earlier", "new", "expected"), [case[1:] for case in SPEC], ids=[case[0] for case in SPEC]
)
def test_spec(earlier, new, expected):
    verdict = check_population(person_set(new), released(earlier), threshold=10)
    assert {(f.relation, f.target, f.operands) for f in verdict.findings} == expected
    assert verdict.outcome == ("refuse" if expected else "pass")
    assert verdict.passed is (not expected)
    assert all(1 <= f.differs_by <= 9 for f in verdict.findings)


def test_threshold_one_never_refuses():
    verdict = check_population(person_set(r(0, 99)), released({"a": r(0, 100)}), threshold=1)
    assert verdict.passed


def test_reasons_name_outputs_not_persons_or_the_small_count():
    verdict = check_population(person_set(P + TARGET), released({"p": P}), threshold=10)
    (finding,) = verdict.findings
    assert finding.reason() == (
        "population of (new output) differs from output p by fewer than the threshold"
    )
    assert {f.name for f in dataclasses.fields(Finding)} == {
        "relation",
        "target",
        "operands",
        "differs_by",
    }


@pytest.mark.parametrize("bad", [-1, 2**32, 2**40, True, 1.5])
def test_person_ids_outside_32_bits_are_refused_without_naming_them(bad):
    with pytest.raises(PersonIdOutOfRange) as caught:
        person_set([1, 2, bad])
    assert str(caught.value) == (
        "1 person id(s) are not integers in 0..2**32-1; person sets hold 32-bit ids"
    )


def test_largest_32_bit_id_is_accepted():
    assert list(person_set([0, 2**32 - 1])) == [0, 2**32 - 1]


@pytest.mark.parametrize("threshold", [0, -3, True])
def test_threshold_must_be_positive(threshold):
    with pytest.raises(ValueError, match="threshold"):
        check_population(BitMap(), [], threshold)


# --- the pruned check finds exactly what a brute-force reference finds -----------------------


def brute_force(new: BitMap, earlier: list[ReleasedSet], t: int) -> DifferencingVerdict:
    """Every relation of the module doc, computed in full, no pruning."""
    if any(e.persons == new for e in earlier):
        return DifferencingVerdict()  # a population released already passes outright

    def finding(relation, target_key, target, keys, derived):
        d = len(target ^ derived)
        if target and derived and 1 <= d < t:
            return Finding(relation, target_key, keys, d)
        return None

    out = [finding(ONE, NEW, new, (e.output_key,), e.persons) for e in earlier]
    for x, y in combinations(earlier, 2):
        trio = [(NEW, new), (x.output_key, x.persons), (y.output_key, y.persons)]
        for target_key, target in trio:
            (k1, s1), (k2, s2) = [(k, s) for k, s in trio if k != target_key]
            out += [
                finding(UNION, target_key, target, (k1, k2), s1 | s2),
                finding(INTER, target_key, target, (k1, k2), s1 & s2),
                finding(DIFF, target_key, target, (k1, k2), s1 - s2),
                finding(DIFF, target_key, target, (k2, k1), s2 - s1),
            ]
    everything = [(NEW, new)] + [(e.output_key, e.persons) for e in earlier]
    for target_key, target in everything:
        parts = [(k, s) for k, s in everything if k != target_key and s and s <= target]
        if target_key != NEW and NEW not in dict(parts):
            continue  # only relations the new output takes part in
        if len(parts) >= 3:
            union = BitMap.union(*(s for _, s in parts))
            keys = tuple(sorted(k for k, _ in parts))
            out.append(finding(COVER, target_key, target, keys, union))
    return DifferencingVerdict(tuple(f for f in out if f is not None))


def normalise(finding: Finding) -> tuple[object, ...]:
    """Union and intersection are symmetric: compare their operands unordered."""
    ops = finding.operands
    if finding.relation in (UNION, INTER, COVER):
        ops = tuple(sorted(ops))
    return (finding.relation, finding.target, ops, finding.differs_by)


# Small universes make near-equal sets common; wider ones make the size pruning do work.
populations = st.one_of(st.sets(st.integers(0, 24)), st.sets(st.integers(0, 120), max_size=60)).map(
    lambda s: BitMap(s)
)


@settings(max_examples=600, deadline=None)
@given(
    new=populations,
    earlier=st.lists(populations, max_size=5),
    threshold=st.integers(1, 12),
)
def test_pruning_never_misses_a_violation(new, earlier, threshold):
    sets = [ReleasedSet(f"o{i}", f"r{i}", s) for i, s in enumerate(earlier)]
    fast = check_population(new, sets, threshold)
    slow = brute_force(new, sets, threshold)
    assert sorted(map(normalise, fast.findings)) == sorted(map(normalise, slow.findings))
    assert fast.outcome == slow.outcome


@settings(max_examples=300, deadline=None)
@given(candidates=st.lists(populations, max_size=6), threshold=st.integers(1, 12))
def test_whatever_the_order_no_released_pair_or_triple_combines_badly(candidates, threshold):
    """Release whatever passes, in the order given; then look at every released output as if
    it were new against all the others: nothing is found."""
    released: list[ReleasedSet] = []
    for i, persons in enumerate(candidates):
        if check_population(persons, released, threshold).passed:
            released.append(ReleasedSet(f"o{i}", f"r{i}", persons))
    distinct: list[ReleasedSet] = []  # a population released twice is one population
    for output in released:
        if all(output.persons != d.persons for d in distinct):
            distinct.append(output)
    for i, output in enumerate(distinct):
        others = distinct[:i] + distinct[i + 1 :]
        assert brute_force(output.persons, others, threshold).passed
