"""The matching rule in DuckDB (``linkage.match_sql``) gives exactly the pairs of the rule in
Python (``linkage.match``): a differential test.

* each clause of the rule as a tiny table and its verdict, both implementations held to it:
  primary, two secondary tokens, a primary outranking secondary ones, ties on either side,
  one-to-many collisions, no fall-back to a second best, tokens compared within a kind only;
* synthetic identities with a planted truth (``linkage.synth``, tokens under a project's key):
  the same pairs, with every token, the primary alone and the secondary ones alone; and from
  rows of (ref, kind, token) as the hub keeps an upload;
* 300 random small cases whose token values are drawn from a handful, so that collisions and
  ties are common: the same pairs in every one;
* under a memory limit far smaller than the matching needs, DuckDB spills to its temporary
  folder and the pairs are still the planted ones.
"""

from __future__ import annotations

import random
from datetime import date

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from fivesafes.linkage.identifiers import identity
from fivesafes.linkage.kinds import KINDS, PRIMARY, SECONDARY
from fivesafes.linkage.match import match_tokens
from fivesafes.linkage.match_sql import (
    Spill,
    connect,
    match_relations,
    match_tokens_sql,
    parquet,
    records_from_rows,
)
from fivesafes.linkage.synth import CdmPerson, synthesise
from fivesafes.linkage.tokens import project_key, tokens

TODAY = date(2026, 12, 7)
NAMES, FAMILY, GIVEN, INITIAL = SECONDARY


@pytest.fixture
def spill(tmp_path):
    return Spill(tmp_path / "spill", memory_limit="500MB", threads=2)


def both(left, right, spill, **options) -> set:
    """The pairs of both implementations, which must be the same."""
    python = set(match_tokens(left, right, **options))
    sql = match_tokens_sql(left, right, spill, **options)
    assert len(sql) == len(set(sql))
    assert set(sql) == python, (sorted(python), sql)
    return python


def rec(**made: str) -> dict[str, str]:
    """A record's tokens by kind; ``nhs`` for the primary token."""
    return {PRIMARY if k == "nhs" else k: v for k, v in made.items()}


# (case, left, right, the pairs linked)
SPEC = [
    ("equal primary tokens link",
     {1: rec(nhs="p1")}, {9: rec(nhs="p1")}, {(1, 9)}),
    ("two equal secondary tokens link",
     {1: rec(**{NAMES: "n", INITIAL: "i"})}, {9: rec(**{NAMES: "n", INITIAL: "i"})}, {(1, 9)}),
    ("one equal secondary token does not",
     {1: rec(nhs="p1", **{NAMES: "n"})}, {9: rec(nhs="p2", **{NAMES: "n"})}, set()),
    ("a token equals only a token of its own kind",
     {1: rec(**{NAMES: "x", FAMILY: "y"})}, {9: rec(**{GIVEN: "x", INITIAL: "y"})}, set()),
    ("a primary match outranks four secondary ones",
     {1: rec(nhs="p1", **{NAMES: "n", FAMILY: "f", GIVEN: "g", INITIAL: "i"})},
     {8: rec(nhs="p1"), 9: rec(nhs="p9", **{NAMES: "n", FAMILY: "f", GIVEN: "g", INITIAL: "i"})},
     {(1, 8)}),
    ("a tie on the left links neither",
     {1: rec(**{NAMES: "n", INITIAL: "i"})},
     {8: rec(**{NAMES: "n", INITIAL: "i"}), 9: rec(**{NAMES: "n", INITIAL: "i"})}, set()),
    ("a tie on the right links neither",
     {1: rec(**{NAMES: "n", INITIAL: "i"}), 2: rec(**{NAMES: "n", INITIAL: "i"})},
     {9: rec(**{NAMES: "n", INITIAL: "i"})}, set()),
    ("a tie at the top links nothing, though a lower pair is alone",
     {1: rec(**{NAMES: "n", FAMILY: "f", INITIAL: "i"})},
     {7: rec(**{NAMES: "n", FAMILY: "f", INITIAL: "i"}),
      8: rec(**{NAMES: "n", FAMILY: "f", INITIAL: "i"}), 9: rec(**{NAMES: "n", FAMILY: "f"})},
     set()),
    ("two equal primary tokens: the secondary ones decide",
     {1: rec(nhs="p", **{NAMES: "n"})}, {8: rec(nhs="p"), 9: rec(nhs="p", **{NAMES: "n"})},
     {(1, 9)}),
    ("two equal primary tokens and nothing else: a tie",
     {1: rec(nhs="p")}, {8: rec(nhs="p"), 9: rec(nhs="p")}, set()),
    ("one to many: the right record's best wins, the other left record gets nothing",
     {1: rec(**{NAMES: "n", FAMILY: "f", GIVEN: "g"}), 2: rec(**{NAMES: "n", FAMILY: "f"})},
     {9: rec(**{NAMES: "n", FAMILY: "f", GIVEN: "g"})}, {(1, 9)}),
    ("no fall-back: a record whose best prefers another is not linked to its second best",
     {1: rec(**{NAMES: "n", FAMILY: "f", GIVEN: "g"}),
      2: rec(nhs="p", **{INITIAL: "i"})},
     {8: rec(nhs="p", **{NAMES: "n", FAMILY: "f", GIVEN: "g", INITIAL: "i"}),
      9: rec(**{NAMES: "n", FAMILY: "f"})},
     {(2, 8)}),
    ("a chain: each record linked once, the best pairs first",
     {1: rec(nhs="a"), 2: rec(nhs="b", **{NAMES: "n", FAMILY: "f"})},
     {8: rec(nhs="a", **{NAMES: "n", FAMILY: "f"}), 9: rec(nhs="b")},
     {(1, 8), (2, 9)}),
    ("records without tokens link nothing",
     {1: {}, 2: rec(nhs="p")}, {9: {}}, set()),
]  # fmt: skip


