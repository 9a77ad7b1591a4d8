"""Persons: demographics, covariates at the index date, and who has what.

Everything about a person that the planted models use is drawn here, vectorised over
a chunk of persons. The events (visits, records) that make these facts visible in the
OMOP tables are drawn afterwards from a :class:`Persons`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fivesafes.data.synth import concepts as c
from fivesafes.data.synth import effects as fx
from fivesafes.data.synth.sampling import (
    BoolArray,
    FloatArray,
    IntArray,
    choice,
    truncated_normal_int,
    uniform_days,
)
from fivesafes.data.synth.sites import SiteProfile

NEVER, FORMER, CURRENT = 0, 1, 2
SMOKING_VALUE_CONCEPT = np.array([c.NEVER_SMOKER, c.FORMER_SMOKER, c.CURRENT_SMOKER])

# Share of people who stay observed until the end of data; the rest leave at a
# uniformly drawn day between 180 days after the index date and the end of data.
STAY_TO_END_SHARE = 0.8


@dataclass(frozen=True)
class Persons:
    """One chunk of persons, as parallel arrays (dates are day numbers)."""

    person_id: IntArray
    age: IntArray  # REFERENCE_YEAR - year_of_birth
    female: BoolArray
    smoking: IntArray  # NEVER, FORMER or CURRENT
    bmi: FloatArray  # baseline BMI, rounded to 0.1
    year_of_birth: IntArray
    month_of_birth: IntArray
    day_of_birth: IntArray
    race_concept_id: IntArray
    ethnicity_concept_id: IntArray
    observation_start: IntArray
    baseline_day: IntArray  # the baseline visit, in the year before the index date
    observation_end: IntArray
    has: dict[str, BoolArray]  # outcome -> who has it (the models in effects.planted_models)
    lung_cancer_day: IntArray  # -1 without lung cancer
    lung_cancer_concept_id: IntArray  # 0 without lung cancer
    death_day: IntArray  # -1 while alive at the end of observation

    def __len__(self) -> int:
        return len(self.person_id)

    def covariates(self) -> dict[str, FloatArray]:
        """The covariates of the planted models (see :mod:`effects`)."""
        covariates = base_covariates(self.age, self.female, self.smoking, self.bmi)
        covariates.update({name: flag.astype(np.float64) for name, flag in self.has.items()})
        return covariates


def base_covariates(
    age: IntArray, female: BoolArray, smoking: IntArray, bmi: FloatArray
) -> dict[str, FloatArray]:
    """The index-date covariates the planted models are written in."""
    return {
        "age10": (age - fx.AGE_CENTRE) / 10.0,
        "female": female.astype(np.float64),
        "current_smoker": (smoking == CURRENT).astype(np.float64),
        "former_smoker": (smoking == FORMER).astype(np.float64),
        "bmi5": (bmi - fx.BMI_CENTRE) / 5.0,
    }


def _birth_dates(rng: np.random.Generator, year: IntArray) -> tuple[IntArray, IntArray]:
    """A uniformly drawn month and day within each birth year."""
    first = (year - 1970).astype("datetime64[Y]").astype("datetime64[D]")
    length = ((year + 1 - 1970).astype("datetime64[Y]").astype("datetime64[D]") - first).astype(
        np.int64
    )
    born = first + np.floor(rng.random(len(year)) * length).astype("timedelta64[D]")
    month_start = born.astype("datetime64[M]")
    month: IntArray = month_start.astype(np.int64) % 12 + 1
    day: IntArray = (born - month_start.astype("datetime64[D]")).astype(np.int64) + 1
    return month, day


def draw_persons(
    rng: np.random.Generator, first_person_id: int, n: int, site: SiteProfile
) -> Persons:
    """Draw ``n`` persons with ids ``first_person_id, first_person_id + 1, ...``."""
    person_id = np.arange(first_person_id, first_person_id + n, dtype=np.int64)
    female = rng.random(n) < site.female_share
    age = truncated_normal_int(rng, site.age_mean, site.age_sd, site.age_min, site.age_max, n)
    smoking = choice(
        rng,
        {
            CURRENT: site.current_smoker_share,
            FORMER: site.former_smoker_share,
            NEVER: 1.0 - site.current_smoker_share - site.former_smoker_share,
        },
        n,
    )
    bmi: FloatArray = np.clip(rng.normal(site.bmi_mean, site.bmi_sd, n), 15.0, 60.0).round(1)
    year_of_birth = fx.REFERENCE_YEAR - age
    month_of_birth, day_of_birth = _birth_dates(rng, year_of_birth)
    race = choice(
        rng,
        {
            c.BLACK: site.black_share,
            c.ASIAN: site.asian_share,
            c.WHITE: 1.0 - site.black_share - site.asian_share,
        },
        n,
    )
    ethnicity = np.where(rng.random(n) < site.hispanic_share, c.HISPANIC, c.NOT_HISPANIC)

    index = np.full(n, fx.INDEX_DAY, dtype=np.int64)
    observation_start = uniform_days(rng, np.full(n, fx.DATA_START_DAY), index - 365)
    baseline_day = uniform_days(rng, index - 365, index - 1)
    leaves = rng.random(n) >= STAY_TO_END_SHARE
    planned_end = np.where(
        leaves, uniform_days(rng, index + 180, np.full(n, fx.DATA_END_DAY)), fx.DATA_END_DAY
    )

    covariates = base_covariates(age, female, smoking, bmi)
    has: dict[str, BoolArray] = {}
    # Outcomes in dependency order; each model may use the outcomes drawn before it.
    for model in fx.planted_models():
        if model is not fx.DEATH_MODEL:
            has[model.outcome] = rng.random(n) < model.probability(covariates)
            covariates[model.outcome] = has[model.outcome].astype(np.float64)

    lung_cancer = has["lung_cancer"]
    follow_up = index + 1  # outcomes after the index date happen from the next day on
    lung_cancer_day = np.where(lung_cancer, uniform_days(rng, follow_up, planned_end), -1)
    lung_cancer_concept = np.where(lung_cancer, choice(rng, fx.LUNG_CANCER_CODING, n), 0)
    dies = rng.random(n) < fx.DEATH_MODEL.probability(covariates)
    death_day = np.where(
        dies, uniform_days(rng, np.where(lung_cancer, lung_cancer_day, follow_up), planned_end), -1
    )
    return Persons(
        person_id=person_id,
        age=age,
        female=female,
        smoking=smoking,
        bmi=bmi,
        year_of_birth=year_of_birth,
        month_of_birth=month_of_birth,
        day_of_birth=day_of_birth,
        race_concept_id=race,
        ethnicity_concept_id=ethnicity.astype(np.int64),
        observation_start=observation_start,
        baseline_day=baseline_day,
        observation_end=np.where(dies, death_day, planned_end),
        has=has,
        lung_cancer_day=lung_cancer_day,
        lung_cancer_concept_id=lung_cancer_concept,
        death_day=death_day,
    )
