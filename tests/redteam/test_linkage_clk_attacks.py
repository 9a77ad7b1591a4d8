"""Attacks on what the hub receives in a linkage: the Bloom-filter encodings (issue 18, red team).

The hub is the attacker here. It holds one node's encodings of 3,000 synthetic persons for a
project, knows how encodings are made (``linkage.encodings``: the pieces of each field, how many
bits each sets, 1,024 bits, balancing, XOR folding) but not the key, and knows public frequency
tables: how often each given and family name occurs, and how often each piece of every field
occurs (the synthetic population's own frequencies, the strongest such table). *Plain* is the
module's unhardened filter (``plain_clk``: the classic record-level CLK, keyed double hashing,
neither balanced nor folded); *hardened* is what the nodes send. Two attacks from the
literature, written here from their descriptions:

* **a frequency attack** (Kuzu et al. 2011; Niedermeyer et al. 2014) needs encodings that repeat:
  aligning the most frequent encodings with the most frequent names re-identifies the records
  of the commonest names when a name is encoded alone (the control: a weak design, and
  hardening does not help it, as equal names stay equal; several times as many records as
  guessing the commonest name for everyone), and none in the platform's record-level
  encodings, plain or hardened, where no encoding occurs twice;
* **a pattern-mining attack** (Christen et al. 2017, 2018) needs no repeats: it finds groups of
  bits set together in the same records (one bigram's bits), labels each with the piece whose
  public frequency its record count matches, reads each record's names from the bigrams it
  holds, and refines the labels from the names read. Against plain encodings it finds groups
  of bits that are one piece's and names several times as many records as guessing (with
  names as varied as the synthetic ones, ``linkage.names``, a few records in a hundred: most
  names are too rare to be told from the many that share their bigrams); against hardened
  ones (mining their bits, and their bits with their complements) it finds no group of bits
  that is one piece's, is sure of no record, and does no better than guessing the most
  frequent name for everyone.

A **known gap** is pinned, not defended: a hub that knew the names behind half the encodings
could learn to read the names of many of the other half from their hardened bits.

The rates measured here are in docs/redteam.md.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

import numpy as np
import pytest

from fivesafes.linkage.encodings import WEIGHTS, harden, pieces, plain_clk
from fivesafes.linkage.identifiers import Identity, identity
from fivesafes.linkage.synth import synthesise
from fivesafes.linkage.tokens import project_key
from unit.test_linkage_synth_tokens import cdm

TODAY = date(2026, 12, 7)
KEY = project_key(bytes(range(32)), "p_attacked")  # the nodes' key: the attacker never uses it
NAMES = "names"  # the field both names are cut into (``encodings.pieces``)


@dataclass(frozen=True)
class Lone:
    """Identifiers with one name and nothing else (a missing field sets no bits)."""

    family_name: str = ""
    given_name: str = ""
    nhs_number: str | None = None
    date_of_birth: date | None = None
    sex: str = "U"
    postcode: str | None = None


@pytest.fixture(scope="module")
def persons() -> list[Identity]:
    records = synthesise({"northfield": cdm(3, 3000, 1)}, overlap=0.0, seed=11)
    return [identity({"person_id": str(r.person_id), "nhs_number": r.nhs_number,
                      "given_name": r.given_name, "family_name": r.family_name,
                      "date_of_birth": r.date_of_birth, "sex": r.sex, "postcode": r.postcode},
                     TODAY) for r in records]  # fmt: skip


@pytest.fixture(scope="module")
def plain(persons: list[Identity]) -> np.ndarray:
    """Every person's unhardened record-level filter, one row each (the classic CLK)."""
    return np.array([plain_clk(p, KEY) for p in persons])


@pytest.fixture(scope="module")
def hardened(plain: np.ndarray) -> np.ndarray:
    """What the nodes send: each filter balanced and XOR-folded under the key."""
    return np.array([harden(bits, KEY) for bits in plain])


