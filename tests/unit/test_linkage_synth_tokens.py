"""Synthetic identities with a planted overlap (``linkage.synth``) and linkage tokens
(``linkage.tokens``, ``linkage.match``) tested against that ground truth.

* the overlap is as planted: a share of the second hospital's persons are persons of the first,
  of the same sex and year of birth; each planted error occurs at its rate (binomial bounds)
  and every record passes the identity checks; the same seed gives the same records;
* names are drawn as ``linkage.names`` says: a long tail of family names (the commonest about
  1% of people, half of people beyond the commonest 1,000 or so), given names more
  concentrated; every name of the lists passes the identity checks;
* tokens under one project's key link the two hospitals' records with precision >= 0.999 and
  recall >= 0.99 against the truth; tokens alone of each kind are stated; a record without an
  NHS number is still linked on its other tokens;
* another project's key gives other tokens (nothing links across projects); the same secret
  gives the same fingerprint, another secret another; the secret's file is its owner's only.
"""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date

import numpy as np
import pytest

from fivesafes.linkage.identifiers import identity
from fivesafes.linkage.identifiers import name as checked
from fivesafes.linkage.match import match_tokens
from fivesafes.linkage.names import FAMILY, FEMALE, MALE
from fivesafes.linkage.synth import ERRORS, CdmPerson, synthesise, write
from fivesafes.linkage.tokens import (
    SecretError,
    fingerprint,
    make_secret,
    project_key,
    read_secret,
    tokens,
)

TODAY = date(2026, 12, 7)
OVERLAP = 0.3


def cdm(seed: int, n: int, start: int) -> list[CdmPerson]:
    rng = np.random.default_rng(seed)
    return [CdmPerson(start + i, str(rng.choice(["F", "M"])), int(rng.integers(1930, 2005)))
            for i in range(n)]  # fmt: skip


@pytest.fixture(scope="module")
def records():
    sites = {"northfield": cdm(1, 4000, 1), "lakeside": cdm(2, 4000, 100_001)}
    return synthesise(sites, overlap=OVERLAP, seed=7)


def truth_pairs(records) -> set[tuple[int, int]]:
    first = {r.true_person: r.person_id for r in records if r.site == "northfield"}
    return {(first[r.true_person], r.person_id) for r in records
            if r.site == "lakeside" and r.true_person in first}  # fmt: skip


def test_the_overlap_and_the_errors_are_as_planted(records):
    pairs = truth_pairs(records)
    assert len(pairs) == OVERLAP * 4000
    by_id = {(r.site, r.person_id): r for r in records}
    for left, right in pairs:
        a, b = by_id[("northfield", left)], by_id[("lakeside", right)]
        assert (a.sex, a.date_of_birth[:4]) == (b.sex, b.date_of_birth[:4])
    again = [r for r in records if r.site == "lakeside" and (r.true_person in
             {by_id[("northfield", x)].true_person for x, _ in pairs})]  # fmt: skip
    counts = Counter(e for r in again for e in r.errors)
    for error in ("typo", "swapped_names", "moved"):
        n, rate = len(again), ERRORS[error]
        spread = 4 * (n * rate * (1 - rate)) ** 0.5
        assert abs(counts[error] - n * rate) <= spread, error
    missing = sum("no_nhs_number" in r.errors for r in records)
    n, rate = len(records), ERRORS["no_nhs_number"]
    assert abs(missing - n * rate) <= 4 * (n * rate * (1 - rate)) ** 0.5
    for r in records:
        identity({"person_id": str(r.person_id), "nhs_number": r.nhs_number,
                  "given_name": r.given_name, "family_name": r.family_name,
                  "date_of_birth": r.date_of_birth, "sex": r.sex, "postcode": r.postcode},
                 TODAY)  # fmt: skip
    numbers = [r.nhs_number for r in records if r.nhs_number and r.site == "northfield"]
    assert len(numbers) == len(set(numbers)) and all(n.startswith("999") for n in numbers)


def test_the_same_seed_writes_the_same_files(records, tmp_path):
    sites = {"northfield": cdm(1, 4000, 1), "lakeside": cdm(2, 4000, 100_001)}
    written = write(synthesise(sites, overlap=OVERLAP, seed=7), tmp_path / "again")
    first = write(records, tmp_path / "first")
    for name in ("northfield", "lakeside", "truth"):
        assert written[name].read_bytes() == first[name].read_bytes()
    with first["truth"].open() as handle:
        assert next(csv.reader(handle)) == ["site", "person_id", "true_person", "errors"]


