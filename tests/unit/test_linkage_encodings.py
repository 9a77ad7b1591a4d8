"""Bloom-filter encodings (``linkage.encodings``): what they keep and what they hide.

* the same person under the same project key gives the same encoding; another project's key
  an unrelated one (Dice near that of two random half-full filters);
* hardened encodings are balanced before folding (every one the same weight) and 1,024 bits;
* names given the other way round give the same encoding (both names are one field);
* a typo, a transposed day and month, a year mistyped, a new postcode, no NHS number or no date
  of birth at all keep two encodings of one person far more alike than encodings of two
  different persons of the same year and sex; a record without a date of birth is encoded
  (names not salted with the year: FEBRL4 has 357 such records) and is still linked to its
  dated record at the threshold when its other fields agree;
* on two synthetic hospitals (1,500 persons each, 450 shared), encodings alone link the planted
  pairs at ``THRESHOLD`` with precision >= 0.999 and recall >= 0.99. The matching step against
  a planted truth, with tokens first, is ``test_linkage_encodings_match.py``; FEBRL4 is
  ``test_linkage_encodings_febrl.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

import numpy as np

from fivesafes.linkage.encodings import (
    BITS,
    THRESHOLD,
    _permutation,
    clk,
    dice_matrix,
    harden,
    match_encodings,
    pieces,
    plain_clk,
)
from fivesafes.linkage.identifiers import Identity
from fivesafes.linkage.tokens import project_key

KEY = project_key(bytes(range(32)), "p_clk")
ANN = Identity(1, "9434765919", "ANN", "LEE", date(1950, 1, 2), "F", "LS1 4AP")


@dataclass(frozen=True)
class Undated:
    """A record of a source that allows a missing date of birth (FEBRL's)."""

    person_id: int
    nhs_number: str | None
    given_name: str
    family_name: str
    date_of_birth: date | None
    sex: str
    postcode: str | None


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


def test_names_the_other_way_round_are_the_same_encoding():
    assert clk(replace(ANN, given_name="LEE", family_name="ANN"), KEY) == clk(ANN, KEY)


def test_errors_keep_one_person_closer_than_two_people():
    undated = Undated(1, ANN.nhs_number, "ANN", "LEE", None, "F", "LS1 4AP")
    variants = [
        replace(ANN, family_name="LEA"),
        replace(ANN, given_name="ANNE"),
        replace(ANN, date_of_birth=date(1950, 2, 1)),  # day and month transposed
        replace(ANN, date_of_birth=date(1951, 1, 2)),  # the year mistyped
        replace(ANN, postcode="M1 1AE"),
        replace(ANN, nhs_number=None),
        undated,
    ]
    others = [
        Identity(2, "9990000018", "BEA", "KHAN", date(1950, 6, 7), "F", "B33 8TH"),
        Identity(3, None, "AMY", "LEWIS", date(1950, 3, 9), "F", "LS2 9JT"),
    ]
    mine = clk(ANN, KEY)
    worst_same = min(dice(mine, clk(v, KEY)) for v in variants)
    best_other = max(dice(mine, clk(o, KEY)) for o in others)
    assert worst_same > best_other + 0.1, (worst_same, best_other)


def test_a_record_without_a_date_of_birth_is_encoded_and_linked_on_its_other_fields():
    undated = Undated(7, ANN.nhs_number, "ANN", "LEE", None, "F", "LS1 4AP")
    assert pieces(undated)["date_of_birth"] == [] and pieces(undated)["names"]
    assert dice(clk(undated, KEY), clk(ANN, KEY)) >= THRESHOLD
    pairs = match_encodings({"dated": clk(ANN, KEY)}, {"undated": clk(undated, KEY)})
    assert [(a, b) for a, b, _ in pairs] == [("dated", "undated")]


def test_encodings_alone_link_the_synthetic_hospitals():
    from test_linkage_synth_tokens import cdm, truth_pairs

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

    found = {(a, b) for a, b, _ in match_encodings(encoded("northfield"), encoded("lakeside"))}
    hits = len(found & truth)
    assert hits / len(found) >= 0.999 and hits / len(truth) >= 0.99, (len(found), hits, len(truth))
