"""Spec: an empty cell is disclosive or not according to the profile, and that decides the verdict.

| region | x  | y  |
| ------ | -- | -- |
| a      | 0  | 20 |
| b      | 30 | 40 |
"""

from __future__ import annotations

import pandas as pd
import pytest

from fivesafes.sdc import Checker, get_profile


def table_with_a_zero() -> pd.DataFrame:
    counts = {("a", "y"): 20, ("b", "x"): 30, ("b", "y"): 40}
    return pd.DataFrame(
        [
            {"region": r, "sex": c, "person_id": f"{r}{c}{k}"}
            for (r, c), n in counts.items()
            for k in range(n)
        ]
    )


@pytest.mark.parametrize(
    ("zeros_are_disclosive", "verdict", "cell", "reason"),
    [
        (False, "pass", 0, ""),
        (True, "fail", None, "zeros"),
    ],
)
def test_zeros_setting_changes_the_verdict(zeros_are_disclosive, verdict, cell, reason):
    base = get_profile("datashield")  # zeros not disclosive, no rounding
    profile = base.tightened(zeros_are_disclosive=True) if zeros_are_disclosive else base
    out = Checker(profile).crosstab(table_with_a_zero(), index="region", columns="sex")
    assert out.verdict == verdict
    assert out.reasons.loc["a", "x"] == reason
    if cell is None:
        assert pd.isna(out.table.loc["a", "x"])
        # a zero suppressed alone could be read back from the margins: complements go too
        assert out.table.isna().sum().sum() == 4
    else:
        assert out.table.loc["a", "x"] == cell


def test_default_releases_zeros_and_acro_suppresses_them():
    df = table_with_a_zero()
    assert Checker("default").crosstab(df, index="region", columns="sex").verdict == "pass"
    acro = Checker("acro").crosstab(df, index="region", columns="sex")
    assert acro.verdict == "fail"
    assert acro.reasons.loc["a", "x"] == "zeros"


def test_a_cell_with_records_is_never_a_zero():
    df = table_with_a_zero()
    out = Checker("acro").crosstab(df, index="region", columns="sex")
    assert "zeros" not in out.reasons.loc["b", "x"]
