"""condition_occurrence: diagnoses recorded at visits.

A person with a condition has one *diagnosis record* at a diagnosis visit, then the
condition is recorded again at each later visit with a fixed probability (chronic
conditions are coded repeatedly, as in real EHR extracts). Where a diagnosis visit
falls depends on the condition:

* ``before_index`` (type 2 diabetes, hypertension, asthma, osteoarthritis): a visit on
  or before the baseline visit, so the condition is known at the index date;
* ``any``: any of the person's visits (COPD, myocardial infarction);
* lung cancer: the dedicated diagnosis visit after the index date.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from fivesafes.data.synth import concepts as c
from fivesafes.data.synth import effects as fx
from fivesafes.data.synth.population import Persons
from fivesafes.data.synth.sampling import IntArray, Rows, choice
from fivesafes.data.synth.visits import Visits


@dataclass(frozen=True)
class ConditionRecords:
    """How one outcome of the planted models is written as condition records."""

    outcome: str
    coding: Mapping[int, float] | None  # concept -> share of records; None: per person
    window: Literal["before_index", "any", "lung_cancer"]
    repeat_share: float  # chance it is recorded again at each later visit


CONDITION_RECORDS = (
    ConditionRecords("t2dm", {c.TYPE_2_DIABETES: 1.0}, "before_index", 0.30),
    ConditionRecords("hypertension", fx.HYPERTENSION_CODING, "before_index", 0.25),
    ConditionRecords("copd", {c.COPD: 1.0}, "any", 0.25),
    ConditionRecords("asthma", {c.ASTHMA: 1.0}, "before_index", 0.15),
    ConditionRecords("osteoarthritis", {c.OSTEOARTHRITIS: 1.0}, "before_index", 0.15),
    ConditionRecords("myocardial_infarction", {c.MYOCARDIAL_INFARCTION: 1.0}, "any", 0.05),
    ConditionRecords("lung_cancer", None, "lung_cancer", 0.40),
)


def diagnosis_visits(
    rng: np.random.Generator, persons: Persons, visits: Visits
) -> dict[str, IntArray]:
    """Per outcome and person: the index of the diagnosis visit, or -1 without it."""
    result: dict[str, IntArray] = {}
    for spec in CONDITION_RECORDS:
        if spec.window == "lung_cancer":
            result[spec.outcome] = visits.diagnosis
            continue
        among = visits.upto_baseline if spec.window == "before_index" else visits.count
        pick = visits.first + np.floor(rng.random(len(persons)) * among).astype(np.int64)
        result[spec.outcome] = np.where(persons.has[spec.outcome], pick, -1)
    return result


def condition_rows(
    rng: np.random.Generator,
    persons: Persons,
    visits: Visits,
    diagnosis: Mapping[str, IntArray],
) -> Rows:
    """Every condition record of the chunk."""
    visit_parts: list[IntArray] = []
    concept_parts: list[IntArray] = []
    for spec in CONDITION_RECORDS:
        dx_visit = diagnosis[spec.outcome]
        first = dx_visit[dx_visit >= 0]
        owner_dx_day = np.where(dx_visit >= 0, visits.start[dx_visit], np.iinfo(np.int64).max)
        later = (owner_dx_day[visits.person] < visits.start) & (
            rng.random(len(visits)) < spec.repeat_share
        )
        rows = np.concatenate([first, np.flatnonzero(later)])
        if spec.coding is None:
            concept = persons.lung_cancer_concept_id[visits.person[rows]]
        else:
            concept = choice(rng, spec.coding, len(rows))
        visit_parts.append(rows)
        concept_parts.append(concept)
    rows = np.concatenate(visit_parts)
    n = len(rows)
    return {
        "person_id": persons.person_id[visits.person[rows]],
        "condition_concept_id": np.concatenate(concept_parts),
        "condition_start_date": visits.start[rows],
        "condition_type_concept_id": np.full(n, c.EHR),
        "visit_occurrence_id": visits.visit_occurrence_id[rows],
    }


# Background conditions (opt-in): each concept's share of the records is proportional to its
# number of records in the Eunomia GiBleed CDM. The ancestors Sinusitis (also recorded itself),
# Concussion injury of brain and Traumatic brain injury make "with descendants" matter here too.
BACKGROUND_CODING: dict[int, float] = {
    c.VIRAL_SINUSITIS: 17268,
    c.ACUTE_VIRAL_PHARYNGITIS: 10217,
    c.ACUTE_BRONCHITIS: 8184,
    c.OTITIS_MEDIA: 3605,
    c.STREPTOCOCCAL_SORE_THROAT: 2656,
    c.SPRAIN_OF_ANKLE: 1915,
    c.CONCUSSION_NO_LOSS_OF_CONSCIOUSNESS: 1013,
    c.SINUSITIS: 1001,
    c.ACUTE_BACTERIAL_SINUSITIS: 939,
    c.CHRONIC_SINUSITIS: 825,
    c.SPRAIN_OF_WRIST: 770,
}


def background_condition_rows(
    rng: np.random.Generator, persons: Persons, visits: Visits, per_person: float
) -> Rows:
    """Records of common conditions outside every planted model: Poisson(``per_person``)
    per person, each at one of the person's visits drawn uniformly, coded by
    :data:`BACKGROUND_CODING`."""
    records = rng.poisson(per_person, len(persons))
    owner = np.repeat(np.arange(len(persons)), records)
    rows = visits.first[owner] + np.floor(rng.random(len(owner)) * visits.count[owner]).astype(
        np.int64
    )
    total = sum(BACKGROUND_CODING.values())
    coding = {concept: n / total for concept, n in BACKGROUND_CODING.items()}
    return {
        "person_id": persons.person_id[owner],
        "condition_concept_id": choice(rng, coding, len(rows)),
        "condition_start_date": visits.start[rows],
        "condition_type_concept_id": np.full(len(rows), c.EHR),
        "visit_occurrence_id": visits.visit_occurrence_id[rows],
    }
