"""Site profiles: the population each synthetic hospital serves.

A profile changes *who* is in a site's data (age, sex, smoking, BMI, ethnicity, how
often people attend). It never changes the planted outcome models in
:mod:`fivesafes.data.synth.effects`: those are the same at every site, so a pooled or
federated analysis over several sites recovers exactly the planted parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["SITE_PROFILES", "SiteProfile", "resolve_site"]


@dataclass(frozen=True)
class SiteProfile:
    """The population of one synthetic site.

    Shares are probabilities in [0, 1]. Ages are whole years in the reference year
    (see :data:`fivesafes.data.synth.effects.REFERENCE_YEAR`), drawn from a normal
    distribution truncated to ``[age_min, age_max]``.
    """

    name: str
    description: str
    age_mean: float = 50.0
    age_sd: float = 17.0
    age_min: int = 18
    age_max: int = 100
    female_share: float = 0.51
    current_smoker_share: float = 0.15
    former_smoker_share: float = 0.22
    bmi_mean: float = 27.5
    bmi_sd: float = 5.0
    black_share: float = 0.08
    asian_share: float = 0.06
    hispanic_share: float = 0.08
    visits_per_year: float = 0.8

    def __post_init__(self) -> None:
        shares = {
            "female_share": self.female_share,
            "current_smoker_share": self.current_smoker_share,
            "former_smoker_share": self.former_smoker_share,
            "black_share": self.black_share,
            "asian_share": self.asian_share,
            "hispanic_share": self.hispanic_share,
        }
        for field, value in shares.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{field} must be within [0, 1], got {value}")
        if self.current_smoker_share + self.former_smoker_share > 1.0:
            raise ValueError("current and former smoker shares add up to more than 1")
        if self.black_share + self.asian_share > 1.0:
            raise ValueError("race shares add up to more than 1")
        if not 0 <= self.age_min < self.age_max:
            raise ValueError("need 0 <= age_min < age_max")
        if self.age_sd <= 0 or self.bmi_sd <= 0 or self.visits_per_year <= 0:
            raise ValueError("age_sd, bmi_sd and visits_per_year must be positive")


SITE_PROFILES: Final[dict[str, SiteProfile]] = {
    profile.name: profile
    for profile in (
        SiteProfile(
            name="default",
            description="A general adult population.",
        ),
        SiteProfile(
            name="northfield",
            description="Northfield General: an older, former industrial town with many smokers.",
            age_mean=62.0,
            age_sd=14.0,
            female_share=0.49,
            current_smoker_share=0.26,
            former_smoker_share=0.30,
            bmi_mean=28.5,
            black_share=0.03,
            asian_share=0.02,
            hispanic_share=0.03,
            visits_per_year=1.0,
        ),
        SiteProfile(
            name="riverside",
            description="Riverside University Hospital: a younger, diverse, urban population.",
            age_mean=38.0,
            age_sd=13.0,
            female_share=0.50,
            current_smoker_share=0.12,
            former_smoker_share=0.12,
            bmi_mean=26.0,
            black_share=0.22,
            asian_share=0.15,
            hispanic_share=0.20,
            visits_per_year=0.7,
        ),
        SiteProfile(
            name="lakeside",
            description="Lakeside Women's and General: more women, mostly middle-aged.",
            age_mean=50.0,
            age_sd=12.0,
            female_share=0.62,
            current_smoker_share=0.14,
            former_smoker_share=0.22,
            bmi_mean=27.0,
            black_share=0.06,
            asian_share=0.05,
            hispanic_share=0.07,
            visits_per_year=0.8,
        ),
    )
}


def resolve_site(site: SiteProfile | str) -> SiteProfile:
    """Return the profile itself, or the named one from :data:`SITE_PROFILES`."""
    if isinstance(site, SiteProfile):
        return site
    try:
        return SITE_PROFILES[site]
    except KeyError:
        known = ", ".join(sorted(SITE_PROFILES))
        raise ValueError(f"unknown site profile {site!r}; known profiles: {known}") from None
