"""Differencing: refuse an output that, with outputs already released, gives away the count of
a small group of persons.

Two outputs that each pass the threshold can still disclose: if cohort B is cohort A without
one person, ``count(A) - count(B)`` describes that person. A node keeps the person set behind
every released output of a project (``ReleasedSet``) and checks each new population N against
them before release. The rule, with threshold ``t``: N is refused when a *group* of 1..t-1
persons has a count that follows from the released counts and N's, and the group holds no
whole population of those used (a small population on its own is the threshold's business):

| relation | populations used                     | the group (when its count follows)        |
| -------- | ------------------------------------ | ----------------------------------------- |
| one      | N and an earlier A                   | N - A when A ⊂ N; A - N when N ⊂ A        |
| three    | N and two earlier A, B               | any union of their Venn regions whose     |
|          |                                      | indicator is a combination of N's, A's    |
|          |                                      | and B's (not of two of them alone)        |
| cover    | X (N, or an earlier A ⊇ N) and the   | X minus the union of the parts, when its  |
|          | three or more released outputs       | indicator is a combination of X's and the |
|          | inside X (N among them when X is A)  | parts'; or X minus three or more pairwise |
|          |                                      | disjoint parts among them                 |

*Follows* is linear algebra: an attacker who knows which Venn regions are empty (we assume
they do: nesting and disjointness are often known from the definitions) learns exactly the
counts of the groups whose indicator vectors lie in the span of the released populations'
indicators over the non-empty regions. So a difference counts only when one population
contains the other, a union only when the parts are disjoint (or their overlap is itself
released), and two populations that merely overlap give nothing: the earlier rule compared N
with sets such as ``B - A`` that nothing released lets anyone compute, and refused
legitimate work. The argument and its limits: docs/differencing.md.

An identical population is not a finding: the identical query gets the identical released
answer, and a new output whose population *is* an earlier one (a summary of a cohort already
counted) passes outright, since every combination it enters its twin entered already. Groups
that follow from earlier outputs alone were checked when the later of them was released.

Cost: O(k) for *one* and *cover*'s subset tests, O(k²) pairs of earlier outputs for *three*,
k = the project's distinct released populations. A pair that N does not touch is skipped
(every group would hold N whole); otherwise two intersection counts give the sizes of the
seven regions, and a table per pattern of empty regions (computed once) lists the groups
that follow. Verdicts carry output keys and counts, never person ids.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from functools import cache
from itertools import combinations
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap, BitMap, FrozenBitMap

MAX_PERSON_ID = 2**32 - 1
NEW_OUTPUT = "(new output)"
MAX_COVER_PARTS = 64  # beyond this many parts inside a population, cover judges by the union alone
MAX_COVER_REGIONS = 4096  # likewise beyond this many distinct regions of the parts
MAX_PACKING_STEPS = 20_000  # the search for disjoint parts that nearly cover a population


class PersonIdOutOfRange(ValueError):
    """A person id that a 32-bit person set cannot hold. The message never names the id."""


def person_set(person_ids: Iterable[int] | npt.NDArray[np.integer[Any]]) -> BitMap:
    """The person set of pseudonymous OMOP ``person_id`` values (0..2**32-1), or a refusal.
    A numpy integer array (what a query returns) is checked and converted without a loop."""
    if isinstance(person_ids, np.ndarray):
        if person_ids.size == 0:
            return BitMap()
        if not np.issubdtype(person_ids.dtype, np.integer) or (
            int(person_ids.min()) < 0 or int(person_ids.max()) > MAX_PERSON_ID
        ):
            raise PersonIdOutOfRange("person ids must be integers in 0..2**32-1")
        return BitMap(person_ids.astype(np.uint32, copy=False))
    ids = list(person_ids)
    bad = sum(
        1
        for i in ids
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i <= MAX_PERSON_ID
    )
    if bad:
        raise PersonIdOutOfRange(
            f"{bad} person id(s) are not integers in 0..2**32-1; person sets hold 32-bit ids"
        )
    return BitMap(ids)


@dataclass(frozen=True)
class ReleasedSet:
    """The persons behind one released output of a project."""

    output_key: str
    run_id: str
    persons: AbstractBitMap


class Relation(StrEnum):
    ONE = "one"
    THREE = "three"
    COVER = "cover"


@dataclass(frozen=True)
class Finding:
    """A group of ``size`` (1..t-1) persons whose count is the sum of ``coefficients`` times
    the counts of ``operands`` (output keys, ``NEW_OUTPUT`` for the output being checked).
    ``size`` is itself a small count: keep it inside the node."""

    relation: Relation
    operands: tuple[str, ...]
    coefficients: tuple[Fraction, ...]
    size: int

    @property
    def formula(self) -> str:
        """``a + b - c`` (or ``(a + b - c) / 2``): how the group's count follows."""
        return formula(self.coefficients, self.operands)

    def reason(self) -> str:
        """A public reason, without the small count."""
        return f"{self.formula} would count a group of fewer persons than the threshold"