@pytest.mark.parametrize(("case", "left", "right", "linked"), SPEC, ids=[s[0] for s in SPEC])
def test_each_clause_of_the_rule(case, left, right, linked, spill):
    assert both(left, right, spill) == linked, case


def test_agreeing_and_ids_of_text(spill):
    left = {
        "a": rec(**{NAMES: "n", FAMILY: "f"}),
        "b": rec(**{NAMES: "m", FAMILY: "g", GIVEN: "h"}),
    }
    right = {
        "x": rec(**{NAMES: "n", FAMILY: "f"}),
        "y": rec(**{NAMES: "m", FAMILY: "g", GIVEN: "h"}),
    }
    assert both(left, right, spill) == {("a", "x"), ("b", "y")}
    assert both(left, right, spill, agreeing=3) == {("b", "y")}
    assert match_tokens_sql({}, right, spill) == [] == match_tokens({}, right)


def cdm(seed: int, n: int, start: int) -> list[CdmPerson]:
    rng = np.random.default_rng(seed)
    return [CdmPerson(start + i, str(rng.choice(["F", "M"])), int(rng.integers(1930, 2005)))
            for i in range(n)]  # fmt: skip


@pytest.fixture(scope="module")
def synthetic():
    """Two hospitals of 3,000 persons, 900 shared, tokens under a project's key."""
    records = synthesise({"a": cdm(1, 3000, 1), "b": cdm(2, 3000, 100_001)}, overlap=0.3,
                         seed=11)  # fmt: skip
    key = project_key(bytes(range(32)), "p_sql")
    sides: dict[str, dict[int, dict[str, str]]] = {"a": {}, "b": {}}
    for r in records:
        person = identity({"person_id": str(r.person_id), "nhs_number": r.nhs_number,
                           "given_name": r.given_name, "family_name": r.family_name,
                           "date_of_birth": r.date_of_birth, "sex": r.sex,
                           "postcode": r.postcode}, TODAY)  # fmt: skip
        sides[r.site][r.person_id] = tokens(person, key)
    first = {r.true_person: r.person_id for r in records if r.site == "a"}
    truth = {(first[r.true_person], r.person_id) for r in records
             if r.site == "b" and r.true_person in first}  # fmt: skip
    return sides["a"], sides["b"], truth


def only(side, kinds):
    return {ref: {k: v for k, v in made.items() if k in kinds} for ref, made in side.items()}


@pytest.mark.parametrize("kinds", [KINDS, (PRIMARY,), SECONDARY], ids=["all", "primary", "rest"])
def test_synthetic_identities_give_the_same_pairs(synthetic, kinds, spill):
    left, right, truth = synthetic
    found = both(only(left, kinds), only(right, kinds), spill)
    hits = len(found & truth)
    assert hits >= 0.85 * len(truth) and hits >= 0.99 * len(found)  # the rule does link


