"""Spec: dominance (NK, p%), negative and missing values in magnitude cells.

Each case is one cell of a pivot table of ``sum``; the contributions are per person. The
profiles below switch on one rule at a time (threshold 1) so each table shows one rule.
"""

from __future__ import annotations

import pandas as pd
import pytest

from fivesafes.sdc import Checker, Profile, ProfileError, get_profile
from fivesafes.sdc.rules.nk_dominance import dominated
from fivesafes.sdc.rules.p_percent import breaches_p_percent

NK_ONLY = Profile(name="nk", threshold=1, zeros_are_disclosive=False, nk_n=2, nk_k=0.90)
P_ONLY = Profile(name="p", threshold=1, zeros_are_disclosive=False, p_ratio=0.10)


def one_cell(contributions: list[float | None]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "region": "a",
            "sex": "f",
            "person_id": [f"p{i}" for i in range(len(contributions))],
            "cost": pd.array(contributions, dtype="Float64").astype(float),
        }
    )


def check(profile: Profile, contributions: list[float | None]):
    out = Checker(profile).pivot_table(
        one_cell(contributions), index="region", columns="sex", values="cost", aggfunc="sum"
    )
    return out.verdict, out.reasons.loc["a", "f"]


NK_SPEC = [
    # contributions, verdict, reasons  (n=2, k=0.90)
    ([50, 45, 1, 1, 1, 1, 1, 1, 1, 2], "fail", "nk-dominance"),  # 95/104 = 0.913
    ([10] * 10, "pass", ""),  # 20/100
    ([45, 45, 10], "pass", ""),  # 90/100 is not > 0.90
    ([45, 46, 9], "fail", "nk-dominance"),  # 91/100
    ([100], "fail", "nk-dominance"),  # one contributor: share 1
    ([0, 0, 0], "pass", ""),  # no total to dominate
]


@pytest.mark.parametrize(("contributions", "verdict", "reasons"), NK_SPEC)
def test_nk_rule(contributions, verdict, reasons):
    assert check(NK_ONLY, contributions) == (verdict, reasons)


NK_AT_LEAST = NK_ONLY.tightened(nk_comparison=">=")
NK_BOUNDARY_SPEC = [
    # contributions, `>` (default), `>=` (acro, ACRO 1.x)     (n=2, k=0.90)
    ([45, 45, 10], "pass", "fail"),  # 90/100: exactly k
    ([45, 45] + [1.25] * 8, "pass", "fail"),  # 90/100 over ten contributors
    ([45, 44, 11], "pass", "pass"),  # 89/100: below k
    ([45, 46, 9], "fail", "fail"),  # 91/100: above k
]


@pytest.mark.parametrize(("contributions", "above", "at_least"), NK_BOUNDARY_SPEC)
def test_a_share_of_exactly_k_fails_only_with_acros_operator(contributions, above, at_least):
    assert check(NK_ONLY, contributions)[0] == above
    assert check(NK_AT_LEAST, contributions)[0] == at_least


def test_the_acro_profile_uses_acros_nk_operator_and_default_keeps_its_own():
    """ACRO 1.0.2 ``sdcchecks.check_nk_dominance``: top-n sum / cell sum >= safe_nk_k fails."""
    assert get_profile("acro").nk_comparison == ">="
    assert get_profile("default").nk_comparison == ">"
    at_k = pd.DataFrame(
        {
            "region": "a",
            "person_id": [f"p{i}" for i in range(10)],
            "cost": [45.0, 45.0] + [1.25] * 8,  # ten contributors, share exactly 0.90
        }
    )
    acro = Checker("acro").pivot_table(at_k, index="region", values="cost", aggfunc="sum")
    default = Checker("default").pivot_table(at_k, index="region", values="cost", aggfunc="sum")
    assert acro.reasons.loc["a", "sum"] == "nk-dominance"
    assert "at least 90%" in acro.report()
    assert default.verdict == "pass"


def test_nk_comparison_can_be_tightened_but_not_loosened():
    assert get_profile("default").tightened(nk_comparison=">=").nk_comparison == ">="
    with pytest.raises(ProfileError, match="would loosen"):
        get_profile("acro").tightened(nk_comparison=">")


P_SPEC = [
    # contributions, verdict, reasons  (p = 10%)
    ([100, 50, 5], "fail", "p-percent"),  # 5 < 10
    ([100, 50, 10], "pass", ""),  # 10 < 10 is false
    ([100, 50, 4, 5], "fail", "p-percent"),  # the rest is 4 + 5 = 9 < 10
    ([100], "fail", "p-percent"),  # nothing hides the only contributor
    ([0, 0], "pass", ""),
]


@pytest.mark.parametrize(("contributions", "verdict", "reasons"), P_SPEC)
def test_p_percent_rule(contributions, verdict, reasons):
    assert check(P_ONLY, contributions) == (verdict, reasons)


def test_contributions_are_summed_per_person():
    # 10 records, but p0 owns 9 of them: one person holds 90 of 100
    df = one_cell([10.0] * 10).assign(person_id=["p0"] * 9 + ["p1"])
    out = Checker(NK_ONLY).pivot_table(
        df, index="region", columns="sex", values="cost", aggfunc="sum"
    )
    assert out.reasons.loc["a", "f"] == "nk-dominance"


def test_negative_values_ask_for_review_not_suppression():
    verdict, reasons = check(NK_ONLY, [10, 10, 10, -2, 10, 10, 10, 10, 10, 10])
    assert (verdict, reasons) == ("review", "negative")


def test_missing_values_are_reviewed_only_when_the_profile_checks_them():
    values = [10.0] * 10 + [None]
    assert check(NK_ONLY, values) == ("pass", "")
    assert check(NK_ONLY.tightened(check_missing_values=True), values) == (
        "review",
        "missing-values",
    )


def test_default_profile_applies_both_dominance_rules():
    default = get_profile("default").model_dump()
    verdict, reasons = check(Profile.model_validate({**default, "threshold": 1}), [100, 1])
    assert verdict == "fail"
    assert reasons == "nk-dominance; p-percent"


def test_rule_functions_directly():
    assert dominated((95.0, 5.0, 0.0), 2, 0.9)
    assert not dominated((45.0, 45.0, 10.0), 2, 0.9)
    assert dominated((45.0, 45.0, 10.0), 2, 0.9, ">=")
    assert not dominated((10.0, 10.0, 10.0), 2, 0.9)
    assert breaches_p_percent((100.0, 50.0, 5.0), 0.10)
    assert not breaches_p_percent((100.0, 50.0, 10.0), 0.10)
