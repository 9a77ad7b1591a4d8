"""Spec: counts rounded to the profile's base with ties half-up; margins are sums of released cells.

| true count | opensafely (<= 7 redacted, base 5) | default (threshold 10, base 10) |
"""

from __future__ import annotations

import pandas as pd
import pytest

from fivesafes.sdc import Checker

SPEC = [
    # true count, opensafely, default (None = suppressed)
    (7, None, None),
    (8, 10, None),
    (12, 10, 10),
    (13, 15, 10),
    (15, 15, 20),  # tie: half-up
    (17, 15, 20),
    (25, 25, 30),  # half-to-even would give 20
    (1234, 1235, 1230),
]


def one_cell(n: int) -> pd.DataFrame:
    return pd.DataFrame({"region": "a", "sex": "f", "person_id": [f"p{i}" for i in range(n)]})


@pytest.mark.parametrize(("n", "opensafely", "default"), SPEC)
def test_rounding_spec(n, opensafely, default):
    for profile, expected in (("opensafely", opensafely), ("default", default)):
        out = Checker(profile).crosstab(one_cell(n), index="region", columns="sex")
        value = out.table.loc["a", "f"]
        assert (None if pd.isna(value) else int(value)) == expected, profile


def grid(counts: dict[tuple[str, str], int]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"region": r, "sex": c, "person_id": f"{r}{c}{k}"}
            for (r, c), n in counts.items()
            for k in range(n)
        ]
    )


def test_margins_are_sums_of_released_cells_not_of_true_values():
    df = grid({("a", "f"): 14, ("a", "m"): 14, ("b", "f"): 14, ("b", "m"): 16})
    out = Checker("default").crosstab(df, index="region", columns="sex", margins=True)
    t = out.table
    assert out.verdict == "pass"
    assert t.loc["a", "f"] == 10  # 14 -> 10
    assert t.loc["a", "All"] == 20  # true 28 would round to 30
    assert t.loc["All", "All"] == 50  # 10 + 10 + 10 + 20; true 58 would round to 60
    inner = t.drop(index="All", columns="All")
    assert (t.loc["All"].drop("All") == inner.sum()).all()


def test_opensafely_totals_are_from_redacted_and_rounded_values():
    counts = {("a", "f"): 7, ("a", "m"): 22, ("a", "x"): 41, ("b", "f"): 9, ("b", "m"): 33}
    df = grid({**counts, ("b", "x"): 52})
    out = Checker("opensafely").crosstab(df, index="region", columns="sex", margins=True)
    t = out.table
    assert pd.isna(t.loc["a", "f"])  # 7 <= 7: redacted
    assert t.loc["a", "x"] == 40
    assert t.loc["b", "x"] == 50
    assert t.loc["a", "All"] == 40  # only the released cell; never 70 or 7 + 22 + 41
    assert t.loc["All", "x"] == 90  # 40 + 50, not round(93) = 95
    assert pd.isna(t.loc["All", "f"])  # nothing released in the column: no total either


def test_magnitudes_are_not_rounded():
    df = one_cell(12).assign(cost=[float(i) for i in range(12)])
    out = Checker("default").pivot_table(
        df, index="region", columns="sex", values="cost", aggfunc="mean"
    )
    assert out.table.loc["a", "f"] == pytest.approx(5.5)
