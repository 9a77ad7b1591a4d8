"""Bloom-filter encodings of a person's identifiers (cryptographic long-term keys, CLKs), for
records that exact tokens cannot link: a typo in a name, a missing or changed NHS number, a
date of birth written wrong or not at all. Two encodings of the same person differ in a few
bits; the Dice coefficient of their bits says how alike the identifiers were, without
revealing them.

How a CLK is made (after Schnell, Bachteler and Reiher's record-level Bloom filters), all under
keys derived from the project's token key (:func:`fivesafes.linkage.tokens.project_key`), so a
node without the linkage secret cannot make or test one:

- each field is cut into pieces: both names together into the bigrams of each padded name
  (``_SMITH_`` -> ``_S``, ``SM``, ... ``H_``; one field, so names given the other way round
  set the same bits), the postcode into bigrams, the date of birth into its year, month, day,
  its month and day in either order (a transposed day and month still agrees there) and the
  whole date, the NHS number into its digits each tagged with its place (``n0=9``, ...), and
  sex into one piece; a field that is missing (no NHS number, no postcode, a date of birth
  that is empty or did not parse in a source that allows that) sets no bits;
- each piece sets ``WEIGHTS[field]`` bits of one 1,024-bit filter, at places drawn by keyed
  double hashing (two HMAC-SHA256 values ``a`` and ``b``: places ``a + i*b mod 1024``), the
  field's name inside the hashed text;
- **hardening** against the frequency and pattern-mining attacks that re-identify plain CLKs:
  *balancing*: the filter and its complement, 2,048 bits with exactly 1,024 set, shuffled by a
  keyed permutation, so every encoding has the same weight before folding (how many bits a
  record sets does not tell how long its names are or which fields are missing); *XOR
  folding*: the two halves XOR-ed into 1,024 bits, so that no bit is one piece's alone.

Names are **not salted** with the year of birth (as they were first, after Schnell's
recommendation): a salt makes a record whose year is wrong or missing match on its other
fields only. On FEBRL4 (docs/linkage.md) recall was 0.914 with the year salt and 0.979
without it (both at Dice 0.72, the threshold of then); the hardening rests on the key,
balancing and folding, and the red-team tests of encodings are to show whether that is enough.

Two encodings are compared by their Dice coefficient (:func:`dice_matrix`; in matching, by
anonlink's candidate generation, which gives the same coefficients faster); the linkage unit
links pairs at or above ``THRESHOLD``, one to one, most alike first (:func:`match_encodings`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Protocol, TypeVar

import numpy as np

BITS = 1024
WEIGHTS = {"names": 8, "date_of_birth": 20, "postcode": 8, "sex": 8, "nhs_number": 12}
"""Places each piece of a field sets: a field that tells persons apart well, more (chosen on
the synthetic truth and FEBRL4 together: docs/linkage.md)."""
THRESHOLD = 0.70
"""The Dice coefficient at and above which two hardened encodings are one person, chosen on
the synthetic truth (``benchmarks/choose_linkage_threshold.py``): linking six pairs of
synthetic hospitals (4,000 persons each, 1,200 shared; seeds 7, 11, 13, 17, 19, 23) by tokens
and then encodings, 0.69 is the lowest coefficient (in steps of 0.01) at which precision is at
least 0.999 at every seed, and stays so above; one step more for a margin (docs/linkage.md)."""

L = TypeVar("L")
R = TypeVar("R")


class Identifiers(Protocol):
    """What an encoding is made of: an :class:`~fivesafes.linkage.identifiers.Identity`, or a
    record of another source whose date of birth may be missing (FEBRL's)."""

    @property
    def nhs_number(self) -> str | None: ...
    @property
    def given_name(self) -> str: ...
    @property
    def family_name(self) -> str: ...
    @property
    def date_of_birth(self) -> date | None: ...
    @property
    def sex(self) -> str: ...
    @property
    def postcode(self) -> str | None: ...


def _key(project_key: bytes, purpose: str) -> bytes:
    return hmac.new(project_key, b"clk:" + purpose.encode(), hashlib.sha256).digest()


def _bigrams(value: str) -> list[str]:
    padded = f"_{value}_"
    return [padded[i : i + 2] for i in range(len(padded) - 1)]


def _date(born: date | None) -> list[str]:
    if born is None:
        return []
    year, month, day = f"{born.year:04d}", f"{born.month:02d}", f"{born.day:02d}"
    either = "-".join(sorted((month, day)))
    return [f"y={year}", f"m={month}", f"d={day}", f"md={either}", f"ymd={year}{month}{day}"]


def pieces(person: Identifiers) -> dict[str, list[str]]:
    """Each field's pieces; a missing field has none."""
    names = [g for n in (person.given_name, person.family_name) if n for g in _bigrams(n)]
    return {
        "names": names,
        "date_of_birth": _date(person.date_of_birth),
        "postcode": _bigrams(person.postcode.replace(" ", "")) if person.postcode else [],
        "sex": [person.sex] if person.sex in ("F", "M") else [],
        "nhs_number": [f"n{i}={d}" for i, d in enumerate(person.nhs_number or "")],
    }


def _places(key: bytes, field: str, piece: str, count: int) -> Iterable[int]:
    text = f"{field}\x1f{piece}".encode()
    a = int.from_bytes(hmac.new(key, b"a" + text, hashlib.sha256).digest()[:8], "big")
    b = int.from_bytes(hmac.new(key, b"b" + text, hashlib.sha256).digest()[:8], "big") | 1
    return ((a + i * b) % BITS for i in range(count))


def plain_clk(person: Identifiers, project_key: bytes) -> np.ndarray:
    """The unhardened record-level filter (for the red-team tests: never sent)."""
    key = _key(project_key, "hash")
    bits = np.zeros(BITS, dtype=bool)
    for field, found in pieces(person).items():
        for piece in found:
            bits[list(_places(key, field, piece, WEIGHTS[field]))] = True
    return bits


def _permutation(project_key: bytes) -> np.ndarray:
    seed = int.from_bytes(_key(project_key, "balance"), "big")
    return np.random.default_rng(seed).permutation(2 * BITS)


def harden(bits: np.ndarray, project_key: bytes) -> np.ndarray:
    """Balanced (the filter and its complement, shuffled by a keyed permutation), then XOR
    folded to ``BITS`` bits."""
    balanced = np.concatenate([bits, ~bits])[_permutation(project_key)]
    folded: np.ndarray = balanced[:BITS] ^ balanced[BITS:]
    return folded


def clk(person: Identifiers, project_key: bytes) -> bytes:
    """The person's hardened encoding: ``BITS`` bits as bytes (what a node sends)."""
    return np.packbits(harden(plain_clk(person, project_key), project_key)).tobytes()


def _packed(encodings: Mapping[L, bytes], ids: list[L]) -> np.ndarray:
    joined = b"".join(encodings[x] for x in ids)
    return np.frombuffer(joined, dtype=np.uint8).reshape(len(ids), BITS // 8)


def dice_matrix(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Sørensen-Dice coefficients of every left encoding with every right one; rows are
    packed bits (``uint8``, ``BITS // 8`` per encoding)."""
    lbits = np.unpackbits(left, axis=1).astype(np.float32)
    rbits = np.unpackbits(right, axis=1).astype(np.float32)
    common = lbits @ rbits.T
    sizes = lbits.sum(axis=1)[:, None] + rbits.sum(axis=1)[None, :]
    dice: np.ndarray = np.divide(2 * common, sizes, out=np.zeros_like(common), where=sizes > 0)
    return dice


def _candidates(
    lmat: np.ndarray, rmat: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(left row, right row, coefficient) of every pair at or above ``threshold``, by anonlink's
    candidate generation (``find_candidate_pairs`` with its native popcount Dice), every pair
    compared: each coefficient is 2 * common / (size + size) in float64, so equal fractions are
    equal numbers (a tie is a tie) and unequal ones never are (tested equal to
    :func:`dice_matrix`'s pairs)."""
    from anonlink.candidate_generation import find_candidate_pairs
    from anonlink.similarities import dice_coefficient_accelerated
    from bitarray import bitarray

    def filters(mat: np.ndarray) -> list[bitarray]:
        found = []
        for row in mat:
            bits = bitarray(endian="big")
            bits.frombytes(row.tobytes())
            found.append(bits)
        return found

    scores, _, (rows, cols) = find_candidate_pairs(
        [filters(lmat), filters(rmat)], dice_coefficient_accelerated, threshold
    )
    return (
        np.frombuffer(rows, dtype=np.uint32).astype(np.int64),
        np.frombuffer(cols, dtype=np.uint32).astype(np.int64),
        np.frombuffer(scores, dtype=np.float64).copy(),
    )


def match_encodings(
    left: Mapping[L, bytes], right: Mapping[R, bytes], *, threshold: float = THRESHOLD
) -> list[tuple[L, R, float]]:
    """Pairs whose Dice coefficient is at least ``threshold``, one to one, from the most alike
    down: (left id, right id, coefficient). At each coefficient, a record that would pair with
    two records not yet taken is a tie: none of them is linked, then or later (as for tokens,
    an ambiguous match is no match)."""
    if not left or not right:
        return []
    lids, rids = list(left), list(right)
    rows, cols, scores = _candidates(_packed(left, lids), _packed(right, rids), threshold)
    order = np.lexsort((cols, rows, -scores))
    taken_left: set[int] = set()
    taken_right: set[int] = set()
    pairs: list[tuple[L, R, float]] = []
    k = 0
    while k < len(order):
        score = scores[order[k]]
        end = k
        while end < len(order) and scores[order[end]] == score:
            end += 1
        group = [(int(rows[n]), int(cols[n])) for n in order[k:end]]
        free = [(i, j) for i, j in group if i not in taken_left and j not in taken_right]
        per_left = Counter(i for i, _ in free)
        per_right = Counter(j for _, j in free)
        for i, j in free:
            if per_left[i] == 1 and per_right[j] == 1:
                pairs.append((lids[i], rids[j], float(score)))
        taken_left.update(per_left)
        taken_right.update(per_right)
        k = end
    return pairs
