"""Named analysis variables: what a task may name, and how every node builds each from OMOP.

A task names variables; it never carries values. Each node builds one row per person of the
cohort with the variables asked for (the *analysis frame*), which never leaves the node.
Everything is relative to the person's cohort index date.

- `age` (numeric): year(index date) - year of birth.
- `sex` (categorical: female, the reference; male): `person.gender_concept_id` 8532 / 8507;
  any other value is missing.
- `smoker` (categorical: never, the reference; former; current): the latest tobacco smoking
  status observation (concept 43054909) on or before the index date; missing without one.
- `bmi` (numeric): the latest BMI measurement (concept 3038553) in the 5 years up to the
  index date; missing without one.
- `lung_cancer`, `t2dm`, `hypertension`, `copd` (binary 0/1): any record of malignant tumour
  of lung (443388), type 2 diabetes (201826), hypertensive disorder (316866) or COPD (255573),
  or a descendant concept.
- `statin`, `metformin` (binary 0/1): any exposure to atorvastatin (1545958) or metformin
  (1503297), or a descendant concept, starting in the 365 days up to and including the index
  date (a drug in a window).
- `visits_past_year` (count): visits starting in the 365 days before the index date.
- `time_to_lung_cancer` (survival: a time in years and an event flag): from the index date to
  the first record of lung cancer (443388 or a descendant) after it (event), or to the end of
  the person's last observation period (censored). Missing for persons with lung cancer on or
  before the index date, or observed for no time after it.

A summary's quantiles come from bins agreed in the task (``fivesafes.analyses.quantiles``): by
default `age` in 5-year bins from 0 to 110, `bmi` in bins of 2.5 from 10 to 60, and
`visits_past_year` at 0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50; the outer bins are open.

Binary conditions look at a person's whole record ("ever"), as the synthetic data's planted
models do. A model uses complete cases: a row missing any variable of the formula is left out
(and counted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

Kind = Literal["numeric", "categorical", "binary", "count", "survival"]

SMOKING_STATUS = 43054909
SMOKING_LEVELS = {45879404: "never", 45883458: "former", 45881517: "current"}
BMI = 3038553
BMI_WINDOW = timedelta(days=5 * 365)
CONDITIONS = {"lung_cancer": 443388, "t2dm": 201826, "hypertension": 316866, "copd": 255573}
DRUGS = {"statin": 1545958, "metformin": 1503297}  # atorvastatin, metformin (RxNorm)
DRUG_WINDOW = timedelta(days=365)


@dataclass(frozen=True)
class Variable:
    name: str
    kind: Kind
    levels: tuple[str, ...] = ()  # categorical: the first is the reference
    bins: tuple[float, ...] = ()  # numeric and count: a summary's default quantile bin edges


VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in (
        Variable("age", "numeric", bins=tuple(float(a) for a in range(0, 111, 5))),
        Variable("sex", "categorical", ("female", "male")),
        Variable("smoker", "categorical", ("never", "former", "current")),
        Variable("bmi", "numeric", bins=tuple(10.0 + 2.5 * k for k in range(21))),
        *(Variable(name, "binary") for name in CONDITIONS),
        *(Variable(name, "binary") for name in DRUGS),
        Variable("visits_past_year", "count", bins=(0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50)),
        Variable("time_to_lung_cancer", "survival"),
    )
}
VariableName = Literal[
    "age",
    "sex",
    "smoker",
    "bmi",
    "lung_cancer",
    "t2dm",
    "hypertension",
    "copd",
    "statin",
    "metformin",
    "visits_past_year",
    "time_to_lung_cancer",
]
SummaryVariable = Literal["age", "bmi", "visits_past_year"]
"""The variables a summary may describe: the catalogue's numeric and count variables."""
