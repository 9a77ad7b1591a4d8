"""The encodings' threshold chosen per run from the run's own strangers (``linkage.calibrate``):

* the Poisson upper bound is the chi-square quantile's (scipy, within 1%; exact with no event);
* the links at a threshold are exactly the links made at the floor that score at or above it
  (so one matching at the floor serves every threshold);
* the rule on counts given: a run too small to prove anything keeps ``THRESHOLD``; strangers
  that never come near lower it to the floor; strangers as alike as the links raise it; no pair
  to compare, or no stranger to measure by, keeps it;
* a population whose strangers are alike (few names, births within two years, no NHS
  numbers): ``THRESHOLD`` links strangers there by the thousand, and the run's own threshold
  is raised and links a hundredth as many, the planted pairs still linked (FEBRL4, which
  lowers it, is in ``test_linkage_encodings_febrl.py``; the synthetic hospitals, which keep
  it, in ``test_linkage_encodings_match.py``);
* pairs are sought only from the lowest step the rule could take; nodes of one record each
  link at ``THRESHOLD``.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from scipy.stats import chi2

from fivesafes.linkage.calibrate import (
    HIGHEST,
    LOWEST,
    choose,
    lowest_possible,
    strangers,
    upper_bound,
)
from fivesafes.linkage.encodings import THRESHOLD, _packed, clk, dice_matrix, match_encodings
from fivesafes.linkage.identifiers import Identity
from fivesafes.linkage.match import Matched, match_records
from fivesafes.linkage.tokens import project_key, tokens

KEY = project_key(bytes(range(32)), "p_calibrate")


@pytest.mark.parametrize("k", [0, 1, 3, 10, 100, 10_000])
def test_the_upper_bound_is_the_chi_square_quantile(k):
    exact = chi2.ppf(0.95, 2 * (k + 1)) / 2
    assert upper_bound(k) == pytest.approx(exact, rel=0.01)
    if k == 0:
        assert upper_bound(k) == pytest.approx(exact, rel=1e-9)


def random_people(n: int, seed: int) -> dict[int, bytes]:
    """Encodings of persons drawn from modest lists (strangers sometimes alike), each second
    one a near copy of another (so there is something to link)."""
    rng = np.random.default_rng(seed)
    given = ["ANNE", "JOHN", "MARY", "PAUL", "RUTH", "OWEN", "JUNE", "IVAN", "ELLA", "NOAH"]
    family = ["SMITH", "JONES", "BROWN", "TAYLOR", "WILSON", "EVANS", "HUGHES", "PRICE"]
    found = {}
    for i in range(n):
        born = date(1950, 1, 1) + timedelta(days=int(rng.integers(0, 3650)))
        person = Identity(i, None, str(rng.choice(given)), str(rng.choice(family)), born,
                          str(rng.choice(["F", "M"])), None)  # fmt: skip
        found[i] = clk(person, KEY)
    return found


def test_the_links_at_a_threshold_are_the_floors_links_that_score_at_or_above_it():
    left, right = random_people(700, 1), random_people(700, 2)
    at_floor = match_encodings(left, right, threshold=LOWEST)
    assert len(at_floor) > 50  # enough pairs to tell
    for t in (0.62, 0.66, 0.7, 0.74, 0.8):
        assert match_encodings(left, right, threshold=t) == [p for p in at_floor if p[2] >= t]


def test_the_rule_on_counts():
    none = np.zeros(0)
    links = np.full(100, 0.9)  # 100 links by encodings, all far above any threshold
    # 10,000 pairs compared, no stranger near: too few strangers to prove a lower threshold
    assert choose(links, 900, 10_000, none, 10_000).how == "default"
    # ... and with many strangers compared, none near: proved down to the floor
    low = choose(links, 900, 10_000, none, 10**9)
    assert (low.value, low.how, low.above) == (LOWEST, "lowered", 0)
    # strangers as alike as 0.78 at one in a thousand pairs: raised above them
    alike = np.full(1_000, 0.78)
    high = choose(links, 900, 1_000_000, alike, 1_000_000)
    assert high.how == "raised" and high.value == 0.79 and high.above == 0
    assert HIGHEST > 0.79
    # strangers above the highest step too: the highest
    assert choose(links, 900, 1_000_000, np.full(1_000, 0.97), 1_000_000).value == HIGHEST
    # nothing to compare, or no stranger to measure by: THRESHOLD
    assert choose(none, 900, 0, alike, 1_000_000).value == THRESHOLD
    assert choose(links, 900, 10_000, none, 0).value == THRESHOLD


def test_strangers_are_every_pair_of_one_nodes_records():
    people = random_people(301, 3)
    scores, compared = strangers(people)
    assert compared == 301 * 300 // 2
    ids = sorted(people, key=str)
    every = dice_matrix(_packed(people, ids), _packed(people, ids))
    upper = every[np.triu_indices(len(ids), k=1)]
    assert len(scores) == int((upper >= LOWEST - 1e-6).sum())  # each pair once, none itself
    limited, few = strangers(people, sample=100)
    assert few == 100 * 99 // 2 and len(limited) <= len(scores)
    assert strangers({1: people[1]})[1] == 0


def alike_hospitals(n: int, shared: int, seed: int):
    """Two hospitals of a population whose strangers are alike: 20 given and 30 family names
    (random letters), births within two years, 10 postcodes, no NHS number. A shared person is
    recorded again with one letter of the family name changed. Returns each side's (tokens,
    encodings) and the planted truth: (left id, right id)."""
    rng = np.random.default_rng(seed)
    letters = list("ABCDEFGHIJKLMNOPRSTUVWY")

    def word() -> str:
        return "".join(rng.choice(letters, int(rng.integers(4, 8))))

    given, family = [word() for _ in range(20)], [word() for _ in range(30)]
    postcodes = [f"LS{rng.integers(1, 20)} {rng.integers(1, 9)}{word()[:2]}" for _ in range(10)]

    def person(i: int) -> Identity:
        born = date(1970, 1, 1) + timedelta(days=int(rng.integers(0, 730)))
        return Identity(i, None, str(rng.choice(given)), str(rng.choice(family)), born,
                        str(rng.choice(["F", "M"])), str(rng.choice(postcodes)))  # fmt: skip

    def typo(p: Identity, j: int) -> Identity:
        name = p.family_name
        k = int(rng.integers(1, len(name)))
        changed = name[:k] + ("X" if name[k] != "X" else "Z") + name[k + 1 :]
        return Identity(j, None, p.given_name, changed, p.date_of_birth, p.sex, p.postcode)

    left = {i: person(i) for i in range(n)}
    right = {n + j: typo(left[j], n + j) if j < shared else person(n + j) for j in range(n)}
    truth = {(j, n + j) for j in range(shared)}
    made = [({i: tokens(p, KEY) for i, p in side.items()},
             {i: clk(p, KEY) for i, p in side.items()}) for side in (left, right)]  # fmt: skip
    return made, truth


def test_alike_strangers_raise_the_threshold_and_it_links_far_fewer_of_them():
    ((lt, le), (rt, re)), truth = alike_hospitals(3_000, 600, seed=5)

    def quality(found) -> tuple[int, float]:
        return len(set(found) - truth), len(set(found) & truth) / len(truth)

    by_tokens, fixed = match_records(lt, rt, le, re, threshold=THRESHOLD)
    done = Matched()
    again, chosen = match_records(lt, rt, le, re, done=done)
    assert again == by_tokens
    assert done.threshold is not None and done.threshold.how == "raised"
    assert done.threshold.value > THRESHOLD
    (wrong_fixed, recall_fixed), (wrong_chosen, recall_chosen) = quality(fixed), quality(chosen)
    assert wrong_fixed > 1_000  # THRESHOLD links strangers by the thousand here
    assert wrong_chosen <= wrong_fixed / 100, (wrong_fixed, wrong_chosen)
    assert recall_chosen >= recall_fixed - 0.01  # the typos still link


def test_pairs_are_sought_only_from_the_lowest_step_the_rule_could_take():
    # a million pairs compared, a thousand of them strangers' at 0.65 to 0.75 in a million:
    # no step below 0.76 could pass even were 500 records linked by encodings
    alike = np.linspace(0.65, 0.75, 1_000)
    assert lowest_possible(100, 500, 1_000_000, alike, 1_000_000) == 0.76
    # ... and where nothing is near, the floor
    assert lowest_possible(100, 500, 1_000_000, np.zeros(0), 10**9) == LOWEST


def test_nodes_of_one_record_each_link_at_the_default():
    one = random_people(2, 4)
    left, right = {0: one[0]}, {1: one[0]}  # the same encoding at both: Dice 1
    done = Matched()
    _, by_encodings = match_records({0: {}}, {1: {}}, left, right, done=done)
    assert by_encodings == [(0, 1)]
    assert done.threshold is not None and done.threshold.value == THRESHOLD
