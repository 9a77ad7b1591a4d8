"""Spec: minima and maxima only under the profile's rule; proportions judged on their counts."""

from __future__ import annotations

import pandas as pd
import pytest

from fivesafes.sdc import Checker, TableSpecError, get_profile


def people(counts: dict[tuple[str, str], int]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"region": r, "sex": c, "person_id": f"{r}{c}{k}", "age": float(20 + k)}
            for (r, c), n in counts.items()
            for k in range(n)
        ]
    )


BIG = {("a", "f"): 30, ("a", "m"): 40, ("b", "f"): 50, ("b", "m"): 60}


@pytest.mark.parametrize("aggfunc", ["min", "max"])
def test_min_and_max_are_refused_by_default(aggfunc):
    out = Checker("default").pivot_table(
        people(BIG), index="region", columns="sex", values="age", aggfunc=aggfunc
    )
    assert out.verdict == "fail"
    assert out.table.isna().all().all()  # nothing of it may leave
    assert set(out.reasons.to_numpy().ravel()) == {"min-max"}
    assert "refuses" in out.report()


def test_a_profile_that_allows_max_still_applies_the_threshold():
    base = get_profile("default").model_dump()
    profile = get_profile("default").model_validate({**base, "allow_min_max": True})
    out = Checker(profile).pivot_table(
        people({**BIG, ("a", "f"): 4, ("a", "x"): 30, ("b", "x"): 40}),
        index="region",
        columns="sex",
        values="age",
        aggfunc="max",
    )
    assert out.verdict == "fail"
    assert out.reasons.loc["a", "f"] == "threshold"
    assert out.table.loc["b", "m"] == 79.0  # ages 20..79: the cell maximum is released


def test_allowing_min_max_is_a_loosening():
    with pytest.raises(ValueError, match="loosen"):
        get_profile("default").tightened(allow_min_max=True)


def test_shares_are_judged_on_the_counts_behind_them():
    # 40 of 40 in row a looks like a safe 100%, but row b's 4 persons must be protected
    counts = {
        ("a", "f"): 20,
        ("a", "m"): 20,
        ("b", "f"): 4,
        ("b", "m"): 36,
        ("c", "f"): 30,
        ("c", "m"): 30,
    }
    out = Checker("default").crosstab(
        people(counts), index="region", columns="sex", normalize="index"
    )
    assert out.verdict == "fail"
    assert out.reasons.loc["b", "f"] == "threshold"
    assert pd.isna(out.table.loc["b", "f"])


def test_shares_are_computed_from_released_counts():
    counts = {("a", "f"): 14, ("a", "m"): 26}
    out = Checker("default").crosstab(
        people(counts), index="region", columns="sex", normalize="index"
    )
    # released 10 and 30 (not 14 and 26): shares 0.25 and 0.75
    assert out.table.loc["a", "f"] == pytest.approx(0.25)
    assert out.table.loc["a", "m"] == pytest.approx(0.75)


def test_normalize_all():
    out = Checker("default").crosstab(people(BIG), index="region", columns="sex", normalize=True)
    assert float(out.table.sum().sum()) == pytest.approx(1.0)


def test_normalize_on_a_magnitude_table_is_refused():
    with pytest.raises(TableSpecError):
        Checker().crosstab(
            people(BIG), index="region", columns="sex", values="age", aggfunc="mean", normalize=True
        )