@dataclass(frozen=True)
class DifferencingVerdict:
    findings: tuple[Finding, ...] = ()

    @property
    def outcome(self) -> Literal["pass", "refuse"]:
        return "refuse" if self.findings else "pass"

    @property
    def passed(self) -> bool:
        return not self.findings


def check_population(
    new: AbstractBitMap, released: Sequence[ReleasedSet], threshold: int
) -> DifferencingVerdict:
    """Check a new output's population against a project's released ones (see module doc)."""
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise ValueError("the threshold must be a positive integer")
    n = len(new)
    if not n or threshold == 1:
        return DifferencingVerdict()
    earlier = distinct(released)
    overlap = [new.intersection_cardinality(r.persons) for r in earlier]
    if any(o == n == len(r.persons) for r, o in zip(earlier, overlap, strict=True)):
        return DifferencingVerdict()  # this population was released already
    findings = list(_ones(new, earlier, overlap, threshold))
    findings += _threes(new, earlier, overlap, threshold)
    findings += _covers(new, earlier, overlap, threshold)
    return DifferencingVerdict(tuple(findings))


def distinct(released: Sequence[ReleasedSet]) -> list[ReleasedSet]:
    """The released outputs with one of each population (the first released): twins enter
    every combination alike."""
    first: dict[FrozenBitMap, ReleasedSet] = {}
    for r in released:
        population = r.persons if isinstance(r.persons, FrozenBitMap) else FrozenBitMap(r.persons)
        first.setdefault(population, r)
    kept = {id(r) for r in first.values()}
    return [r for r in released if id(r) in kept]


def _ones(
    new: AbstractBitMap, earlier: list[ReleasedSet], overlap: list[int], threshold: int
) -> Iterator[Finding]:
    """N and one earlier output, one inside the other: the difference of their counts."""
    n = len(new)
    for r, o in zip(earlier, overlap, strict=True):
        a = len(r.persons)
        if 0 < a == o and 1 <= n - a < threshold:
            yield Finding(Relation.ONE, (NEW_OUTPUT, r.output_key), _DIFFERENCE, n - a)
        elif o == n < a and a - n < threshold:
            yield Finding(Relation.ONE, (r.output_key, NEW_OUTPUT), _DIFFERENCE, a - n)


_DIFFERENCE = (Fraction(1), Fraction(-1))


# --- three: N with two earlier outputs ---------------------------------------------------
# A region of three sets is a mask m in 1..7: bit 1 in N, bit 2 in A, bit 4 in B. A pattern
# is a 7-bit mask, bit m-1 set when region m is non-empty. A group is a set of regions (a
# 7-bit mask of the same kind).

_REGIONS = range(1, 8)


@cache
def _three_groups(pattern: int) -> tuple[tuple[int, tuple[Fraction, Fraction, Fraction]], ...]:
    """The groups whose counts follow from N's, A's and B's counts (but not from two of
    them) and that hold none of the three whole, for one pattern of non-empty regions: each
    group with the coefficients of its formula."""
    present = [m for m in _REGIONS if pattern >> (m - 1) & 1]
    matrix = np.array([[m >> i & 1 for i in range(3)] for m in present], dtype=float)
    wholes = [{m for m in present if m >> i & 1} for i in range(3)]
    found = []
    for size in range(1, len(present) + 1):
        for regions in combinations(present, size):
            chosen = set(regions)
            if any(w and w <= chosen for w in wholes):
                continue
            vector = np.array([m in chosen for m in present], dtype=float)
            coefficients = _solve(matrix, vector)
            if coefficients is None or any(
                _solve(matrix[:, list(pair)], vector) is not None
                for pair in ((0, 1), (0, 2), (1, 2))
            ):
                continue
            mask = sum(1 << (m - 1) for m in regions)
            found.append((mask, (coefficients[0], coefficients[1], coefficients[2])))
    return tuple(found)


