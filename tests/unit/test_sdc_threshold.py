"""Spec: the minimum threshold counts distinct persons (contributors for magnitudes), not rows.

Default profile: threshold 10. One cell per case, so no secondary suppression is involved.
"""

from __future__ import annotations

import pandas as pd
import pytest

from fivesafes.sdc import Checker, Profile

DEFAULT = Checker("default")


def one_cell(persons: int, records_each: int, value: float = 5.0) -> pd.DataFrame:
    rows = [
        {"region": "a", "sex": "f", "person_id": f"p{p}", "value": value}
        for p in range(persons)
        for _ in range(records_each)
    ]
    return pd.DataFrame(rows, columns=["region", "sex", "person_id", "value"]).astype(
        {"value": float}
    )


COUNT_SPEC = [
    # persons, records per person, verdict, reasons of the cell
    (1, 12, "fail", "threshold"),  # 12 rows, but one person
    (5, 3, "fail", "threshold"),  # 15 rows, 5 persons
    (9, 1, "fail", "threshold"),
    (10, 1, "pass", ""),
    (10, 4, "pass", ""),
]


@pytest.mark.parametrize(("persons", "each", "verdict", "reasons"), COUNT_SPEC)
def test_count_threshold_is_in_distinct_persons(persons, each, verdict, reasons):
    out = DEFAULT.crosstab(one_cell(persons, each), index="region", columns="sex")
    assert out.verdict == verdict
    assert out.reasons.loc["a", "f"] == reasons
    if verdict == "fail":
        assert pd.isna(out.table.loc["a", "f"])


def test_the_released_count_is_the_records_rounded():
    out = DEFAULT.crosstab(one_cell(10, 4), index="region", columns="sex")
    assert out.table.loc["a", "f"] == 40


def test_without_a_person_column_each_record_is_a_person():
    out = DEFAULT.crosstab(one_cell(1, 12), index="region", columns="sex", person=None)
    assert out.verdict == "pass"
    assert out.counting_unit == "records"


MAGNITUDE_SPEC = [
    # persons with a value, persons with a missing value, verdict, reasons
    (9, 3, "fail", "threshold"),  # 12 persons, only 9 contribute to the mean
    (10, 2, "pass", ""),
    (10, 0, "pass", ""),
]


@pytest.mark.parametrize(("present", "absent", "verdict", "reasons"), MAGNITUDE_SPEC)
def test_magnitude_threshold_counts_non_missing_contributors(present, absent, verdict, reasons):
    df = pd.concat(
        [
            one_cell(present, 1),
            one_cell(absent, 1, float("nan")).assign(person_id=lambda d: "m" + d["person_id"]),
        ]
    )
    out = DEFAULT.pivot_table(df, index="region", columns="sex", values="value", aggfunc="mean")
    assert out.verdict == verdict
    assert out.reasons.loc["a", "f"] == reasons


def test_a_threshold_of_three_lets_three_persons_through():
    profile = Profile(name="three", threshold=3, zeros_are_disclosive=False)
    out = Checker(profile).crosstab(one_cell(3, 1), index="region", columns="sex")
    assert out.verdict == "pass"
    assert out.table.loc["a", "f"] == 3
