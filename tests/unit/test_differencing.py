"""The differencing rule, as tables: released populations + a new one → the verdict.

Threshold 10 throughout the tables. ``r(a, b)`` is persons a..b-1; ``+`` joins lists.
A finding is (relation, operands, formula); ``(new output)`` is the output being checked.
The reference (``brute_force``) derives the rule from its definition, person by person: the
regions of the populations used, every union of regions tried, and linear algebra by rank.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from itertools import combinations

import numpy as np
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
    distinct,
    person_set,
)

NEW = NEW_OUTPUT
ONE, THREE, COVER = Relation.ONE, Relation.THREE, Relation.COVER


def r(a: int, b: int) -> list[int]:
    return list(range(a, b))


P, Q, R = r(1000, 1200), r(2000, 2300), r(3000, 3150)  # big paddings, far from the rest
TARGET = [7]
FIVE = r(0, 5)

SPEC = [
    # (name, released {key: persons}, new persons, expected (relation, formula))
    ("identical population: not a risk", {"a": r(0, 100)}, r(0, 100), set()),
    ("one person fewer", {"a": r(0, 100)}, r(0, 99), {(ONE, "a - (new output)")}),
    (
        "one person swapped: the counts are equal, nothing follows",
        {"a": r(0, 100)},
        r(1, 101),
        set(),
    ),
    ("nine fewer: below threshold", {"a": r(0, 100)}, r(0, 91), {(ONE, "a - (new output)")}),
    ("ten fewer: at threshold, passes", {"a": r(0, 100)}, r(0, 90), set()),
    ("tracker: padding, then padding + target", {"p": P}, P + TARGET, {(ONE, "(new output) - p")}),
    (
        "tracker through a difference: (P+t+Q) - Q vs P",
        {"a": P + TARGET + Q, "q": Q},
        P,
        {(THREE, "a - (new output) - q")},
    ),
    (
        "union of two plus one person",
        {"p": P, "q": Q},
        P + Q + TARGET,
        {(THREE, "(new output) - p - q")},
    ),
    (
        "union of two minus three persons",
        {"p": P, "q": Q},
        P[3:] + Q,
        {(THREE, "p + q - (new output)")},
    ),
    (
        "inside the intersection of two: |A ∩ B| was never released, nothing follows",
        {"a": r(0, 200), "b": r(100, 300)},
        r(100, 199),
        set(),
    ),
    (
        "the new output as operand: an earlier output = new - earlier + 1",
        {"a": P + TARGET, "q": Q},
        P + Q,
        {(THREE, "a + q - (new output)")},
    ),
    (
        "a released union reveals a small overlap of its parts",
        {"a": r(0, 100), "b": r(97, 200)},
        r(0, 200),
        {(THREE, "a + b - (new output)")},
    ),
    (
        "the same attack in the other order: union first",
        {"u": r(0, 200), "a": r(0, 100)},
        r(97, 200),
        {(THREE, "(new output) + a - u")},
    ),
    (
        "three pairwise overlaps: half a sum of counts is the small one",
        {"a": FIVE + Q, "b": FIVE + R},
        Q + R,
        {(THREE, "(a + b - (new output)) / 2")},
    ),
    (
        "combinations differing by ten or more pass",
        {"p": P, "q": Q},
        P + Q + r(0, 10),
        set(),
    ),
    (
        "overlapping cohorts, neither inside another (the demo's refusal): nothing follows",
        {"lung": r(0, 240), "lung again": r(0, 240)},
        r(237, 900),
        set(),
    ),
    (
        "tracker with three paddings: their union covers all but the target",
        {"p": P, "q": Q, "s": R},
        P + Q + R + TARGET,
        {(COVER, "(new output) - p - q - s")},
    ),
    (
        "the same tracker with another output covering the target: the paddings still do",
        {"p": P, "q": Q, "s": R, "other": TARGET + P[:20]},
        P + Q + R + TARGET,
        {(COVER, "(new output) - p - q - s")},
    ),
    (
        "the same tracker, padded population first: the last padding completes it",
        {"a": P + Q + R + TARGET, "p": P, "q": Q},
        R,
        {(COVER, "a - (new output) - p - q")},
    ),
    (
        "three overlapping parts whose overlaps were never released: nothing follows",
        {"p": r(1000, 1300), "q": r(1250, 1600), "s": r(1550, 1900)},
        r(1000, 1900) + TARGET,
        set(),
    ),
    (
        "overlapping parts with their overlap released: inclusion-exclusion follows",
        {"p": r(1000, 1300), "q": r(1250, 1600), "pq": r(1250, 1300)},
        r(1000, 1600) + TARGET,
        {(COVER, "(new output) + pq - p - q")},
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
    assert {(f.relation, f.formula) for f in verdict.findings} == expected
    assert verdict.outcome == ("refuse" if expected else "pass")
    assert verdict.passed is (not expected)
    assert all(1 <= f.size <= 9 for f in verdict.findings)
    counts = {NEW: len(new)} | {key: len(persons) for key, persons in earlier.items()}
    for f in verdict.findings:  # each formula gives the group's size from the released counts
        assert sum(c * counts[k] for c, k in zip(f.coefficients, f.operands, strict=True)) == f.size


def test_threshold_one_never_refuses():
    verdict = check_population(person_set(r(0, 99)), released({"a": r(0, 100)}), threshold=1)
    assert verdict.passed


def test_reasons_name_outputs_not_persons_or_the_small_count():
    verdict = check_population(person_set(P + TARGET), released({"p": P}), threshold=10)
    (finding,) = verdict.findings
    assert finding.reason() == (
        "(new output) - p would count a group of fewer persons than the threshold"
    )
    assert {f.name for f in dataclasses.fields(Finding)} == {
        "relation",
        "operands",
        "coefficients",
        "size",
    }


def test_twins_enter_once_in_the_order_released():
    twins = released({"a": r(0, 50), "b": r(0, 50), "c": r(0, 60), "d": [], "e": []})
    assert [t.output_key for t in distinct(twins)] == ["a", "c", "d"]


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


# --- the fast check finds exactly what the definition finds -----------------------------


def following(sets: list[BitMap]) -> list[tuple[frozenset[int], BitMap]]:
    """The groups whose counts follow from the counts of ``sets`` and from no fewer of them,
    holding none of them whole: each as (the regions' signatures, its persons)."""
    regions: dict[tuple[bool, ...], list[int]] = {}
    for person in BitMap.union(*sets):
        regions.setdefault(tuple(person in s for s in sets), []).append(person)
    names = sorted(regions)
    matrix = np.array(names, dtype=float)

    def spans(columns: list[int], vector: np.ndarray) -> bool:
        m = matrix[:, columns]
        return np.linalg.matrix_rank(np.column_stack([m, vector])) == np.linalg.matrix_rank(m)

    found = []
    for size in range(1, len(names) + 1):
        for chosen in combinations(range(len(names)), size):
            vector = np.isin(np.arange(len(names)), chosen).astype(float)
            persons = BitMap(p for i in chosen for p in regions[names[i]])
            if any(s and s <= persons for s in sets):
                continue
            everything = list(range(len(sets)))
            fewer = [list(c) for c in combinations(everything, len(sets) - 1)]
            if spans(everything, vector) and not any(spans(c, vector) for c in fewer if c):
                found.append((frozenset(chosen), persons))
    return found


def rest_follows(target: BitMap, parts: list[BitMap]) -> bool:
    """Does the count of the target's persons outside every part follow from the counts?"""
    sets = [target, *parts]
    names = sorted({tuple(p in s for s in sets) for p in target})
    matrix = np.array(names, dtype=float)
    vector = np.array([not any(n[1:]) for n in names], dtype=float)
    rank = np.linalg.matrix_rank
    return bool(rank(np.column_stack([matrix, vector])) == rank(matrix))


def brute_force(new: BitMap, earlier: list[ReleasedSet], t: int) -> list[tuple[object, ...]]:
    """The rule of the module doc from its definition: (relation, operands, size) per group."""
    if not new or t == 1:
        return []
    earlier = distinct(earlier)
    if any(e.persons == new for e in earlier):
        return []  # a population released already passes outright
    found: list[tuple[object, ...]] = []  # one, three: (relation, operands, size); cover: target
    for e in earlier:
        if e.persons:
            for _, group in following([new, e.persons]):
                if len(group) < t:
                    found.append((ONE, frozenset((NEW, e.output_key)), len(group)))
    for x, y in combinations(earlier, 2):
        for _, group in following([new, x.persons, y.persons]):
            if len(group) < t:
                found.append((THREE, frozenset((NEW, x.output_key, y.output_key)), len(group)))
    everything = [(NEW, new)] + [(e.output_key, e.persons) for e in earlier if e.persons]
    for key, target in everything:
        parts = [(k, s) for k, s in everything if k != key and s <= target]
        if key != NEW and NEW not in dict(parts):
            continue  # only populations the new output takes part in
        if len(parts) < 3:
            continue
        rest = target - BitMap.union(*(s for _, s in parts))
        if 1 <= len(rest) < t and rest_follows(target, [s for _, s in parts]):
            found.append((COVER, key))
            continue
        for size in range(3, len(parts) + 1):  # or some disjoint parts leave a small rest
            for chosen in combinations(parts, size):
                if key != NEW and NEW not in dict(chosen):
                    continue
                sets = [s for _, s in chosen]
                if (
                    all(not (a & b) for a, b in combinations(sets, 2))
                    and 1 <= len(target) - sum(map(len, sets)) < t
                ):
                    found.append((COVER, key))
    return sorted(set(found), key=in_order)


def in_order(finding: tuple[object, ...]) -> tuple[str, ...]:
    """A finding's sort key that does not depend on a set's iteration order (a frozenset's repr
    does: two equal sets may print their members in different orders)."""
    return tuple(
        str(sorted(part)) if isinstance(part, frozenset) else str(part) for part in finding
    )


def seen(verdict: DifferencingVerdict) -> list[tuple[object, ...]]:
    """A cover is seen per target (the check names one way to cover it)."""
    return sorted(
        {
            (COVER, f.operands[0])
            if f.relation is COVER
            else (f.relation, frozenset(f.operands), f.size)
            for f in verdict.findings
        },
        key=in_order,
    )


# Small universes make near-equal sets common; wider ones make the size pruning do work.
populations = st.one_of(st.sets(st.integers(0, 24)), st.sets(st.integers(0, 120), max_size=60)).map(
    lambda s: BitMap(s)
)


@settings(max_examples=400, deadline=None)
@given(
    new=populations,
    earlier=st.lists(populations, max_size=5),
    threshold=st.integers(1, 12),
)
def test_the_fast_check_finds_what_the_definition_finds(new, earlier, threshold):
    sets = [ReleasedSet(f"o{i}", f"r{i}", s) for i, s in enumerate(earlier)]
    fast = check_population(new, sets, threshold)
    assert seen(fast) == sorted(set(brute_force(new, sets, threshold)), key=in_order)
    counts = {NEW: len(new)} | {s.output_key: len(s.persons) for s in sets}
    for f in fast.findings:
        assert sum(c * counts[k] for c, k in zip(f.coefficients, f.operands, strict=True)) == f.size


@settings(max_examples=200, deadline=None)
@given(candidates=st.lists(populations, max_size=6), threshold=st.integers(1, 12))
def test_whatever_the_order_no_released_pair_or_triple_combines_badly(candidates, threshold):
    """Release whatever passes, in the order given; then look at every released output as if
    it were new against all the others: nothing is found."""
    released: list[ReleasedSet] = []
    for i, persons in enumerate(candidates):
        if check_population(persons, released, threshold).passed:
            released.append(ReleasedSet(f"o{i}", f"r{i}", persons))
    unique = distinct(released)
    for i, output in enumerate(unique):
        others = unique[:i] + unique[i + 1 :]
        assert brute_force(output.persons, others, threshold) == []


def test_a_formula_reads_as_arithmetic():
    from fivesafes.sdc.differencing import formula

    half = Fraction(1, 2)
    assert formula((half, half, -half), ("a", "b", "c")) == "(a + b - c) / 2"
    assert formula((Fraction(-1), Fraction(2), Fraction(0)), ("a", "b", "c")) == "2·b - a"
