"""Profiles: exact numbers of each preset, frozen, only tightened, and never shared state."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from fivesafes.sdc import PROFILES, Checker, Profile, ProfileError, get_profile
from fivesafes.sdc.rules import TABLE_RULES

DOC = Path(__file__).resolve().parents[2] / "docs" / "disclosure-control.md"

PRESETS = [
    # name, threshold, zeros, nk_n, nk_k, p, dof, base, subset, glm
    ("default", 10, False, 2, 0.90, 0.10, 10, 10, None, None),
    ("acro", 10, True, 2, 0.90, 0.10, 10, 1, None, None),
    ("opensafely", 8, True, 2, None, None, None, 5, None, None),
    ("datashield", 3, False, 2, None, None, None, 1, 3, 0.33),
]


@pytest.mark.parametrize(
    ("name", "threshold", "zeros", "n", "k", "p", "dof", "base", "subset", "glm"), PRESETS
)
def test_preset_numbers(name, threshold, zeros, n, k, p, dof, base, subset, glm):
    profile = get_profile(name)
    assert (profile.threshold, profile.zeros_are_disclosive) == (threshold, zeros)
    assert (profile.nk_n, profile.nk_k, profile.p_ratio) == (n, k, p)
    assert (profile.dof_threshold, profile.rounding_base) == (dof, base)
    assert (profile.subset_threshold, profile.glm_ratio) == (subset, glm)
    assert profile.allow_min_max is False
    assert profile.rounding_ties == "half-up"
    assert profile.source


def test_presets_are_frozen():
    with pytest.raises(ValidationError, match="frozen"):
        PROFILES["default"].threshold = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        PROFILES["mine"] = PROFILES["default"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"threshold": 5}, "threshold"),
        ({"nk_k": 0.95}, "nk_k"),
        ({"p_ratio": 0.05}, "p_ratio"),
        ({"p_ratio": None}, "p_ratio"),
        ({"zeros_are_disclosive": False}, "zeros_are_disclosive"),
        ({"rounding_base": 5}, "rounding_base"),
        ({"rounding_base": 15}, "rounding_base"),  # not a multiple: not simply coarser
        ({"nk_n": 1}, "nk_n"),
        ({"dof_threshold": None}, "dof_threshold"),
    ],
)
def test_loosening_is_refused_with_a_clear_error(change, field):
    profile = get_profile("default" if field == "rounding_base" else "acro")
    with pytest.raises(ProfileError, match=f"{field}=.*would loosen profile '{profile.name}'"):
        profile.tightened(**change)


def test_tightening_is_allowed_and_leaves_the_preset_alone():
    stricter = get_profile("default").tightened(threshold=20, rounding_base=20, nk_k=0.8)
    assert (stricter.threshold, stricter.rounding_base, stricter.nk_k) == (20, 20, 0.8)
    assert stricter.name == "default (tightened)"
    assert get_profile("default").threshold == 10
    tighter_ds = get_profile("datashield").tightened(nk_k=0.9, p_ratio=0.1, glm_ratio=0.2)
    assert tighter_ds.nk_k == 0.9


def test_names_and_unknown_settings_cannot_be_changed_by_tightening():
    with pytest.raises(ProfileError):
        get_profile("default").tightened(name="acro")
    with pytest.raises(ProfileError):
        get_profile("default").tightened(safe_threshold=100)


def test_unknown_profile():
    with pytest.raises(ProfileError, match="known profiles: acro, datashield"):
        Checker("lenient")


def test_two_checkers_in_one_process_never_interfere():
    df = pd.DataFrame({"region": "a", "sex": "f", "person_id": [f"p{i}" for i in range(5)]})
    strict, lenient = Checker("default"), Checker("datashield")
    first = strict.crosstab(df, index="region", columns="sex")
    second = lenient.crosstab(df, index="region", columns="sex")
    again = strict.crosstab(df, index="region", columns="sex")
    assert (first.verdict, second.verdict, again.verdict) == ("fail", "pass", "fail")
    assert strict.profile is get_profile("default")
    assert lenient.profile.threshold == 3
    tightened = Checker(strict.profile.tightened(threshold=50))
    assert strict.profile.threshold == 10
    assert tightened.profile.threshold == 50


def test_every_setting_preset_and_rule_is_documented():
    text = DOC.read_text()
    for field in Profile.model_fields:
        assert f"`{field}`" in text, f"{field} undocumented"
    for name in PROFILES:
        assert f"`{name}`" in text, f"profile {name} undocumented"
    for rule in TABLE_RULES:
        assert f"`{rule.name}`" in text, f"rule {rule.name} undocumented"
    assert "`secondary`" in text
