"""The planted effects: the exact models the synthetic data are drawn from.

These are the ground truth that analyses run on synthetic data must recover, and
``docs/synthetic-data.md`` restates them. Every outcome model is a logistic model over
covariates fixed at the **index date** (:data:`INDEX_DATE`, 2020-01-01):

``age10``
    ``(age - 60) / 10`` where ``age = REFERENCE_YEAR - year_of_birth`` (whole years).
``female``
    1 when ``gender_concept_id`` is 8532.
``current_smoker`` / ``former_smoker``
    the person's smoking status (never smokers are the reference). It never changes,
    and every smoking-status observation of a person carries the same value.
``bmi5``
    ``(bmi - 27) / 5`` where ``bmi`` is the person's baseline BMI: the value of their
    last BMI measurement on or before the index date (it is recorded exactly, to 0.1).
``t2dm`` / ``hypertension`` / ``copd`` / ``lung_cancer``
    1 when the person has that condition (any time in their observation period).

The models are the same at every site; sites differ only in who lives there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Final

import numpy as np
from numpy.typing import NDArray

from fivesafes.data.synth import concepts as c

EPOCH: Final = date(1970, 1, 1)
REFERENCE_YEAR: Final = 2020
INDEX_DATE: Final = date(REFERENCE_YEAR, 1, 1)
DATA_START: Final = date(2010, 1, 1)
DATA_END: Final = date(2024, 12, 31)


def day_number(d: date) -> int:
    """Days since 1970-01-01, the representation used for dates while generating."""
    return (d - EPOCH).days


INDEX_DAY: Final = day_number(INDEX_DATE)
DATA_START_DAY: Final = day_number(DATA_START)
DATA_END_DAY: Final = day_number(DATA_END)

AGE_CENTRE: Final = 60.0
BMI_CENTRE: Final = 27.0

Covariates = Mapping[str, NDArray[np.float64]]


@dataclass(frozen=True)
class LogisticModel:
    """``logit P(outcome) = intercept + sum(log(odds_ratios[k]) * covariate[k])``."""

    outcome: str
    intercept: float
    odds_ratios: Mapping[str, float] = field(default_factory=dict)

    def log_odds(self, covariates: Covariates) -> NDArray[np.float64]:
        """The linear predictor for every person."""
        first = next(iter(covariates.values()))
        eta = np.full(first.shape, self.intercept, dtype=np.float64)
        for name, odds_ratio in self.odds_ratios.items():
            eta += np.log(odds_ratio) * covariates[name]
        return eta

    def probability(self, covariates: Covariates) -> NDArray[np.float64]:
        """The probability of the outcome for every person."""
        result: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-self.log_odds(covariates)))
        return result


# The analysis the demo runs: lung_cancer ~ age + sex + smoker + bmi.
# BMI's odds ratio of exactly 1.0 is a planted null effect.
LUNG_CANCER_MODEL: Final = LogisticModel(
    "lung_cancer",
    intercept=-4.5,
    odds_ratios={
        "age10": 1.8,
        "current_smoker": 4.0,
        "former_smoker": 2.0,
        "female": 0.8,
        "bmi5": 1.0,
    },
)
T2DM_MODEL: Final = LogisticModel(
    "t2dm", intercept=-2.6, odds_ratios={"bmi5": 2.0, "age10": 1.5, "female": 0.85}
)
HYPERTENSION_MODEL: Final = LogisticModel(
    "hypertension", intercept=-0.9, odds_ratios={"age10": 2.0, "bmi5": 1.4}
)
COPD_MODEL: Final = LogisticModel(
    "copd",
    intercept=-4.3,
    odds_ratios={"age10": 1.7, "current_smoker": 6.0, "former_smoker": 3.0},
)
ASTHMA_MODEL: Final = LogisticModel("asthma", intercept=-3.0, odds_ratios={"female": 1.3})
OSTEOARTHRITIS_MODEL: Final = LogisticModel(
    "osteoarthritis", intercept=-2.0, odds_ratios={"age10": 1.9, "female": 1.4, "bmi5": 1.3}
)
MI_MODEL: Final = LogisticModel(
    "myocardial_infarction",
    intercept=-4.4,
    odds_ratios={
        "age10": 1.8,
        "female": 0.55,
        "current_smoker": 1.8,
        "hypertension": 1.6,
        "t2dm": 1.7,
    },
)
# Death during follow-up (after the index date, before the end of data).
DEATH_MODEL: Final = LogisticModel(
    "death", intercept=-4.0, odds_ratios={"age10": 2.2, "lung_cancer": 8.0, "copd": 1.8}
)


@dataclass(frozen=True)
class NormalValue:
    """A measurement value: normal, then rounded to ``decimals`` and clipped."""

    mean: float
    sd: float
    low: float
    high: float
    decimals: int = 1


# HbA1c (%), by diabetes status: diabetics are 2.2 percentage points higher on average.
HBA1C_NO_DIABETES: Final = NormalValue(5.4, 0.35, 4.0, 15.0)
HBA1C_DIABETES: Final = NormalValue(7.6, 1.1, 4.0, 15.0)
# Systolic blood pressure (mmHg): mean SBP_BASE + per-covariate shifts below, sd 12.
SBP_BASE: Final = NormalValue(122.0, 12.0, 80.0, 230.0, decimals=0)
SBP_SHIFTS: Final[Mapping[str, float]] = {"age10": 5.0, "hypertension": 14.0, "bmi5": 3.0}
# Later BMI measurements scatter around the baseline value with this sd (kg/m2).
BMI_FOLLOW_UP_SD: Final = 1.0

# Treatment: share of people with the indication who get the drug.
METFORMIN_SHARE_OF_T2DM: Final = 0.85
ATORVASTATIN_SHARE: Final[Mapping[str, float]] = {"t2dm": 0.6, "hypertension": 0.3, "other": 0.04}
LISINOPRIL_SHARE_OF_HYPERTENSION: Final = 0.55
AMLODIPINE_SHARE_OF_HYPERTENSION: Final = 0.35
ALBUTEROL_SHARE: Final[Mapping[str, float]] = {"copd": 0.8, "asthma": 0.7}
CARBOPLATIN_SHARE_OF_LUNG_CANCER: Final = 0.5
CISPLATIN_SHARE_OF_REST: Final = 0.3  # of lung cancer patients not given carboplatin

# Of lung cancer cases, which concept the diagnosis is recorded with.
LUNG_CANCER_CODING: Final[Mapping[int, float]] = {c.LUNG_CANCER: 0.40, c.NSCLC: 0.45, c.SCLC: 0.15}
# Of hypertension records, which concept is used (chosen per record).
HYPERTENSION_CODING: Final[Mapping[int, float]] = {
    c.ESSENTIAL_HYPERTENSION: 0.85,
    c.HYPERTENSIVE_DISORDER: 0.15,
}


def planted_models() -> tuple[LogisticModel, ...]:
    """Every planted logistic model, in the order they are drawn."""
    return (
        T2DM_MODEL,
        HYPERTENSION_MODEL,
        COPD_MODEL,
        ASTHMA_MODEL,
        OSTEOARTHRITIS_MODEL,
        MI_MODEL,
        LUNG_CANCER_MODEL,
        DEATH_MODEL,
    )
