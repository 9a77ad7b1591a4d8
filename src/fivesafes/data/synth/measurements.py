"""measurement and observation: BMI, HbA1c, blood pressure and smoking status.

* BMI: recorded at the baseline visit as exactly the person's baseline BMI (the value
  the planted models use), and at other visits as that value plus noise. Because the
  baseline visit is each person's last visit before the index date, "the last BMI on
  or before the index date" is the model's BMI.
* HbA1c: at the baseline visit and some other visits; higher in diabetics.
* Systolic blood pressure: at the baseline visit and most other visits.
* Smoking status: an observation (LOINC 72166-2) at the baseline visit and some other
  visits, whose value_as_concept_id is the person's (unchanging) status.
"""

from __future__ import annotations

import numpy as np

from fivesafes.data.synth import concepts as c
from fivesafes.data.synth import effects as fx
from fivesafes.data.synth.population import SMOKING_VALUE_CONCEPT, Persons
from fivesafes.data.synth.sampling import FloatArray, IntArray, Rows, normal_value
from fivesafes.data.synth.visits import BASELINE, Visits

# Chance of a measurement at a visit other than the baseline visit.
BMI_SHARE = 0.25
SBP_SHARE = {c.OUTPATIENT_VISIT: 0.5, c.ER_VISIT: 0.9, c.INPATIENT_VISIT: 0.9}
HBA1C_SHARE = {"t2dm": 0.5, "other": 0.03}
HBA1C_BASELINE_SHARE_WITHOUT_T2DM = 0.25  # every diabetic has one at baseline
SMOKING_STATUS_SHARE = 0.15


def measurement_rows(rng: np.random.Generator, persons: Persons, visits: Visits) -> Rows:
    """Every measurement of the chunk."""
    nv = len(visits)
    owner = visits.person
    baseline = visits.kind == BASELINE
    covariates = persons.covariates()
    t2dm = persons.has["t2dm"][owner]

    bmi_rows = np.flatnonzero(baseline | (rng.random(nv) < BMI_SHARE))
    bmi_noise = np.where(
        baseline[bmi_rows], 0.0, rng.normal(0.0, fx.BMI_FOLLOW_UP_SD, len(bmi_rows))
    )
    bmi_value = np.clip(np.round(persons.bmi[owner[bmi_rows]] + bmi_noise, 1), 12.0, 70.0)

    sbp_share = np.select(
        [visits.concept_id == k for k in SBP_SHARE], list(SBP_SHARE.values()), 0.0
    )
    sbp_rows = np.flatnonzero(baseline | (rng.random(nv) < sbp_share))
    sbp_mean = fx.SBP_BASE.mean + sum(
        shift * covariates[name][owner[sbp_rows]] for name, shift in fx.SBP_SHIFTS.items()
    )
    sbp_value = normal_value(rng, fx.SBP_BASE, np.asarray(sbp_mean, dtype=np.float64))

    hba1c_share = np.where(
        baseline,
        np.where(t2dm, 1.0, HBA1C_BASELINE_SHARE_WITHOUT_T2DM),
        np.where(t2dm, HBA1C_SHARE["t2dm"], HBA1C_SHARE["other"]),
    )
    hba1c_rows = np.flatnonzero(rng.random(nv) < hba1c_share)
    diabetic = t2dm[hba1c_rows]
    hba1c_value = np.where(
        diabetic,
        normal_value(rng, fx.HBA1C_DIABETES, np.full(len(hba1c_rows), fx.HBA1C_DIABETES.mean)),
        normal_value(
            rng, fx.HBA1C_NO_DIABETES, np.full(len(hba1c_rows), fx.HBA1C_NO_DIABETES.mean)
        ),
    )

    parts: list[tuple[int, int, IntArray, FloatArray]] = [
        (c.BMI, c.KG_PER_M2, bmi_rows, bmi_value),
        (c.SYSTOLIC_BP, c.MM_HG, sbp_rows, sbp_value),
        (c.HBA1C, c.PERCENT, hba1c_rows, hba1c_value),
    ]
    rows = np.concatenate([p[2] for p in parts])
    n = len(rows)
    return {
        "person_id": persons.person_id[owner[rows]],
        "measurement_concept_id": np.concatenate([np.full(len(p[2]), p[0]) for p in parts]),
        "measurement_date": visits.start[rows],
        "measurement_type_concept_id": np.full(n, c.EHR),
        "value_as_number": np.concatenate([p[3] for p in parts]),
        "unit_concept_id": np.concatenate([np.full(len(p[2]), p[1]) for p in parts]),
        "visit_occurrence_id": visits.visit_occurrence_id[rows],
    }


def observation_rows(rng: np.random.Generator, persons: Persons, visits: Visits) -> Rows:
    """Every observation of the chunk: smoking status."""
    recorded = (visits.kind == BASELINE) | (rng.random(len(visits)) < SMOKING_STATUS_SHARE)
    rows = np.flatnonzero(recorded)
    owner = visits.person[rows]
    return {
        "person_id": persons.person_id[owner],
        "observation_concept_id": np.full(len(rows), c.TOBACCO_SMOKING_STATUS),
        "observation_date": visits.start[rows],
        "observation_type_concept_id": np.full(len(rows), c.EHR),
        "value_as_concept_id": SMOKING_VALUE_CONCEPT[persons.smoking[owner]],
        "visit_occurrence_id": visits.visit_occurrence_id[rows],
    }