def test_names_are_as_varied_as_the_names_module_says(records):
    family = FAMILY.cumulative
    assert len(FAMILY.names) > 10_000 and len(set(FAMILY.names)) == len(FAMILY.names)
    assert FAMILY.names[0] == "Smith" and 0.008 <= family[0] <= 0.012
    assert 0.05 <= family[9] <= 0.07 and 0.25 <= family[199] <= 0.32  # ten; 200 commonest
    assert 0.45 <= family[999] <= 0.55 and family[1499] <= 0.6  # half beyond 1,000 or so
    for given in (FEMALE, MALE):
        assert len(given.names) > 1000 and 0.02 <= given.cumulative[0] <= 0.04
        assert 0.45 <= given.cumulative[99] <= 0.6 and given.cumulative[499] >= 0.75
    for listed in (FAMILY, FEMALE, MALE):  # each name passes the checks, and is one name there
        assert len({checked(written, "name") for written in listed.names}) == len(listed.names)
    # drawn: among 4,000 persons of a hospital, SMITH about as often as its share says
    drawn = Counter(r.family_name for r in records if r.site == "northfield")
    n, share = drawn.total(), family[0]
    assert abs(drawn["Smith"] - n * share) <= 4 * (n * share * (1 - share)) ** 0.5
    assert len(drawn) > 2000  # distinct family names among 4,000 persons


def site_tokens(records, site: str, key: bytes, kinds=None) -> dict[int, dict[str, str]]:
    made = {}
    for r in records:
        if r.site != site:
            continue
        person = identity({"person_id": str(r.person_id), "nhs_number": r.nhs_number,
                           "given_name": r.given_name, "family_name": r.family_name,
                           "date_of_birth": r.date_of_birth, "sex": r.sex,
                           "postcode": r.postcode}, TODAY)  # fmt: skip
        found = tokens(person, key)
        made[r.person_id] = {k: v for k, v in found.items() if kinds is None or k in kinds}
    return made


def quality(found, truth) -> tuple[float, float]:
    hits = len(set(found) & truth)
    return hits / max(len(found), 1), hits / len(truth)


def test_tokens_link_the_planted_pairs(records):
    key = project_key(bytes(range(32)), "p_linkage")
    left, right = site_tokens(records, "northfield", key), site_tokens(records, "lakeside", key)
    truth = truth_pairs(records)
    precision, recall = quality(match_tokens(left, right), truth)
    assert precision >= 0.999 and recall >= 0.99, (precision, recall)
    # the primary token alone misses those without an NHS number at either hospital
    primary = match_tokens(site_tokens(records, "northfield", key, {"nhs_dob"}),
                           site_tokens(records, "lakeside", key, {"nhs_dob"}))  # fmt: skip
    p_precision, p_recall = quality(primary, truth)
    assert p_precision >= 0.999 and p_recall < recall
    by_id = {(r.site, r.person_id): r for r in records}
    without = {(a, b) for a, b in truth if not by_id[("lakeside", b)].nhs_number}
    assert without and len(without & set(match_tokens(left, right))) >= 0.85 * len(without)


def test_tokens_differ_from_project_to_project_and_secret_to_secret(records, tmp_path):
    secret = bytes(range(32))
    one, two = project_key(secret, "p_one"), project_key(secret, "p_two")
    a, b = site_tokens(records, "northfield", one), site_tokens(records, "lakeside", two)
    assert match_tokens(a, b) == []  # nothing links across projects
    assert not {t for m in a.values() for t in m.values()} & {
        t for m in b.values() for t in m.values()}  # fmt: skip
    assert fingerprint(one) == fingerprint(project_key(secret, "p_one")) != fingerprint(two)
    assert fingerprint(project_key(bytes(32), "p_one")) != fingerprint(one)

    path = tmp_path / "linkage.secret"
    make_secret(path)
    assert len(read_secret(path)) == 32 and oct(path.stat().st_mode)[-3:] == "600"
    with pytest.raises(SecretError, match="never overwritten"):
        make_secret(path)
    path.chmod(0o644)
    with pytest.raises(SecretError, match="owner only"):
        read_secret(path)


def test_tokens_on_febrl4_are_precise_and_miss_what_is_corrupted_in_every_token():
    """FEBRL4's duplicates carry several errors each (a typo in a name and in the date of
    birth, a number changed): exact tokens link none wrongly and miss those; the fuzzy
    Bloom-filter encodings of the next part are for them (docs/linkage.md)."""
    from febrl import records, true_links

    key = project_key(bytes(32), "p_febrl")
    left, right = records("a"), records("b")
    truth = true_links(left, right)
    assert len(truth) == 5000

    def made(found, kinds=None):
        return {rid: {k: v for k, v in tokens(p, key).items() if kinds is None or k in kinds}
                for rid, p in found.items() if p is not None}  # fmt: skip

    precision, recall = quality(match_tokens(made(left), made(right)), truth)
    assert precision >= 0.999 and 0.85 <= recall < 0.99, (precision, recall)
    primary = match_tokens(made(left, {"nhs_dob"}), made(right, {"nhs_dob"}))
    p_precision, p_recall = quality(primary, truth)
    assert p_precision >= 0.999 and p_recall < recall
