"""Differencing: refuse an output whose population nearly equals another released population.

Two outputs whose populations differ by a few persons let anyone who subtracts one from the
other learn about those few, although each output passed the threshold on its own. A node
keeps the person set behind every released output of a project (``ReleasedSet``) and checks
each new population against them before release. With threshold ``t`` a *finding* is a
population ``X`` and a set ``W`` derived from released ones such that ``1 <= |X Δ W| <= t-1``
(Δ: symmetric difference). The relations checked, for the new population N and every earlier
A, and every pair of earlier A, B:

| relation     | target X | derived W (every role)                       |
| ------------ | -------- | -------------------------------------------- |
| one          | N        | A                                            |
| union        | N, A, B  | the union of the other two                   |
| intersection | N, A, B  | the intersection of the other two            |
| difference   | N, A, B  | one of the other two minus the other (both)  |
| cover        | N, every A ⊇ N | the union of the (3 or more) outputs inside X |

*Cover* catches trackers built from any number of paddings: release P, Q, R, …, then ask for
T+P+Q+R+…; the union of the released parts inside the new population leaves only T uncovered.
Its W is inside X, so ``|X Δ W| = |X| - |W|``. One or two parts are the *one* and *union*
relations already.

An identical population (``|X Δ W| = 0``) is not a finding: the identical query gets the
identical released answer. And a new output whose population *is* an earlier released one (a
summary of a cohort already counted) passes outright: every relation it could enter is the same
relation with that earlier output, already checked; relating the two copies to each other
would flag nothing but the overlaps of released outputs (``A - B`` against ``A``). A relation
whose X or W is empty is not a finding either: a small population on its own is the
threshold's business. Checking the earlier outputs as targets
too (N as an operand) means every pair and triple of released outputs has been checked,
whatever the order of release.

Cost: O(k) for *one* and O(k²) pairs for the rest, k = released outputs of the project. Each
pair is first pruned by sizes alone (``|X Δ W| >= ||X| - |W||``, and interval bounds on
the sizes of unions etc. before ``|A & B|`` is computed); only surviving relations build W and count
``|X Δ W|``. Verdicts carry output keys and counts, never person ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import combinations
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap, BitMap

MAX_PERSON_ID = 2**32 - 1
NEW_OUTPUT = "(new output)"


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
    UNION = "union"
    INTERSECTION = "intersection"
    DIFFERENCE = "difference"
    COVER = "cover"


@dataclass(frozen=True)
class Finding:
    """``target``'s population differs by ``differs_by`` (1..t-1) persons from ``relation``
    applied to ``operands`` (in order: ``difference`` means first minus second). Keys are output
    keys or ``NEW_OUTPUT``. ``differs_by`` is itself a small count: keep it inside the node."""

    relation: Relation
    target: str
    operands: tuple[str, ...]
    differs_by: int

    def reason(self) -> str:
        """A public reason, without the small count."""
        if self.relation is Relation.ONE:
            derived = f"output {self.operands[0]}"
        elif self.relation is Relation.COVER:
            shown = ", ".join(self.operands[:5]) + (", …" if len(self.operands) > 5 else "")
            derived = f"the union of the {len(self.operands)} outputs inside it ({shown})"
        else:
            derived = f"the {self.relation.value} of outputs {' and '.join(self.operands)}"
        return f"population of {self.target} differs from {derived} by fewer than the threshold"


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
    findings: list[Finding] = []
    n = len(new)
    overlap = [new.intersection_cardinality(r.persons) for r in released]
    if any(o == n == len(r.persons) for r, o in zip(released, overlap, strict=True)):
        return DifferencingVerdict()  # this population was released already
    for r, na in zip(released, overlap, strict=True):
        differs_by = n + len(r.persons) - 2 * na
        if n and len(r.persons) and 1 <= differs_by < threshold:
            findings.append(Finding(Relation.ONE, NEW_OUTPUT, (r.output_key,), differs_by))
    for i, j in combinations(range(len(released)), 2):
        findings.extend(_pair(new, released[i], overlap[i], released[j], overlap[j], threshold))
    findings.extend(_covers(new, released, overlap, threshold))
    return DifferencingVerdict(tuple(findings))


def _covers(
    new: AbstractBitMap, released: Sequence[ReleasedSet], overlap: list[int], threshold: int
) -> Iterator[Finding]:
    """The *cover* relation: N, or an earlier output containing N, nearly covered by three or
    more released outputs inside it. O(k) subset tests for N, O(k) more per output holding N."""
    n = len(new)
    if not n:
        return
    inside = [
        r for r, o in zip(released, overlap, strict=True) if r.persons and o == len(r.persons)
    ]
    finding = _cover_finding(
        NEW_OUTPUT, new, [(r.output_key, r.persons) for r in inside], threshold
    )
    if finding is not None:
        yield finding
    for target, o in zip(released, overlap, strict=True):
        if o != n:  # N is not inside this earlier output
            continue
        parts = [(NEW_OUTPUT, new)] + [
            (r.output_key, r.persons)
            for r in released
            if r is not target and r.persons and r.persons <= target.persons
        ]
        finding = _cover_finding(target.output_key, target.persons, parts, threshold)
        if finding is not None:
            yield finding


def _cover_finding(
    key: str,
    target: AbstractBitMap,
    parts: list[tuple[str, AbstractBitMap]],
    threshold: int,
) -> Finding | None:
    if len(parts) < 3:
        return None
    covered = BitMap.union(*(persons for _, persons in parts))
    rest = len(target) - len(covered)
    if 1 <= rest < threshold:
        return Finding(Relation.COVER, key, tuple(sorted(k for k, _ in parts)), rest)
    return None


# One candidate relation: (relation, target key, target, operand keys, operands, size of W).
_Candidate = tuple[
    Relation, str, AbstractBitMap, tuple[str, str], tuple[AbstractBitMap, AbstractBitMap], int
]


def _pair(
    new: AbstractBitMap, ra: ReleasedSet, na: int, rb: ReleasedSet, nb: int, threshold: int
) -> Iterator[Finding]:
    n, a, b = len(new), len(ra.persons), len(rb.persons)
    new_key = NEW_OUTPUT
    candidates: list[_Candidate] = []
    # An earlier output as target, the new output an operand: every |W| is known already.
    for x, y, ny in ((ra, rb, nb), (rb, ra, na)):
        size_y = len(y.persons)
        to_new, from_new = (new_key, y.output_key), (y.output_key, new_key)
        candidates += [
            (Relation.UNION, x.output_key, x.persons, to_new, (new, y.persons), n + size_y - ny),
            (Relation.INTERSECTION, x.output_key, x.persons, to_new, (new, y.persons), ny),
            (Relation.DIFFERENCE, x.output_key, x.persons, to_new, (new, y.persons), n - ny),
            (Relation.DIFFERENCE, x.output_key, x.persons, from_new, (y.persons, new), size_y - ny),
        ]
    # The new output as target: bound |W| by sizes alone before paying for |A ∩ B|.
    if (
        _near(n, max(a, b), a + b, threshold)
        or _near(n, 1, min(a, b), threshold)
        or _near(n, max(1, a - b), a, threshold)
        or _near(n, max(1, b - a), b, threshold)
    ):
        ab = ra.persons.intersection_cardinality(rb.persons)
        keys, sets = (ra.output_key, rb.output_key), (ra.persons, rb.persons)
        back = (rb.output_key, ra.output_key), (rb.persons, ra.persons)
        candidates += [
            (Relation.UNION, new_key, new, keys, sets, a + b - ab),
            (Relation.INTERSECTION, new_key, new, keys, sets, ab),
            (Relation.DIFFERENCE, new_key, new, keys, sets, a - ab),
            (Relation.DIFFERENCE, new_key, new, *back, b - ab),
        ]
    for relation, target_key, target, operand_keys, (y_set, z_set), size in candidates:
        if not target or not size or abs(len(target) - size) >= threshold:
            continue
        differs_by = target.symmetric_difference_cardinality(_apply(relation, y_set, z_set))
        if 1 <= differs_by < threshold:
            yield Finding(relation, target_key, operand_keys, differs_by)


def _near(x: int, lo: int, hi: int, threshold: int) -> bool:
    """Could a set of size in [lo, hi] (non-empty) lie within threshold-1 of a set of size x?"""
    return lo <= hi and x > 0 and lo - threshold < x < hi + threshold


def _apply(relation: Relation, y: AbstractBitMap, z: AbstractBitMap) -> AbstractBitMap:
    if relation is Relation.UNION:
        return y | z
    if relation is Relation.INTERSECTION:
        return y & z
    return y - z