@pytest.fixture(scope="module")
def public(persons: list[Identity]) -> tuple[Counter[tuple[str, str]], Counter[str], Counter[str]]:
    """The attacker's tables: records per piece of every field, per given and family name."""
    per_piece: Counter[tuple[str, str]] = Counter()
    for p in persons:
        per_piece.update({(field, piece) for field, found in pieces(p).items() for piece in found})
    given = Counter(p.given_name for p in persons)
    family = Counter(p.family_name for p in persons)
    return per_piece, given, family


def guessing(names: Counter[str]) -> float:
    """The attacker's baseline without encodings: the share of records named right by saying
    the most frequent name for everyone."""
    return names.most_common(1)[0][1] / names.total()


# The frequency attack


def frequency_attack(encodings: list[bytes], truth: list[str], public: list[str]) -> float:
    """Kuzu et al. 2011, Niedermeyer et al. 2014: a value that occurs often gives an encoding
    that occurs as often. Rank the distinct encodings by how often they occur and the public
    names by how often they occur, and say that the encoding of each rank is the name of that
    rank: the share of records whose name the attacker then states correctly."""
    ranked = [e for e, _ in Counter(encodings).most_common(len(public))]
    guess = dict(zip(ranked, public, strict=False))
    return sum(guess.get(e) == t for e, t in zip(encodings, truth, strict=True)) / len(truth)


def test_a_frequency_attack_aligns_a_name_encoded_alone_and_nothing_of_ours(
    persons, plain, hardened
):
    family = [p.family_name for p in persons]
    census = sorted(Counter(family).items(), key=lambda item: (-item[1], item[0]))
    public = [name for name, _ in census]  # a tie in alphabetical order, not the records'
    alone = [plain_clk(Lone(family_name=name), KEY) for name in family]
    plain_alone = frequency_attack([bits.tobytes() for bits in alone], family, public)
    hardened_alone = [harden(bits, KEY).tobytes() for bits in alone]
    # the control: a name encoded alone falls, its commonest values first
    assert plain_alone >= 3 * guessing(Counter(family)), plain_alone
    assert frequency_attack(hardened_alone, family, public) == plain_alone  # equal stays equal
    for ours in (plain, hardened):  # every encoding of a person: no value repeats
        values = [bits.tobytes() for bits in ours]
        assert len(set(values)) == len(values)
        assert frequency_attack(values, family, public) <= 1 / len(values)


# The pattern-mining attack


def mine_bit_patterns(bits: np.ndarray, *, count: int = 150) -> list[np.ndarray]:
    """Christen et al.'s first step: groups of bit positions set together in the same records.
    In a plain filter every record holding a piece (a bigram of its names, its month of birth)
    has all that piece's bits set, so the records having *all* of a group's bits are the
    records holding the piece. A group starts from the two positions whose co-occurrence most
    exceeds chance, grows by the position that most exceeds chance within the records having
    the group so far, and stops (once it has four) when the next position would lose a tenth of
    those records. Positions set in more than four records in five (the NHS number's 999) say
    nothing and are left out; positions in a group are not reused."""
    n = len(bits)
    ones = bits.astype(np.float32)
    share = ones.mean(axis=0)
    excess = ones.T @ ones - n * np.outer(share, share)
    excess[:, share > 0.8] = excess[share > 0.8, :] = -np.inf
    np.fill_diagonal(excess, -np.inf)
    patterns: list[np.ndarray] = []
    while len(patterns) < count:
        i, j = np.unravel_index(np.argmax(excess), excess.shape)
        if not np.isfinite(excess[i, j]):
            break
        group, having = [int(i), int(j)], bits[:, i] & bits[:, j]
        while len(group) < max(WEIGHTS.values()):
            beyond = ones[having].sum(axis=0) - having.sum() * share
            beyond[group] = beyond[share > 0.8] = -np.inf
            k = int(np.argmax(beyond))
            if len(group) >= 4 and (having & bits[:, k]).sum() < 0.9 * having.sum():
                break
            group.append(k)
            having &= bits[:, k]
        excess[group, :] = excess[:, group] = -np.inf
        patterns.append(np.array(group))
    return patterns


