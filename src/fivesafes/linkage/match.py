"""Matching two nodes' records (the linkage unit's rule; it sees tokens and hardened
encodings only, never an identifier).

Two records are the same person when their primary tokens (``nhs_dob``) are equal, or, where
either lacks one or they differ, when at least ``agreeing`` of their secondary tokens are
equal. A record is linked at most once: where a record would match several, the pair with the
most agreeing tokens wins, and a tie links none of them (an ambiguous match is no match:
linking the wrong person is worse than missing one).

Then (:func:`match_records`) the records that tokens left unlinked on both sides are compared
by their Bloom-filter encodings (``linkage.encodings``): pairs whose Dice coefficient is at
least the threshold, one to one, most alike first, a tie linking none. The threshold is the
run's, chosen from how alike each node's own records are (``linkage.calibrate``), unless one
is given.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from fivesafes.linkage.calibrate import Threshold, link_encodings
from fivesafes.linkage.encodings import match_encodings
from fivesafes.linkage.kinds import PRIMARY, SECONDARY

Tokens = Mapping[str, str]  # kind -> token
L = TypeVar("L", bound=Hashable)
R = TypeVar("R", bound=Hashable)


@dataclass
class Matched:
    """What a matching did: rows at each step, each step's wall time in seconds, and the
    encodings' threshold (chosen for the run, or given)."""

    candidates: int = 0  # (left, right, kind) rows whose tokens are equal
    scored: int = 0  # pairs that pass the rule before one-to-one
    linked: int = 0
    rest: int = 0  # pairs of encodings compared (the records tokens left)
    seconds: dict[str, float] = field(default_factory=dict)
    threshold: Threshold | None = None


def match_tokens(
    left: Mapping[L, Tokens], right: Mapping[R, Tokens], *, agreeing: int = 2
) -> list[tuple[L, R]]:
    """The linked pairs (a left record's id, a right record's id), one to one."""
    by_token: dict[tuple[str, str], list[R]] = defaultdict(list)
    for rid, made in right.items():
        for kind, token in made.items():
            by_token[(kind, token)].append(rid)
    scored: dict[tuple[L, R], int] = {}
    for lid, made in left.items():
        votes: dict[R, int] = defaultdict(int)
        primary: set[R] = set()
        for kind, token in made.items():
            for rid in by_token.get((kind, token), ()):
                if kind == PRIMARY:
                    primary.add(rid)
                else:
                    votes[rid] += 1
        for rid in primary | {r for r, v in votes.items() if v >= agreeing}:
            # a primary match outranks any count of secondary ones
            scored[(lid, rid)] = votes.get(rid, 0) + (len(SECONDARY) + 1) * (rid in primary)
    return _one_to_one(scored)


def match_records(
    left: Mapping[L, Tokens],
    right: Mapping[R, Tokens],
    left_encodings: Mapping[L, bytes],
    right_encodings: Mapping[R, bytes],
    *,
    threshold: float | None = None,
    done: Matched | None = None,
) -> tuple[list[tuple[L, R]], list[tuple[L, R]]]:
    """The pairs linked by tokens, and then those linked by the encodings of the records
    tokens left unlinked: (by tokens, by encodings), one to one across both. The encodings'
    threshold is ``threshold`` if given, else the run's (``linkage.calibrate``; ``done``, if
    given, gets it)."""
    by_tokens = match_tokens(left, right)
    linked_left = {a for a, _ in by_tokens}
    linked_right = {b for _, b in by_tokens}
    rest_left = {r: e for r, e in left_encodings.items() if r not in linked_left}
    rest_right = {r: e for r, e in right_encodings.items() if r not in linked_right}
    matched = encodings_of_the_rest(
        rest_left, rest_right, left_encodings, right_encodings, len(by_tokens), threshold, done
    )
    return by_tokens, [(a, b) for a, b, _ in matched]


def encodings_of_the_rest(
    rest_left: Mapping[L, bytes],
    rest_right: Mapping[R, bytes],
    left_all: Mapping[L, bytes],
    right_all: Mapping[R, bytes],
    by_tokens: int,
    threshold: float | None,
    done: Matched | None,
) -> list[tuple[L, R, float]]:
    """The encodings' links of the records tokens left, at ``threshold`` or the run's."""
    if threshold is not None:
        return match_encodings(rest_left, rest_right, threshold=threshold)
    matched, chosen = link_encodings(
        rest_left, rest_right, by_tokens=by_tokens, left_all=left_all, right_all=right_all
    )
    if done is not None:
        done.threshold = chosen
    return matched


def _one_to_one(scored: dict[tuple[L, R], int]) -> list[tuple[L, R]]:
    best_left: dict[L, list[tuple[int, R]]] = defaultdict(list)
    best_right: dict[R, list[tuple[int, L]]] = defaultdict(list)
    for (lid, rid), score in scored.items():
        best_left[lid].append((score, rid))
        best_right[rid].append((score, lid))

    T = TypeVar("T")

    def unique_best(options: list[tuple[int, T]]) -> T | None:
        top = max(score for score, _ in options)
        winners = [other for score, other in options if score == top]
        return winners[0] if len(winners) == 1 else None

    linked = []
    for lid, options in best_left.items():
        best = unique_best(options)
        if best is not None and unique_best(best_right[best]) == lid:
            linked.append((lid, best))
    return linked