def _solve(
    matrix: npt.NDArray[np.float64], vector: npt.NDArray[np.float64]
) -> list[Fraction] | None:
    """Coefficients c with ``matrix @ c == vector`` (as small fractions), or None."""
    solution, *_ = np.linalg.lstsq(matrix, vector, rcond=None)
    if not np.allclose(matrix @ solution, vector, atol=1e-9):
        return None
    return [Fraction(float(c)).limit_denominator(64) for c in solution]


@cache
def _all_coefficients() -> npt.NDArray[np.float64]:
    """Every formula's coefficients over all patterns (15 rows): a group's size is its
    formula applied to the three counts, so a pair none of them brings into 1..t-1 has no
    finding, and is skipped before any intersection is counted."""
    found = {c for pattern in range(1, 128) for _, c in _three_groups(pattern)}
    return np.array(sorted(found), dtype=float)


def _threes(
    new: AbstractBitMap, earlier: list[ReleasedSet], overlap: list[int], threshold: int
) -> Iterator[Finding]:
    n = len(new)
    if len(earlier) < 2:
        return
    sizes_ab = np.array([len(r.persons) for r in earlier], dtype=float)
    touched = np.array(overlap) > 0
    first, second = np.triu_indices(len(earlier), 1)
    candidate = touched[first] | touched[second]  # else every group would hold N whole
    near = np.zeros(len(first), dtype=bool)
    for c_n, c_a, c_b in _all_coefficients():
        value = c_n * n + c_a * sizes_ab[first] + c_b * sizes_ab[second]
        near |= (value >= 1) & (value < threshold)
    shared = [new & r.persons if o else None for r, o in zip(earlier, overlap, strict=True)]
    for i, j in zip(
        first[candidate & near].tolist(), second[candidate & near].tolist(), strict=True
    ):
        na, nb = overlap[i], overlap[j]
        ra, rb = earlier[i], earlier[j]
        a, b = len(ra.persons), len(rb.persons)
        ab = ra.persons.intersection_cardinality(rb.persons)
        with_a = shared[i]
        nab = with_a.intersection_cardinality(rb.persons) if with_a is not None and nb else 0
        sizes = {
            1: n - na - nb + nab,
            2: a - na - ab + nab,
            3: na - nab,
            4: b - nb - ab + nab,
            5: nb - nab,
            6: ab - nab,
            7: nab,
        }
        pattern = sum(1 << (m - 1) for m, s in sizes.items() if s)
        for mask, coefficients in _three_groups(pattern):
            size = sum(s for m, s in sizes.items() if mask >> (m - 1) & 1)
            if size < threshold:
                keys = (NEW_OUTPUT, ra.output_key, rb.output_key)
                yield Finding(Relation.THREE, keys, coefficients, size)


# --- cover: a population and the released outputs inside it --------------------------------


def _covers(
    new: AbstractBitMap, earlier: list[ReleasedSet], overlap: list[int], threshold: int
) -> Iterator[Finding]:
    """N, or an earlier output holding N, nearly covered by three or more released outputs
    inside it whose counts give the uncovered rest. O(k) subset tests for N, O(k) more per
    output holding N."""
    n = len(new)
    inside = [r for r, o in zip(earlier, overlap, strict=True) if r.persons and o == len(r.persons)]
    finding = _cover(NEW_OUTPUT, new, [(r.output_key, r.persons) for r in inside], threshold)
    if finding is not None:
        yield finding
    for target, o in zip(earlier, overlap, strict=True):
        if o != n:  # N is not inside this earlier output
            continue
        parts = [(NEW_OUTPUT, new)] + [
            (r.output_key, r.persons)
            for r in earlier
            if r is not target and r.persons and r.persons < target.persons
        ]
        finding = _cover(target.output_key, target.persons, parts, threshold)
        if finding is not None:
            yield finding