def holding(bits: np.ndarray, patterns: list[np.ndarray]) -> np.ndarray:
    """Which records have (nearly) all of each pattern's bits: records x patterns."""
    return np.stack([bits[:, p].mean(axis=1) >= 0.9 for p in patterns], axis=1)


def align_with_pieces(
    having: np.ndarray, lengths: list[int], per_piece: Counter[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """The frequency alignment: each pattern, the most held first, is the piece whose public
    record count is nearest its own (within 3%), among pieces of a field that sets about as
    many bits as the pattern has (``WEIGHTS``: a group of 12 bits is no bigram of 8). A pattern
    that matches no piece is left unlabelled. Piece -> the pattern's index."""
    free = {piece: count for piece, count in per_piece.items() if count >= 10}
    labels: dict[tuple[str, str], int] = {}
    for i in np.argsort(-having.sum(axis=0), kind="stable"):
        records = int(having[:, i].sum())
        fits = [
            piece
            for piece, count in free.items()
            if 0.6 * WEIGHTS[piece[0]] <= lengths[i] <= WEIGHTS[piece[0]]
            and abs(count - records) <= max(2, 0.03 * records)
        ]
        if fits:
            piece = min(fits, key=lambda q: abs(free[q] - records))
            labels[piece] = int(i)
            del free[piece]
    return labels


def name_bigrams(names: list[str], grams: list[str]) -> np.ndarray:
    """Which of ``grams`` each name holds, the name cut into pieces as the nodes cut it."""
    held = [set(pieces(Lone(family_name=name))[NAMES]) for name in names]
    return np.array([[g in mine for g in grams] for mine in held], dtype=bool)


def read_names(
    present: np.ndarray,
    in_given: np.ndarray,
    in_family: np.ndarray,
    prior_given: np.ndarray,
    prior_family: np.ndarray,
    *,
    tried: int = 8,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each record's most likely pair of names from the labelled bigrams it holds
    (``present``, records x bigrams; ``in_given``/``in_family``, names x bigrams; priors, the
    log of each name's public count). A pair costs 4 (about the log-odds of a wrong label) for
    each bigram of its names that is absent and each present bigram it leaves unexplained, and
    gains its names' priors; the ``tried`` best given and family names alone are paired. The
    index of the given and of the family name chosen, and how sure: the chosen pair's share of
    the likelihood of the pairs tried."""
    absent = (~present).astype(np.float32)
    missing_given = absent @ in_given.T.astype(np.float32)
    missing_family = absent @ in_family.T.astype(np.float32)
    best_given = np.argsort(4 * missing_given - prior_given, axis=1, kind="stable")[:, :tried]
    best_family = np.argsort(4 * missing_family - prior_family, axis=1, kind="stable")[:, :tried]
    explained = in_given[best_given][:, :, None, :] | in_family[best_family][:, None, :, :]
    unexplained = (present[:, None, None, :] & ~explained).sum(axis=3)
    cost = (
        np.take_along_axis(missing_given, best_given, 1)[:, :, None]
        + np.take_along_axis(missing_family, best_family, 1)[:, None, :]
        + unexplained
    )
    score = (
        -4 * cost + prior_given[best_given][:, :, None] + prior_family[best_family][:, None, :]
    ).reshape(len(present), -1)
    pair = score.argmax(axis=1)
    likelihood = np.exp(score - score.max(axis=1, keepdims=True))
    rows = np.arange(len(present))
    return (
        best_given[rows, pair // tried],
        best_family[rows, pair % tried],
        likelihood.max(axis=1) / likelihood.sum(axis=1),
    )


def pattern_mining_attack(
    bits: np.ndarray,
    per_piece: Counter[tuple[str, str]],
    given: Counter[str],
    family: Counter[str],
    *,
    rounds: int = 4,
) -> tuple[list[str], list[str], np.ndarray]:
    """Christen et al. 2017, 2018: mine the groups of bits set together, label them with pieces
    by frequency, and read each record's names from the name bigrams its bits hold. Then
    refine, as the attacker can without any truth: the names read say which records hold each
    bigram; each group is relabelled with the bigram whose records its own match best (a
    Jaccard index of at least 0.6), and the names are read again. Each record's given and
    family name as the attacker states them, and how sure it is of the pair."""
    patterns = mine_bit_patterns(bits)
    having = holding(bits, patterns)
    labels = align_with_pieces(having, [len(p) for p in patterns], per_piece)
    given_names = [name for name, _ in given.most_common()]
    family_names = [name for name, _ in family.most_common()]
    prior_given = np.log([given[name] for name in given_names])
    prior_family = np.log([family[name] for name in family_names])
    grams = sorted(
        {g for name in given_names + family_names for g in pieces(Lone(family_name=name))[NAMES]}
    )
    in_given, in_family = name_bigrams(given_names, grams), name_bigrams(family_names, grams)
    held = having.astype(np.float32)
    for round_ in range(rounds + 1):
        named = [grams.index(piece) for field, piece in labels if field == NAMES]
        present = having[:, [labels[(NAMES, grams[g])] for g in named]]
        first, last, sure = read_names(
            present, in_given[:, named], in_family[:, named], prior_given, prior_family
        )
        if round_ == rounds:
            break
        said = (in_given[first] | in_family[last]).astype(np.float32)  # records x bigrams
        common = held.T @ said
        jaccard = common / np.maximum(held.sum(0)[:, None] + said.sum(0)[None, :] - common, 1)
        best: dict[str, tuple[float, int]] = {}
        for i, row in enumerate(jaccard):
            g = int(np.argmax(row))
            if row[g] >= 0.6 and row[g] > best.get(grams[g], (0.0, -1))[0]:
                best[grams[g]] = (float(row[g]), i)
        labels = {piece: i for piece, i in labels.items() if piece[0] != NAMES}
        labels.update({(NAMES, g): i for g, (_, i) in best.items()})
    return [given_names[i] for i in first], [family_names[i] for i in last], sure


def pieces_found(bits: np.ndarray, persons: list[Identity]) -> int:
    """(The referee's count, with the truth the attacker lacks.) How many mined patterns are
    held by exactly the records holding one piece (a Jaccard index of at least 0.95)."""
    having = holding(bits, mine_bit_patterns(bits)).astype(np.float32)
    truth: dict[tuple[str, str], set[int]] = {}
    for row, p in enumerate(persons):
        for field, found in pieces(p).items():
            for piece in found:
                truth.setdefault((field, piece), set()).add(row)
    held = np.zeros((len(persons), len(truth)), dtype=np.float32)
    for column, rows in enumerate(truth.values()):
        held[list(rows), column] = 1
    common = having.T @ held
    jaccard = common / np.maximum(having.sum(0)[:, None] + held.sum(0)[None, :] - common, 1)
    return int((jaccard.max(axis=1) >= 0.95).sum())


def rates(said: list[str], truth: list[str]) -> float:
    """The share of records whose name the attacker states correctly."""
    return sum(s == t for s, t in zip(said, truth, strict=True)) / len(truth)


def test_pattern_mining_reidentifies_names_in_plain_encodings(persons, plain, public):
    per_piece, given, family = public
    first, last, sure = pattern_mining_attack(plain, per_piece, given, family)
    given_rate = rates(first, [p.given_name for p in persons])
    family_rate = rates(last, [p.family_name for p in persons])
    given_base, family_base = guessing(given), guessing(family)
    assert given_rate >= 1.5 * given_base, (given_rate, given_base)
    assert family_rate >= 3 * family_base, (family_rate, family_base)
    assert pieces_found(plain, persons) >= 50  # its bits come in pieces


@pytest.mark.parametrize("complements", [False, True], ids=["bits", "bits and complements"])
def test_pattern_mining_finds_nothing_in_hardened_encodings(persons, hardened, public, complements):
    """The attacker knows the filter was balanced with its complement before folding, so it
    also mines the complemented bits (a piece whose bits were folded with ones would show as
    bits cleared together)."""
    per_piece, given, family = public
    bits = np.hstack([hardened, ~hardened]) if complements else hardened
    first, last, sure = pattern_mining_attack(bits, per_piece, given, family)
    given_rate = rates(first, [p.given_name for p in persons])
    family_rate = rates(last, [p.family_name for p in persons])
    given_base, family_base = guessing(given), guessing(family)
    assert given_rate <= given_base + 0.01, (given_rate, given_base)
    assert family_rate <= family_base + 0.01, (family_rate, family_base)
    assert (sure >= 0.9).mean() <= 0.005  # nothing it is sure of
    assert pieces_found(bits, persons) == 0  # no group of its bits is one piece's


# A known gap: a hub that knows some records' names


def known_plaintext_attack(
    bits: np.ndarray, known: int, persons: list[Identity], given: Counter[str], family: Counter[str]
) -> tuple[float, float]:
    """Outside the attacker model above: a hub that also knows whose the first ``known``
    encodings are (their names). It fits, by ridge regression on those records, how each
    name bigram's presence follows from the bits, predicts the bigrams of the last 1,500
    records, and reads their names from them (:func:`read_names`). The share of those records
    whose given and whose family name it reads correctly."""
    given_names = [name for name, _ in given.most_common()]
    family_names = [name for name, _ in family.most_common()]
    grams = sorted(
        {g for name in given_names + family_names for g in pieces(Lone(family_name=name))[NAMES]}
    )
    in_given, in_family = name_bigrams(given_names, grams), name_bigrams(family_names, grams)
    rows_given = [given_names.index(p.given_name) for p in persons]
    rows_family = [family_names.index(p.family_name) for p in persons]
    held = (in_given[rows_given] | in_family[rows_family]).astype(np.float64)
    x = np.hstack([bits.astype(np.float64), np.ones((len(bits), 1))])
    learnt, read = slice(0, known), slice(len(bits) - 1500, len(bits))
    weights = np.linalg.solve(
        x[learnt].T @ x[learnt] + np.eye(x.shape[1]), x[learnt].T @ held[learnt]
    )
    seen = held[learnt].sum(axis=0) >= 5  # bigrams it has learnt
    present = (x[read] @ weights)[:, seen] > 0.5
    first, last, _ = read_names(
        present,
        in_given[:, seen],
        in_family[:, seen],
        np.log([given[name] for name in given_names]),
        np.log([family[name] for name in family_names]),
    )
    truth = persons[read]
    return (
        rates([given_names[i] for i in first], [p.given_name for p in truth]),
        rates([family_names[i] for i in last], [p.family_name for p in truth]),
    )


def test_known_gap_a_hub_knowing_half_the_records_names_learns_to_read_the_rest(
    persons, plain, hardened, public
):
    """Pinned, not defended (docs/redteam.md): balancing and XOR folding are one fixed keyed
    map of the plain bits (each bit the XOR of two plain bits, often one nearly constant),
    so what the names set survives in the hardened bits, and a decoder learnt from records
    whose names are known reads the names of others."""
    _, given, family = public
    plain_given, plain_family = known_plaintext_attack(plain, 1500, persons, given, family)
    ours_given, ours_family = known_plaintext_attack(hardened, 1500, persons, given, family)
    assert min(plain_given, plain_family) >= 0.8, (plain_given, plain_family)
    # the gap: far more than guessing the commonest name for everyone
    assert ours_given >= guessing(given) + 0.05, ours_given
    assert ours_family >= guessing(family) + 0.05, ours_family
