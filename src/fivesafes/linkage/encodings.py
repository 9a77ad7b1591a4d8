"""Bloom-filter encodings of a person's identifiers (cryptographic long-term keys, CLKs), for
records that exact tokens cannot link: a typo in a name, a missing or changed NHS number, a
date of birth written wrong. Two encodings of the same person differ in a few bits; the Dice
coefficient of their bits says how alike the identifiers were, without revealing them.

How a CLK is made (after Schnell, Bachteler and Reiher's record-level Bloom filters), all under
keys derived from the project's token key (:func:`fivesafes.linkage.tokens.project_key`), so a
node without the linkage secret cannot make or test one:

- each field is cut into pieces: names and the postcode into bigrams of the padded value
  (``_SMITH_`` -> ``_S``, ``SM``, ... ``H_``), the date of birth and the NHS number into their
  digits each tagged with its place (``d0=1``, ``d1=9``, ...), so a transposed day and month or
  a mistyped digit moves few bits, and sex into one piece;
- each piece sets ``WEIGHTS[field]`` bits of one 1,024-bit filter, at places drawn by keyed
  double hashing (two HMAC-SHA256 values ``a`` and ``b``: places ``a + i*b mod 1024``), the
  field's name inside the hashed text;
- **hardening** against the frequency and pattern-mining attacks that re-identify plain CLKs:
  *salting*: every piece of the names is hashed with the year of birth, so that one name sets
  different bits in different birth cohorts (its frequency no longer stands out across the
  whole file); *balancing*: the filter and its complement, 2,048 bits with exactly 1,024 set,
  shuffled by a keyed permutation, so every encoding has the same weight; *XOR folding*: the two
  halves XOR-ed into 1,024 bits, so that no bit is one piece's alone.

The price of salting is that a record whose year of birth is wrong matches on its other fields
only; the exact tokens still link it where its NHS number is right.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

import numpy as np

from fivesafes.linkage.identifiers import Identity

BITS = 1024
WEIGHTS = {"given_name": 20, "family_name": 20, "date_of_birth": 12, "postcode": 8, "sex": 4,
           "nhs_number": 10}  # fmt: skip
"""Places each piece of a field sets: the fields that tell persons apart most, most."""


def _key(project_key: bytes, purpose: str) -> bytes:
    return hmac.new(project_key, b"clk:" + purpose.encode(), hashlib.sha256).digest()


def _bigrams(value: str) -> list[str]:
    padded = f"_{value}_"
    return [padded[i : i + 2] for i in range(len(padded) - 1)]


def pieces(person: Identity) -> dict[str, list[str]]:
    """Each field's pieces (names salted with the year of birth)."""
    born = person.date_of_birth.strftime("%Y%m%d")
    year = born[:4]
    return {
        "given_name": [f"{year}:{g}" for g in _bigrams(person.given_name)] if person.given_name
        else [],
        "family_name": [f"{year}:{g}" for g in _bigrams(person.family_name)]
        if person.family_name else [],
        "date_of_birth": [f"d{i}={d}" for i, d in enumerate(born)],
        "postcode": _bigrams(person.postcode.replace(" ", "")) if person.postcode else [],
        "sex": [person.sex] if person.sex in ("F", "M") else [],
        "nhs_number": [f"n{i}={d}" for i, d in enumerate(person.nhs_number or "")],
    }  # fmt: skip


def _places(key: bytes, field: str, piece: str, count: int) -> Iterable[int]:
    text = f"{field}\x1f{piece}".encode()
    a = int.from_bytes(hmac.new(key, b"a" + text, hashlib.sha256).digest()[:8], "big")
    b = int.from_bytes(hmac.new(key, b"b" + text, hashlib.sha256).digest()[:8], "big") | 1
    return ((a + i * b) % BITS for i in range(count))


def plain_clk(person: Identity, project_key: bytes) -> np.ndarray:
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


def clk(person: Identity, project_key: bytes) -> bytes:
    """The person's hardened encoding: ``BITS`` bits as bytes (what a node sends)."""
    return np.packbits(harden(plain_clk(person, project_key), project_key)).tobytes()


def dice_matrix(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Sørensen-Dice coefficients of every left encoding with every right one; rows are
    packed bits (``uint8``, ``BITS // 8`` per encoding)."""
    lbits = np.unpackbits(left, axis=1).astype(np.float32)
    rbits = np.unpackbits(right, axis=1).astype(np.float32)
    common = lbits @ rbits.T
    sizes = lbits.sum(axis=1)[:, None] + rbits.sum(axis=1)[None, :]
    dice: np.ndarray = np.divide(2 * common, sizes, out=np.zeros_like(common), where=sizes > 0)
    return dice


def match_encodings(
    left: dict[str, bytes], right: dict[str, bytes], *, threshold: float, block: int = 2048
) -> list[tuple[str, str, float]]:
    """Pairs whose Dice coefficient is at least ``threshold``, one to one, greedily from the
    most alike (each record in at most one pair): (left id, right id, coefficient)."""
    if not left or not right:
        return []
    lids, rids = list(left), list(right)
    rmat = np.frombuffer(b"".join(right[r] for r in rids), dtype=np.uint8).reshape(len(rids), -1)
    candidates: list[tuple[float, int, int]] = []
    for start in range(0, len(lids), block):
        part = lids[start : start + block]
        lmat = np.frombuffer(b"".join(left[x] for x in part), dtype=np.uint8).reshape(len(part), -1)
        scores = dice_matrix(lmat, rmat)
        rows, cols = np.nonzero(scores >= threshold)
        candidates += [
            (float(scores[i, j]), start + int(i), int(j)) for i, j in zip(rows, cols, strict=True)
        ]
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    used_left: set[int] = set()
    used_right: set[int] = set()
    pairs = []
    for score, i, j in candidates:
        if i in used_left or j in used_right:
            continue
        used_left.add(i)
        used_right.add(j)
        pairs.append((lids[i], rids[j], score))
    return pairs
