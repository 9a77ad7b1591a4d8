"""FEBRL4 (``tests/febrl.py``: 5,000 originals and one corrupted duplicate of each) linked by
tokens alone, by encodings alone and by tokens then encodings, at the threshold chosen once on
the synthetic truth (``encodings.THRESHOLD``) and at the run's own (``linkage.calibrate``, what
the hub does): the figures of docs/linkage.md.

Every record is encoded, those whose date of birth is missing or does not parse (357 of the
10,000) too: tokens need a date of birth, encodings do not. Measured at ``THRESHOLD`` (0.70):
tokens alone precision 1.000 and recall 0.862; encodings alone 1.000 and 0.988; tokens then
encodings 1.000 and 0.988, with 259 of the 270 true pairs that lack a date of birth on either
side. At the run's own threshold, which FEBRL4's strangers (far less alike than the synthetic
hospitals') lower to 0.66: precision 1.000 and recall 0.996, the issue's goal (precision >=
0.999, recall >= 0.99) met.
"""

from __future__ import annotations

import pytest

from febrl import encodable, records
from fivesafes.linkage.encodings import THRESHOLD, clk, match_encodings
from fivesafes.linkage.match import Matched, match_records, match_tokens
from fivesafes.linkage.tokens import project_key, tokens

KEY = project_key(bytes(32), "p_febrl")


@pytest.fixture(scope="module")
def febrl4():
    left, right = encodable("a"), encodable("b")
    truth = {(a, a.replace("-org", "-dup-0")) for a in left}
    made = {}
    for part, found in (("a", left), ("b", right)):
        dated = records(part)  # as Identity, None without a date of birth (tokens need one)
        made[part] = ({r: tokens(p, KEY) for r, p in dated.items() if p is not None},
                      {r: clk(p, KEY) for r, p in found.items()})  # fmt: skip
    return left, right, truth, made


def quality(found, truth) -> tuple[float, float]:
    hits = len(set(found) & truth)
    return hits / max(len(found), 1), hits / len(truth)


def test_febrl4_by_tokens_by_encodings_and_both(febrl4):
    left, right, truth, made = febrl4
    (ta, ea), (tb, eb) = made["a"], made["b"]
    assert len(truth) == 5000
    assert sum(p.date_of_birth is None for p in (*left.values(), *right.values())) == 357
    p_tokens, r_tokens = quality(match_tokens(ta, tb), truth)
    p_alone, r_alone = quality([(a, b) for a, b, _ in match_encodings(ea, eb)], truth)
    by_tokens, by_encodings = match_records(ta, tb, ea, eb, threshold=THRESHOLD)
    p_both, r_both = quality(by_tokens + by_encodings, truth)
    assert p_tokens == 1.0 and 0.86 <= r_tokens < 0.87, (p_tokens, r_tokens)
    assert p_alone >= 0.999 and r_alone >= 0.985, (p_alone, r_alone)
    assert p_both >= 0.999 and r_both >= 0.985, (p_both, r_both)  # the goal, 0.99, not met here
    undated = {(a, b) for a, b in truth if not left[a].date_of_birth or not right[b].date_of_birth}
    linked = undated & set(by_encodings)
    assert len(undated) == 270 and len(linked) >= 250, len(linked)


def test_the_runs_own_threshold_is_lower_on_febrl4_and_meets_the_goal(febrl4):
    """The hub's rule: FEBRL4's strangers prove a lower threshold precise."""
    _, _, truth, made = febrl4
    (ta, ea), (tb, eb) = made["a"], made["b"]
    done = Matched()
    by_tokens, by_encodings = match_records(ta, tb, ea, eb, done=done)
    precision, recall = quality(by_tokens + by_encodings, truth)
    assert done.threshold is not None and done.threshold.how == "lowered"
    assert done.threshold.value < THRESHOLD and done.threshold.expected_wrong < 5
    assert precision >= 0.999 and recall >= 0.99, (precision, recall)  # the goal


def test_encodings_only_for_records_without_a_number_add_nothing_on_febrl4(febrl4):
    """Every FEBRL4 record has a number (its social security number): were encodings sent only
    for records without one, none would be sent and tokens alone would link."""
    left, right, truth, made = febrl4
    (ta, ea), (tb, eb) = made["a"], made["b"]
    none_a = {r: e for r, e in ea.items() if not left[r].nhs_number}
    none_b = {r: e for r, e in eb.items() if not right[r].nhs_number}
    assert not none_a and not none_b
    by_tokens, by_encodings = match_records(ta, tb, none_a, none_b)
    assert by_encodings == [] and quality(by_tokens, truth)[1] < 0.87
