"""Attacks on what the hub receives in a linkage: the tokens (issue 18, red team).

The hub is the attacker here: it holds every node's tokens for a project, and it may hold a
dictionary of candidate identities (a leaked register, the whole population) and the public
frequencies of names. Without the linkage secret:

* **a dictionary attack fails**: hashing every candidate identity as the tokens are made,
  under every key the hub could guess (no key, a key of zeros, the project's id, an unkeyed
  SHA-256) finds none of the nodes' tokens; with the secret (the control) it finds them all, so
  the attack itself is sound;
* **a frequency attack finds nothing to align**: matching the most frequent token values to the
  most frequent names, rank by rank, re-identifies the records of the commonest names when a
  token is of the family name alone (the control: a weak design; several times as many
  records as guessing the commonest name for everyone), and none with the platform's tokens,
  every one of which includes the date of birth.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from datetime import date

from fivesafes.linkage.identifiers import identity
from fivesafes.linkage.synth import synthesise
from fivesafes.linkage.tokens import SEPARATOR, project_key, tokens
from unit.test_linkage_synth_tokens import cdm

TODAY = date(2026, 12, 7)
SECRET = bytes(range(32))
PROJECT = "p_attacked"


def people():
    records = synthesise({"northfield": cdm(3, 3000, 1)}, overlap=0.0, seed=11)
    return [identity({"person_id": str(r.person_id), "nhs_number": r.nhs_number,
                      "given_name": r.given_name, "family_name": r.family_name,
                      "date_of_birth": r.date_of_birth, "sex": r.sex, "postcode": r.postcode},
                     TODAY) for r in records]  # fmt: skip


def test_a_dictionary_attack_on_tokens_without_the_secret_finds_nothing():
    persons = people()
    key = project_key(SECRET, PROJECT)
    received = {t for p in persons for t in tokens(p, key).values()}  # what the hub holds

    def guessed_hmac(guess: bytes):
        return lambda text: hmac.new(guess, text, hashlib.sha256).hexdigest()

    guesses = {
        "no key": guessed_hmac(b""),
        "zeros": guessed_hmac(bytes(32)),
        "the project id": guessed_hmac(PROJECT.encode()),
        "unkeyed SHA-256": lambda text: hashlib.sha256(text).hexdigest(),
        "a secret of zeros, derived as the nodes do": lambda text: hmac.new(
            project_key(bytes(32), PROJECT), text, hashlib.sha256
        ).hexdigest(),
    }
    dictionary = persons  # the attacker's register holds every true identity
    for name, make in guesses.items():
        found = 0
        for p in dictionary:
            text = SEPARATOR.join(("nhs_dob", p.nhs_number or "", p.date_of_birth.isoformat()))
            found += make(text.encode()) in received
        assert found == 0, name
    control = sum(tokens(p, key)["nhs_dob"] in received for p in dictionary if p.nhs_number)
    assert control == sum(1 for p in dictionary if p.nhs_number) > 2500


def rank_attack(values: list[str], truth: list[str], public: list[str]) -> float:
    """Align the most frequent values with the most frequent public names, rank by rank: the
    share of records whose name the attacker then states correctly."""
    by_value = [v for v, _ in Counter(values).most_common(len(public))]
    guess = dict(zip(by_value, public, strict=False))
    return sum(guess.get(v) == t for v, t in zip(values, truth, strict=True)) / len(values)


def test_a_frequency_attack_aligns_a_weak_token_and_not_ours():
    persons = people()
    key = project_key(SECRET, PROJECT)
    family = [p.family_name for p in persons]
    census = sorted(Counter(family).items(), key=lambda item: (-item[1], item[0]))
    public = [name for name, _ in census]  # the census, say: a tie alphabetical, not the records'
    guessing = census[0][1] / len(family)  # the commonest name for everyone
    weak = [hmac.new(key, p.family_name.encode(), hashlib.sha256).hexdigest() for p in persons]
    assert rank_attack(weak, family, public) >= 3 * guessing  # the control: a weak design falls
    for kind in ("names_dob", "family_dob_postcode", "initial_family_dob_sex"):
        made = [(tokens(p, key).get(kind), p.family_name) for p in persons]
        ours = [(t, name) for t, name in made if t is not None]  # a record without a postcode
        values, names = [t for t, _ in ours], [n for _, n in ours]
        assert rank_attack(values, names, public) < 0.02, kind
        most = Counter(values).most_common(1)[0][1]
        assert most <= 3, kind  # no token value is frequent enough to stand out