def _cover(
    key: str,
    target: AbstractBitMap,
    parts: list[tuple[str, AbstractBitMap]],
    threshold: int,
) -> Finding | None:
    if len(parts) < 3:
        return None  # one or two parts: the relations one and three
    rest = len(target) - len(BitMap.union(*(persons for _, persons in parts)))
    if 1 <= rest < threshold:
        keys = (key, *(k for k, _ in parts))
        coefficients = _rest_coefficients(target, [persons for _, persons in parts])
        if coefficients is not None:
            return Finding(Relation.COVER, keys, tuple(coefficients), rest)
    chosen = _packing(len(target), parts, threshold, first_needed=key != NEW_OUTPUT)
    if chosen is None:
        return None
    keys = (key, *(parts[i][0] for i in sorted(chosen)))
    covered = sum(len(parts[i][1]) for i in chosen)
    return Finding(
        Relation.COVER, keys, (Fraction(1),) + (Fraction(-1),) * len(chosen), len(target) - covered
    )


def _packing(
    size: int, parts: list[tuple[str, AbstractBitMap]], threshold: int, *, first_needed: bool
) -> list[int] | None:
    """Three or more pairwise disjoint parts (the first among them if ``first_needed``: the
    new output, when the target is an earlier one) that together leave 1..t-1 persons of a
    target of ``size`` uncovered, or None. The parts of all outputs inside a target may
    cover it whole, while some of them leave a small rest: an attacker picks the ones that
    do. A depth-first search over disjoint parts, largest first, pruned by the sizes left;
    it stops after ``MAX_PACKING_STEPS`` steps."""
    low, high = size - threshold + 1, size - 1
    order = sorted(range(len(parts)), key=lambda i: -len(parts[i][1]))
    if first_needed:
        order = [0] + [i for i in order if i != 0]
    sizes = [len(parts[i][1]) for i in order]
    left = [*np.cumsum(sizes[::-1])[::-1].tolist(), 0]
    apart: dict[tuple[int, int], bool] = {}
    steps = 0

    def disjoint(i: int, j: int) -> bool:
        pair = (min(i, j), max(i, j))
        if pair not in apart:
            apart[pair] = not parts[i][1].intersection_cardinality(parts[j][1])
        return apart[pair]

    def search(start: int, chosen: list[int], total: int) -> list[int] | None:
        nonlocal steps
        if len(chosen) >= 3 and low <= total <= high:
            return chosen
        for position in range(start, len(order)):
            steps += 1
            if steps > MAX_PACKING_STEPS or total + left[position] < low:
                return None
            i = order[position]
            if total + sizes[position] <= high and all(disjoint(i, c) for c in chosen):
                found = search(position + 1, [*chosen, i], total + sizes[position])
                if found is not None:
                    return found
            if first_needed and not chosen:
                return None  # the new output must be among them
        return None

    return search(0, [], 0)


def _rest_coefficients(
    target: AbstractBitMap, parts: list[AbstractBitMap]
) -> Sequence[Fraction] | None:
    """How the count of the target's persons outside every part follows from the counts of
    the target and the parts, or None when it does not. Past ``MAX_COVER_PARTS`` parts or
    ``MAX_COVER_REGIONS`` regions, judged as if it follows (target minus each part)."""
    conservative = [Fraction(1)] + [Fraction(-1)] * len(parts)
    if len(parts) > MAX_COVER_PARTS:
        return conservative
    persons = np.fromiter(target, dtype=np.uint32, count=len(target))
    member = np.column_stack(
        [np.isin(persons, np.fromiter(p, dtype=np.uint32, count=len(p))) for p in parts]
    )
    regions = np.unique(np.packbits(member, axis=1), axis=0)
    if len(regions) > MAX_COVER_REGIONS:
        return conservative
    bits = np.unpackbits(regions, axis=1)[:, : len(parts)].astype(float)
    matrix = np.column_stack([np.ones(len(regions)), bits])
    vector = (bits.sum(axis=1) == 0).astype(float)
    return _solve(matrix, vector)


def formula(coefficients: Sequence[Fraction], keys: Sequence[str]) -> str:
    """``a + b - c`` (or ``(a + b - c) / 2``) for counts of outputs ``keys``."""
    terms = [(c, k) for c, k in zip(coefficients, keys, strict=True) if c]
    denominator = math.lcm(*(c.denominator for c, _ in terms))
    terms.sort(key=lambda term: term[0] < 0)  # positive terms first
    text = ""
    for c, k in terms:
        whole = abs(c * denominator)
        name = k if whole == 1 else f"{whole}·{k}"
        text += (" - " if c < 0 else " + ") + name if text else ("-" if c < 0 else "") + name
    return f"({text}) / {denominator}" if denominator > 1 else text