def test_from_rows_of_ref_kind_token_as_the_hub_keeps_them(synthetic, spill):
    left, right, _ = synthetic
    con = connect(spill)
    for name, side in (("left_rows", left), ("right_rows", right)):
        rows = [(r, k, t) for r, made in side.items() for k, t in made.items()]
        con.register(name, pa.table({"ref": [r for r, _, _ in rows],
                                     "kind": [k for _, k, _ in rows],
                                     "token": [t for _, _, t in rows]}))  # fmt: skip
    done = match_relations(con, records_from_rows("left_rows"), records_from_rows("right_rows"))
    found = set(con.execute("SELECT left_ref, right_ref FROM linked").fetchall())
    con.close()
    assert found == set(match_tokens(left, right)) and done.linked == len(found)
    assert done.candidates >= done.scored >= done.linked > 0


def test_random_collisions_and_ties_give_the_same_pairs(spill):
    """1,000 small cases, each with token values drawn from a few; matched one by one in
    Python, and all at once in DuckDB (each case's values carry its number, so no token is
    equal across cases and the pairs of all are the union of each case's)."""
    rng = random.Random(18)
    left: dict[int, dict[str, str]] = {}
    right: dict[int, dict[str, str]] = {}
    expected: set[tuple[int, int]] = set()
    ties = 0
    for case in range(1000):
        values = rng.randrange(2, 6)  # few values: many records share tokens

        def side(n: int, start: int, case=case, values=values) -> dict[int, dict[str, str]]:
            return {start + i: {k: f"{case}:{k[0]}{rng.randrange(values)}" for k in KINDS
                                if rng.random() < 0.75} for i in range(n)}  # fmt: skip

        one, other = (
            side(rng.randrange(1, 10), 100 * case),
            side(rng.randrange(1, 10), 10**6 + 100 * case),
        )
        linked = set(match_tokens(one, other))
        # left records with a pair that passes the rule, yet linked to nothing: ties, or a
        # best that is another's
        passing = {a for a in one for b in other if _passes(one[a], other[b])}
        ties += len(passing - {a for a, _ in linked})
        expected |= linked
        left |= one
        right |= other
    assert both(left, right, spill) == expected
    assert ties > 300 and len(expected) > 1000  # the cases did exercise the rule's corners


def _passes(a: dict[str, str], b: dict[str, str]) -> bool:
    same = {k for k in a if b.get(k) == a[k]}
    return PRIMARY in same or len(same - {PRIMARY}) >= 2


def test_spills_to_disk_under_a_small_memory_limit(tmp_path):
    """1,000,000 x 1,000,000 records in Parquet files (a quarter of the right's are persons of
    the left, half of those without a primary token), under a 50 MB limit: DuckDB spills to its
    temporary folder, and needs to. Tokens here are whole numbers (person x 5 + kind), unique
    to a person and kind as the real ones are, and cheap to make."""
    n = 1_000_000
    columns = ", ".join(f"p * 5 + {i} AS {k}" for i, k in enumerate(KINDS))
    right = columns.replace(
        f"p * 5 + 0 AS {PRIMARY}", f"IF(p < {n // 8}, NULL, p * 5) AS {PRIMARY}"
    )
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT p AS ref, {columns} FROM range({n}) t(p)) "
                    f"TO '{tmp_path / 'l.parquet'}'")  # fmt: skip
        con.execute(f"COPY (SELECT {n} + j AS ref, {right} FROM "
                    f"(SELECT j, IF(j < {n // 4}, j, {n} + j) AS p FROM range({n}) t(j))) "
                    f"TO '{tmp_path / 'r.parquet'}'")  # fmt: skip
    sides = parquet(tmp_path / "l.parquet"), parquet(tmp_path / "r.parquet")
    spill = Spill(tmp_path / "spill", memory_limit="50MB", threads=2)

    con = connect(spill)
    done = match_relations(con, *sides)
    wrong = con.execute(f"SELECT count(*) FROM linked WHERE right_ref <> left_ref + {n}").fetchone()
    con.close()
    assert done.linked == n // 4 and wrong == (0,)
    assert done.scored == n // 4 and done.candidates == 5 * n // 4 - n // 8

    # the control: without its temporary folder, DuckDB cannot keep within the limit
    con = connect(spill)
    con.execute("SET temp_directory = ''")
    with pytest.raises(duckdb.OutOfMemoryException):
        match_relations(con, *sides)
    con.close()
