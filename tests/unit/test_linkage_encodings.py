"""Bloom-filter encodings (``linkage.encodings``): what they keep and what they hide.

* the same person under the same project key gives the same encoding; another project's key
  an unrelated one (Dice near that of two random half-full filters);
* hardened encodings are balanced before folding (every one the same weight) and 1,024 bits;
* a typo, a transposed day and month, or a new postcode keep two encodings of one person far
  more alike than encodings of two different persons of the same year and sex;
* on the synthetic hospitals, encodings alone link the planted pairs at the threshold chosen on
  that truth (Dice 0.8: precision >= 0.99, recall >= 0.95); on FEBRL4, at the same threshold,
  encodings of the records tokens left unlinked add to the tokens' recall without losing
  precision (the figures are in docs/linkage.md; the issue's goal of 0.999 and 0.99 on FEBRL4
  is not met yet).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np

from fivesafes.linkage.encodings import (
    BITS,
    _permutation,
    clk,
    dice_matrix,
    harden,
    match_encodings,
    plain_clk,
)
from fivesafes.linkage.identifiers import Identity
from fivesafes.linkage.match import match_tokens
from fivesafes.linkage.tokens import project_key, tokens

KEY = project_key(bytes(range(32)), "p_clk")
ANN = Identity(1, "9434765919", "ANN", "LEE", date(1950, 1, 2), "F", "LS1 4AP")


def dice(a: bytes, b: bytes) -> float:
    left = np.frombuffer(a, dtype=np.uint8)[None, :]
    right = np.frombuffer(b, dtype=np.uint8)[None, :]
    return float(dice_matrix(left, right)[0, 0])


def test_the_same_person_under_one_key_and_another_key():
    assert clk(ANN, KEY) == clk(replace(ANN, person_id=99), KEY)
    assert len(clk(ANN, KEY)) == BITS // 8
    other = clk(ANN, project_key(bytes(range(32)), "p_other"))
    assert dice(clk(ANN, KEY), other) < 0.6  # two unrelated half-full filters: about 0.5


def test_hardened_encodings_are_balanced_before_folding():
    bits = plain_clk(ANN, KEY)
    balanced = np.concatenate([bits, ~bits])[_permutation(KEY)]
    assert balanced.sum() == BITS  # every encoding: the same weight
    assert harden(bits, KEY).shape == (BITS,)


def test_errors_keep_one_person_closer_than_two_people():
    variants = [
        replace(ANN, family_name="LEA"),
        replace(ANN, given_name="ANNE"),
        replace(ANN, date_of_birth=date(1950, 2, 1)),
        replace(ANN, postcode="M1 1AE"),
        replace(ANN, nhs_number=None),
    ]
    others = [
        Identity(2, "9990000018", "BEA", "KHAN", date(1950, 6, 7), "F", "B33 8TH"),
        Identity(3, None, "AMY", "LEWIS", date(1950, 3, 9), "F", "LS2 9JT"),
    ]
    mine = clk(ANN, KEY)
    worst_same = min(dice(mine, clk(v, KEY)) for v in variants)
    best_other = max(dice(mine, clk(o, KEY)) for o in others)
    assert worst_same > best_other + 0.1, (worst_same, best_other)


def test_encodings_link_the_synthetic_hospitals():
    from test_linkage_synth_tokens import cdm, site_tokens, truth_pairs

    from fivesafes.linkage.identifiers import identity
    from fivesafes.linkage.synth import synthesise

    records = synthesise({"northfield": cdm(1, 1500, 1), "lakeside": cdm(2, 1500, 100_001)},
                         overlap=0.3, seed=7)  # fmt: skip
    truth = truth_pairs(records)

    def encoded(site: str) -> dict[int, bytes]:
        return {r.person_id: clk(identity({"person_id": str(r.person_id),
                "nhs_number": r.nhs_number, "given_name": r.given_name,
                "family_name": r.family_name, "date_of_birth": r.date_of_birth, "sex": r.sex,
                "postcode": r.postcode}, date(2026, 12, 7)), KEY)
                for r in records if r.site == site}  # fmt: skip

    found = {(a, b) for a, b, _ in match_encodings(encoded("northfield"), encoded("lakeside"),
                                                   threshold=0.8)}  # fmt: skip
    hits = len(found & truth)
    assert hits / len(found) >= 0.99 and hits / len(truth) >= 0.95, (len(found), hits, len(truth))
    exact = set(match_tokens(site_tokens(records, "northfield", KEY),
                             site_tokens(records, "lakeside", KEY)))  # fmt: skip
    assert found | exact >= exact  # encodings add to tokens; never needed to take any away


def test_on_febrl4_encodings_add_to_tokens():
    from febrl import records, true_links

    left, right = records("a"), records("b")
    truth = true_links(left, right)
    tl = {r: tokens(p, KEY) for r, p in left.items() if p}
    tr = {r: tokens(p, KEY) for r, p in right.items() if p}
    exact = set(match_tokens(tl, tr))
    el = {r: clk(p, KEY) for r, p in left.items() if p}
    er = {r: clk(p, KEY) for r, p in right.items() if p}
    linked_left, linked_right = {a for a, _ in exact}, {b for _, b in exact}
    rest_left = {r: e for r, e in el.items() if r not in linked_left}
    rest_right = {r: e for r, e in er.items() if r not in linked_right}
    fuzzy = {(a, b) for a, b, _ in match_encodings(rest_left, rest_right, threshold=0.8)}
    both = exact | fuzzy
    p_exact, r_exact = len(exact & truth) / len(exact), len(exact & truth) / len(truth)
    p_both, r_both = len(both & truth) / len(both), len(both & truth) / len(truth)
    assert p_exact >= 0.999 and p_both >= 0.999
    assert r_both >= r_exact + 0.015, (r_exact, r_both)
