"""Site profiles give visibly different populations (unit)."""

import numpy as np
import pytest

from fivesafes.data.synth import SITE_PROFILES, SiteProfile
from fivesafes.data.synth.generator import persons_in_chunk
from fivesafes.data.synth.population import CURRENT
from fivesafes.data.synth.sites import resolve_site

N = 20_000


@pytest.fixture(scope="module")
def populations():
    return {name: persons_in_chunk(5, name, 0, N) for name in SITE_PROFILES}


def test_the_demo_sites_exist():
    assert {"default", "northfield", "riverside", "lakeside"} <= set(SITE_PROFILES)


def test_mean_age_differs(populations):
    age = {name: p.age.mean() for name, p in populations.items()}
    assert age["northfield"] > age["default"] + 8
    assert age["riverside"] < age["default"] - 8
    for name, profile in SITE_PROFILES.items():
        assert age[name] == pytest.approx(profile.age_mean, abs=2.0)


def test_smoking_prevalence_differs(populations):
    current = {name: (p.smoking == CURRENT).mean() for name, p in populations.items()}
    assert current["northfield"] > current["default"] + 0.07
    for name, profile in SITE_PROFILES.items():
        assert current[name] == pytest.approx(profile.current_smoker_share, abs=0.015)


def test_lakeside_has_more_women(populations):
    female = {name: p.female.mean() for name, p in populations.items()}
    assert female["lakeside"] == pytest.approx(0.62, abs=0.015)
    assert female["lakeside"] > max(v for k, v in female.items() if k != "lakeside") + 0.08


def test_ages_stay_within_the_profile_bounds(populations):
    for name, p in populations.items():
        profile = SITE_PROFILES[name]
        assert profile.age_min <= p.age.min()
        assert p.age.max() <= profile.age_max
        # truncation redraws: no pile-up at the lower bound
        assert (p.age == profile.age_min).mean() < 0.02


def test_more_lung_cancer_where_older_and_smoking(populations):
    rate = {name: p.has["lung_cancer"].mean() for name, p in populations.items()}
    assert rate["northfield"] > 1.5 * rate["default"]
    assert rate["default"] > 1.5 * rate["riverside"]


def test_resolve_site_by_name_or_profile():
    custom = SiteProfile(name="custom", description="test")
    assert resolve_site(custom) is custom
    assert resolve_site("northfield") is SITE_PROFILES["northfield"]
    with pytest.raises(ValueError, match="unknown site profile 'nowhere'"):
        resolve_site("nowhere")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"female_share": 1.2}, "female_share must be within"),
        ({"current_smoker_share": 0.6, "former_smoker_share": 0.5}, "smoker shares"),
        ({"black_share": 0.7, "asian_share": 0.4}, "race shares"),
        ({"age_min": 80, "age_max": 30}, "age_min < age_max"),
        ({"bmi_sd": 0.0}, "must be positive"),
    ],
)
def test_invalid_profiles_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        SiteProfile(name="bad", description="bad", **bad)


def test_a_site_is_deterministic_and_seeds_differ():
    a = persons_in_chunk(1, "riverside", 0, 1000)
    b = persons_in_chunk(1, "riverside", 0, 1000)
    other = persons_in_chunk(2, "riverside", 0, 1000)
    assert np.array_equal(a.bmi, b.bmi)
    assert not np.array_equal(a.bmi, other.bmi)
