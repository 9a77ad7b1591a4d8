"""person, observation_period and death rows for a chunk of persons."""

from __future__ import annotations

import numpy as np

from fivesafes.data.synth import concepts as c
from fivesafes.data.synth.population import Persons
from fivesafes.data.synth.sampling import Rows


def person_rows(persons: Persons) -> Rows:
    """One ``person`` row per person."""
    return {
        "person_id": persons.person_id,
        "gender_concept_id": np.where(persons.female, c.FEMALE, c.MALE),
        "year_of_birth": persons.year_of_birth,
        "month_of_birth": persons.month_of_birth,
        "day_of_birth": persons.day_of_birth,
        "race_concept_id": persons.race_concept_id,
        "ethnicity_concept_id": persons.ethnicity_concept_id,
    }


def observation_period_rows(persons: Persons) -> Rows:
    """One observation period per person; its id is the person id."""
    return {
        "observation_period_id": persons.person_id,
        "person_id": persons.person_id,
        "observation_period_start_date": persons.observation_start,
        "observation_period_end_date": persons.observation_end,
        "period_type_concept_id": np.full(len(persons), c.EHR),
    }


def death_rows(persons: Persons) -> Rows:
    """A ``death`` row per person who died; the cause is lung cancer where they had it."""
    dead = np.flatnonzero(persons.death_day >= 0)
    cause = persons.lung_cancer_concept_id[dead]
    return {
        "person_id": persons.person_id[dead],
        "death_date": persons.death_day[dead],
        "death_type_concept_id": np.full(len(dead), c.EHR),
        "cause_concept_id": np.where(cause > 0, cause, -1),
    }
