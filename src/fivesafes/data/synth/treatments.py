"""drug_exposure and procedure_occurrence: what was prescribed and done at visits.

A treated person gets their drug at the visit where treatment starts, then again at
each later visit with a refill probability. Lung cancer patients may get four cycles
of platinum chemotherapy, 21 days apart, starting 14 days after diagnosis.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from fivesafes.data.synth import concepts as c
from fivesafes.data.synth import effects as fx
from fivesafes.data.synth.population import CURRENT, FORMER, Persons
from fivesafes.data.synth.sampling import BoolArray, IntArray, Rows
from fivesafes.data.synth.visits import BASELINE, DIAGNOSIS, POST, Visits

CHEMO_CYCLES = 4
CHEMO_FIRST_DAY = 14
CHEMO_INTERVAL = 21


@dataclass(frozen=True)
class Course:
    """A drug given from a start visit onwards."""

    concept_id: int
    days_supply: int
    refill_share: float


METFORMIN = Course(c.METFORMIN, 90, 0.7)
ATORVASTATIN = Course(c.ATORVASTATIN, 90, 0.6)
LISINOPRIL = Course(c.LISINOPRIL, 90, 0.7)
AMLODIPINE = Course(c.AMLODIPINE, 90, 0.7)
ALBUTEROL = Course(c.ALBUTEROL, 30, 0.5)
ACETAMINOPHEN_SHARE_OF_VISITS = 0.04


def _course(
    rng: np.random.Generator, visits: Visits, course: Course, start_visit: IntArray
) -> tuple[IntArray, IntArray]:
    """Visit rows and concepts for a course starting at ``start_visit`` (-1: untreated)."""
    start_day = np.where(start_visit >= 0, visits.start[start_visit], np.iinfo(np.int64).max)
    refill = (start_day[visits.person] < visits.start) & (
        rng.random(len(visits)) < course.refill_share
    )
    rows = np.concatenate([start_visit[start_visit >= 0], np.flatnonzero(refill)])
    return rows, np.full(len(rows), course.days_supply)


def drug_rows(
    rng: np.random.Generator, persons: Persons, visits: Visits, diagnosis: Mapping[str, IntArray]
) -> Rows:
    """Every drug exposure of the chunk."""
    n = len(persons)
    has = persons.has
    u = rng.random((6, n))
    statin_share = np.where(
        has["t2dm"],
        fx.ATORVASTATIN_SHARE["t2dm"],
        np.where(
            has["hypertension"],
            fx.ATORVASTATIN_SHARE["hypertension"],
            fx.ATORVASTATIN_SHARE["other"],
        ),
    )
    on_albuterol_copd = has["copd"] & (u[4] < fx.ALBUTEROL_SHARE["copd"])
    on_albuterol_asthma = has["asthma"] & (u[5] < fx.ALBUTEROL_SHARE["asthma"])
    courses: list[tuple[Course, BoolArray, IntArray]] = [
        (METFORMIN, has["t2dm"] & (u[0] < fx.METFORMIN_SHARE_OF_T2DM), diagnosis["t2dm"]),
        (ATORVASTATIN, u[1] < statin_share, visits.baseline),
        (
            LISINOPRIL,
            has["hypertension"] & (u[2] < fx.LISINOPRIL_SHARE_OF_HYPERTENSION),
            diagnosis["hypertension"],
        ),
        (
            AMLODIPINE,
            has["hypertension"] & (u[3] < fx.AMLODIPINE_SHARE_OF_HYPERTENSION),
            diagnosis["hypertension"],
        ),
        (
            ALBUTEROL,
            on_albuterol_copd | on_albuterol_asthma,
            np.where(on_albuterol_copd, diagnosis["copd"], diagnosis["asthma"]),
        ),
    ]
    rows_parts, concept_parts, supply_parts = [], [], []
    for course, treated, start_visit in courses:
        rows, supply = _course(rng, visits, course, np.where(treated, start_visit, -1))
        rows_parts.append(rows)
        concept_parts.append(np.full(len(rows), course.concept_id))
        supply_parts.append(supply)
    casual = np.flatnonzero(rng.random(len(visits)) < ACETAMINOPHEN_SHARE_OF_VISITS)
    rows_parts.append(casual)
    concept_parts.append(np.full(len(casual), c.ACETAMINOPHEN))
    supply_parts.append(np.full(len(casual), 10))

    rows = np.concatenate(rows_parts)
    owner = visits.person[rows]
    start = visits.start[rows]
    supply = np.concatenate(supply_parts)
    visit_id = visits.visit_occurrence_id[rows]
    concept = np.concatenate(concept_parts)

    # Chemotherapy cycles are not tied to a visit (visit_occurrence_id is NULL).
    lung = persons.lung_cancer_day >= 0
    carboplatin = lung & (rng.random(n) < fx.CARBOPLATIN_SHARE_OF_LUNG_CANCER)
    cisplatin = lung & ~carboplatin & (rng.random(n) < fx.CISPLATIN_SHARE_OF_REST)
    chemo_owner = np.repeat(np.flatnonzero(carboplatin | cisplatin), CHEMO_CYCLES)
    cycle = np.tile(np.arange(CHEMO_CYCLES), int((carboplatin | cisplatin).sum()))
    chemo_day = persons.lung_cancer_day[chemo_owner] + CHEMO_FIRST_DAY + CHEMO_INTERVAL * cycle
    keep = chemo_day <= persons.observation_end[chemo_owner]
    chemo_owner, chemo_day = chemo_owner[keep], chemo_day[keep]
    chemo_concept = np.where(carboplatin[chemo_owner], c.CARBOPLATIN, c.CISPLATIN)

    owner = np.concatenate([owner, chemo_owner])
    start = np.concatenate([start, chemo_day])
    supply = np.concatenate([supply, np.ones(len(chemo_owner), dtype=np.int64)])
    end = np.minimum(start + supply - 1, persons.observation_end[owner])
    return {
        "person_id": persons.person_id[owner],
        "drug_concept_id": np.concatenate([concept, chemo_concept]),
        "drug_exposure_start_date": start,
        "drug_exposure_end_date": end,
        "drug_type_concept_id": np.full(len(owner), c.EHR),
        "days_supply": supply,
        "visit_occurrence_id": np.concatenate([visit_id, np.full(len(chemo_owner), -1)]),
    }


# Chance of a procedure at a visit, by what kind of visit it is.
CT_CHEST_SHARE = {"screening": 0.06, "other": 0.01}  # screening: aged 55+, ever smoked
CHEST_XRAY_SHARE = {"er": 0.25, "diagnosis": 0.5, "other": 0.02}


def procedure_rows(rng: np.random.Generator, persons: Persons, visits: Visits) -> Rows:
    """Every procedure of the chunk: chest CT and chest X-ray."""
    owner = visits.person
    screening = (persons.age >= 55) & np.isin(persons.smoking, (CURRENT, FORMER))
    ct_share = np.where(screening[owner], CT_CHEST_SHARE["screening"], CT_CHEST_SHARE["other"])
    ct = (visits.kind == DIAGNOSIS) | ((visits.kind == POST) & (rng.random(len(visits)) < ct_share))
    xray_share = np.where(
        visits.concept_id == c.ER_VISIT,
        CHEST_XRAY_SHARE["er"],
        np.where(
            visits.kind == DIAGNOSIS, CHEST_XRAY_SHARE["diagnosis"], CHEST_XRAY_SHARE["other"]
        ),
    )
    xray = (visits.kind != BASELINE) & (rng.random(len(visits)) < xray_share)
    rows = np.concatenate([np.flatnonzero(ct), np.flatnonzero(xray)])
    concept = np.concatenate(
        [np.full(int(ct.sum()), c.CT_CHEST), np.full(int(xray.sum()), c.CHEST_XRAY)]
    )
    return {
        "person_id": persons.person_id[owner[rows]],
        "procedure_concept_id": concept,
        "procedure_date": visits.start[rows],
        "procedure_type_concept_id": np.full(len(rows), c.EHR),
        "visit_occurrence_id": visits.visit_occurrence_id[rows],
    }
