"""Visits: when each person meets the hospital.

Each person has visits before the index date, exactly one *baseline* outpatient visit
in the year before the index date (where their baseline BMI and smoking status are
recorded; it is their last visit on or before the index date), visits strictly after
the index date, and, with lung cancer, a diagnosis visit on the day of diagnosis.
All visits lie inside the person's observation period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fivesafes.data.synth import concepts as c
from fivesafes.data.synth import effects as fx
from fivesafes.data.synth.population import Persons
from fivesafes.data.synth.sampling import IntArray, choice, uniform_days

PRE, BASELINE, POST, DIAGNOSIS = 0, 1, 2, 3

# Ordinary (not baseline, not diagnosis) visits are of these kinds.
VISIT_MIX = {c.OUTPATIENT_VISIT: 0.82, c.ER_VISIT: 0.12, c.INPATIENT_VISIT: 0.06}
DIAGNOSIS_INPATIENT_SHARE = 0.6
MEAN_EXTRA_INPATIENT_DAYS = 3.0  # inpatient stays last 1 + Poisson(3) days
# Attendance rate multipliers: rate = visits_per_year * exp(sum(coef * covariate)).
ATTENDANCE = {
    "age10": 0.15,
    "t2dm": 0.3,
    "hypertension": 0.2,
    "copd": 0.4,
    "myocardial_infarction": 0.3,
}


@dataclass(frozen=True)
class Visits:
    """A chunk's visits, sorted by person then date; per-person offsets into them."""

    visit_occurrence_id: IntArray
    person: IntArray  # index into the chunk's Persons
    start: IntArray
    end: IntArray
    concept_id: IntArray
    kind: IntArray  # PRE, BASELINE, POST or DIAGNOSIS
    first: IntArray  # per person: index of their first visit
    count: IntArray  # per person: number of visits
    upto_baseline: IntArray  # per person: visits on or before the baseline visit
    diagnosis: IntArray  # per person: index of the lung cancer diagnosis visit, or -1

    def __len__(self) -> int:
        return len(self.start)

    @property
    def baseline(self) -> IntArray:
        """Per person: index of the baseline visit."""
        result: IntArray = self.first + self.upto_baseline - 1
        return result


def draw_visits(
    rng: np.random.Generator, persons: Persons, visits_per_year: float, first_id: int
) -> Visits:
    """Draw every visit of a chunk of persons; ids start at ``first_id``."""
    n = len(persons)
    covariates = persons.covariates()
    log_rate = sum(coef * covariates[name] for name, coef in ATTENDANCE.items())
    rate = visits_per_year * np.exp(log_rate) / 365.25

    pre_span = persons.baseline_day - persons.observation_start
    post_span = persons.observation_end - fx.INDEX_DAY
    n_pre = rng.poisson(rate * pre_span)
    n_post = rng.poisson(rate * post_span)
    has_dx = persons.lung_cancer_day >= 0

    owner_pre = np.repeat(np.arange(n), n_pre)
    owner_post = np.repeat(np.arange(n), n_post)
    owner_dx = np.flatnonzero(has_dx)
    owner = np.concatenate([owner_pre, np.arange(n), owner_post, owner_dx])
    kind = np.concatenate(
        [
            np.full(len(owner_pre), PRE),
            np.full(n, BASELINE),
            np.full(len(owner_post), POST),
            np.full(len(owner_dx), DIAGNOSIS),
        ]
    )
    start = np.concatenate(
        [
            uniform_days(
                rng, persons.observation_start[owner_pre], persons.baseline_day[owner_pre] - 1
            ),
            persons.baseline_day,
            uniform_days(
                rng, np.full(len(owner_post), fx.INDEX_DAY + 1), persons.observation_end[owner_post]
            ),
            persons.lung_cancer_day[owner_dx],
        ]
    )
    order = np.argsort((owner * 8192 + (start - fx.DATA_START_DAY)) * 4 + kind, kind="stable")
    owner, kind, start = owner[order], kind[order], start[order]

    concept = choice(rng, VISIT_MIX, len(start))
    concept[kind == BASELINE] = c.OUTPATIENT_VISIT
    dx_inpatient = rng.random(len(start)) < DIAGNOSIS_INPATIENT_SHARE
    concept[kind == DIAGNOSIS] = np.where(
        dx_inpatient[kind == DIAGNOSIS], c.INPATIENT_VISIT, c.OUTPATIENT_VISIT
    )
    stay = 1 + rng.poisson(MEAN_EXTRA_INPATIENT_DAYS, len(start))
    end = np.where(concept == c.INPATIENT_VISIT, start + stay, start)
    end = np.minimum(end, persons.observation_end[owner])

    count = n_pre + 1 + n_post + has_dx
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    diagnosis = np.full(n, -1, dtype=np.int64)
    dx_rows = np.flatnonzero(kind == DIAGNOSIS)
    diagnosis[owner[dx_rows]] = dx_rows
    return Visits(
        visit_occurrence_id=first_id + np.arange(len(start), dtype=np.int64),
        person=owner,
        start=start,
        end=end,
        concept_id=concept,
        kind=kind,
        first=first,
        count=count,
        upto_baseline=n_pre + 1,
        diagnosis=diagnosis,
    )
