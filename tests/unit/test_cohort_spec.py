"""The meaning of a cohort, rule by rule, each shown on a tiny CDM.

Every test runs on DuckDB and on PostgreSQL (``make_db`` is parametrised over both). The
tables are the documentation: read one as "these rows, this cohort, these persons".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pandas as pd
import pytest

from fivesafes.analyses.count import count_persons
from fivesafes.cohorts.compile import cohort_persons
from fivesafes.cohorts.concepts import UnknownConceptError, can_use_concepts
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.source import OmopDatabase
from fixtures_omop import FEMALE, MALE, OmopRows

MakeDb = Callable[[OmopRows], OmopDatabase]

LUNG_CANCER, SMALL_CELL, ASTHMA = 443388, 4110591, 317009
CT_CHEST, STATIN = 4058335, 1539403
BMI, KG_PER_M2, PERCENT = 3038553, 9531, 8554
SMOKING, CURRENT_SMOKER, NEVER_SMOKER = 43054909, 45881517, 45879404


def cohort(*criteria: dict[str, Any], **fields: Any) -> Cohort:
    return Cohort.model_validate({"name": "spec", "criteria": list(criteria), **fields})


def persons(db: OmopDatabase, definition: Cohort) -> set[int]:
    return set(cohort_persons(definition, db).execute()["person_id"].tolist())


def index_dates(db: OmopDatabase, definition: Cohort) -> dict[int, date]:
    frame = cohort_persons(definition, db).execute()
    pairs = zip(frame["person_id"], frame["index_date"], strict=True)
    return {int(p): pd.Timestamp(d).date() for p, d in pairs}


PEOPLE = [(1, MALE, 1960), (2, FEMALE, 1960), (3, MALE, 1960), (4, FEMALE, 1960)]


def test_descendants_are_included_by_default(make_db: MakeDb) -> None:
    db = make_db(
        OmopRows(
            person=PEOPLE,
            condition=[
                (1, LUNG_CANCER, "2015-01-01"),  # the concept itself
                (2, SMALL_CELL, "2015-01-01"),  # a descendant
                (3, ASTHMA, "2015-01-01"),  # unrelated
            ],
            concept_ancestor=[(LUNG_CANCER, LUNG_CANCER), (LUNG_CANCER, SMALL_CELL)],
        )
    )
    assert persons(db, cohort({"domain": "condition", "concepts": [LUNG_CANCER]})) == {1, 2}


def test_descendants_false_matches_the_named_concepts_only(make_db: MakeDb) -> None:
    db = make_db(
        OmopRows(
            person=PEOPLE,
            condition=[(1, LUNG_CANCER, "2015-01-01"), (2, SMALL_CELL, "2015-01-01")],
            concept_ancestor=[(LUNG_CANCER, SMALL_CELL)],
        )
    )
    criterion = {"domain": "condition", "concepts": [LUNG_CANCER], "descendants": False}
    assert persons(db, cohort(criterion)) == {1}


def test_a_concept_matches_itself_without_a_self_row_in_concept_ancestor(
    make_db: MakeDb,
) -> None:
    # OMOP keeps (c, c) rows only for standard concepts; a named concept still matches.
    db = make_db(
        OmopRows(person=PEOPLE, condition=[(1, LUNG_CANCER, "2015-01-01")], concept_ancestor=[])
    )
    assert persons(db, cohort({"domain": "condition", "concepts": [LUNG_CANCER]})) == {1}


def test_concepts_of_one_criterion_are_alternatives(make_db: MakeDb) -> None:
    db = make_db(
        OmopRows(
            person=PEOPLE,
            condition=[(1, LUNG_CANCER, "2015-01-01"), (2, ASTHMA, "2015-01-01")],
        )
    )
    criterion = {"domain": "condition", "concepts": [LUNG_CANCER, ASTHMA]}
    assert persons(db, cohort(criterion)) == {1, 2}


def test_window_bounds_are_inclusive(make_db: MakeDb) -> None:
    db = make_db(
        OmopRows(
            person=PEOPLE,
            drug=[
                (1, STATIN, "2009-12-31"),  # the day before the window
                (2, STATIN, "2010-01-01"),  # its first day
                (3, STATIN, "2020-12-31"),  # its last day
                (4, STATIN, "2021-01-01"),  # the day after
            ],
        )
    )
    window = {"start": "2010-01-01", "end": "2020-12-31"}
    assert persons(db, cohort({"domain": "drug", "concepts": [STATIN], "window": window})) == {
        2,
        3,
    }


def test_a_window_may_be_open_at_one_end(make_db: MakeDb) -> None:
    db = make_db(
        OmopRows(
            person=PEOPLE,
            procedure=[(1, CT_CHEST, "1999-01-01"), (2, CT_CHEST, "2030-01-01")],
        )
    )
    since_2000 = {"domain": "procedure", "concepts": [CT_CHEST], "window": {"start": "2000-01-01"}}
    until_2000 = {"domain": "procedure", "concepts": [CT_CHEST], "window": {"end": "2000-01-01"}}
    assert persons(db, cohort(since_2000)) == {2}
    assert persons(db, cohort(until_2000)) == {1}


def test_measurement_value_range_is_inclusive_and_missing_values_never_match(
    make_db: MakeDb,
) -> None:
    db = make_db(
        OmopRows(
            person=PEOPLE,
            measurement=[
                (1, BMI, "2015-01-01", 29.99, KG_PER_M2),
                (2, BMI, "2015-01-01", 30.0, KG_PER_M2),  # on the lower bound
                (3, BMI, "2015-01-01", 40.0, KG_PER_M2),  # on the upper bound
                (4, BMI, "2015-01-01", None, KG_PER_M2),  # no value
            ],
        )
    )
    in_range = {"domain": "measurement", "concepts": [BMI], "value": {"min": 30, "max": 40}}
    at_least_35 = {"domain": "measurement", "concepts": [BMI], "value": {"min": 35}}
    assert persons(db, cohort(in_range)) == {2, 3}
    assert persons(db, cohort(at_least_35)) == {3}


def test_measurement_units_must_match_when_given(make_db: MakeDb) -> None:
    db = make_db(
        OmopRows(
            person=PEOPLE,
            measurement=[
                (1, BMI, "2015-01-01", 35.0, KG_PER_M2),
                (2, BMI, "2015-01-01", 35.0, PERCENT),  # right value, wrong unit
                (3, BMI, "2015-01-01", 35.0, None),  # no unit recorded
            ],
        )
    )
    any_unit = {"domain": "measurement", "concepts": [BMI]}
    kg_per_m2 = {"domain": "measurement", "concepts": [BMI], "units": [KG_PER_M2]}
    assert persons(db, cohort(any_unit)) == {1, 2, 3}
    assert persons(db, cohort(kg_per_m2)) == {1}


def test_value_and_unit_must_hold_for_the_same_measurement(make_db: MakeDb) -> None:
    db = make_db(
        OmopRows(
            person=PEOPLE,
            measurement=[
                (1, BMI, "2015-01-01", 35.0, PERCENT),  # value fits, unit does not
                (1, BMI, "2016-01-01", 50.0, KG_PER_M2),  # unit fits, value does not
                (2, BMI, "2015-01-01", 35.0, KG_PER_M2),
            ],
        )
    )
    criterion = {
        "domain": "measurement",
        "concepts": [BMI],
        "value": {"min": 30, "max": 40},
        "units": [KG_PER_M2],
    }
    assert persons(db, cohort(criterion)) == {2}


def test_observation_value_concepts(make_db: MakeDb) -> None:
    db = make_db(
        OmopRows(
            person=PEOPLE,
            observation=[
                (1, SMOKING, "2015-01-01", CURRENT_SMOKER),
                (2, SMOKING, "2015-01-01", NEVER_SMOKER),
                (3, SMOKING, "2015-01-01", None),
            ],
        )
    )
    smokers = {"domain": "observation", "concepts": [SMOKING], "value_concepts": [CURRENT_SMOKER]}
    anyone_asked = {"domain": "observation", "concepts": [SMOKING]}
    assert persons(db, cohort(smokers)) == {1}
    assert persons(db, cohort(anyone_asked)) == {1, 2, 3}


def test_every_inclusion_criterion_must_match(make_db: MakeDb) -> None:
    db = make_db(
        OmopRows(
            person=PEOPLE,
            condition=[(1, LUNG_CANCER, "2015-01-01"), (2, LUNG_CANCER, "2015-01-01")],
            procedure=[(2, CT_CHEST, "2016-01-01"), (3, CT_CHEST, "2016-01-01")],
        )
    )
    both = cohort(
        {"domain": "condition", "concepts": [LUNG_CANCER]},
        {"domain": "procedure", "concepts": [CT_CHEST]},
    )
    assert persons(db, both) == {2}


def test_an_exclusion_criterion_removes_persons_with_a_matching_event(make_db: MakeDb) -> None:
    db = make_db(
        OmopRows(
            person=PEOPLE,
            condition=[
                (1, LUNG_CANCER, "2015-01-01"),
                (2, LUNG_CANCER, "2015-01-01"),
                (2, ASTHMA, "2012-01-01"),  # excluded: asthma before 2014
                (3, LUNG_CANCER, "2015-01-01"),
                (3, ASTHMA, "2018-01-01"),  # kept: asthma outside the exclusion window
            ],
        )
    )
    definition = cohort(
        {"domain": "condition", "concepts": [LUNG_CANCER]},
        {
            "domain": "condition",
            "concepts": [ASTHMA],
            "window": {"end": "2013-12-31"},
            "exclude": True,
        },
    )
    assert persons(db, definition) == {1, 3}


def test_sex(make_db: MakeDb) -> None:
    db = make_db(
        OmopRows(
            person=[*PEOPLE, (5, 0, 1960)],  # 0: gender not recorded
            observation_period=[(p, "2010-01-01", "2020-12-31") for p in (1, 2, 3, 4, 5)],
        )
    )
    assert persons(db, cohort(sex=["female"])) == {2, 4}
    assert persons(db, cohort(sex=["male"])) == {1, 3}
    assert persons(db, cohort(sex=["female", "male"])) == {1, 2, 3, 4}
    assert persons(db, cohort()) == {1, 2, 3, 4, 5}


def test_age_at_first_event_index_is_year_of_index_minus_year_of_birth(make_db: MakeDb) -> None:
    db = make_db(
        OmopRows(
            person=[(1, MALE, 1960), (2, MALE, 1965), (3, MALE, 1954)],
            condition=[
                (1, LUNG_CANCER, "2015-12-31"),  # 55 in 2015, whatever the birthday
                (1, LUNG_CANCER, "2030-01-01"),  # a later event does not move the index
                (2, LUNG_CANCER, "2019-06-01"),  # 54
                (3, LUNG_CANCER, "2019-01-01"),  # 65
            ],
        )
    )
    definition = cohort(
        {"domain": "condition", "concepts": [LUNG_CANCER]}, age={"min": 55, "max": 65}
    )
    assert index_dates(db, definition) == {1: date(2015, 12, 31), 3: date(2019, 1, 1)}


def test_a_fixed_index_gives_everyone_the_same_date(make_db: MakeDb) -> None:
    db = make_db(
        OmopRows(
            person=[(1, MALE, 1960), (2, MALE, 1965)],
            condition=[(1, LUNG_CANCER, "2030-01-01"), (2, LUNG_CANCER, "2030-01-01")],
        )
    )
    definition = cohort(
        {"domain": "condition", "concepts": [LUNG_CANCER]},
        index={"type": "fixed", "date": "2020-01-01"},
        age={"min": 58, "max": 60},  # 60 and 55 in 2020, though 70 and 65 at their events
    )
    assert index_dates(db, definition) == {1: date(2020, 1, 1)}


def test_the_index_may_be_the_first_event_of_a_later_criterion_within_its_window(
    make_db: MakeDb,
) -> None:
    db = make_db(
        OmopRows(
            person=[(1, MALE, 1960)],
            condition=[(1, LUNG_CANCER, "2001-01-01")],
            procedure=[(1, CT_CHEST, "2005-01-01"), (1, CT_CHEST, "2012-03-04")],
        )
    )
    definition = cohort(
        {"domain": "condition", "concepts": [LUNG_CANCER]},
        {"domain": "procedure", "concepts": [CT_CHEST], "window": {"start": "2010-01-01"}},
        index={"type": "first_event", "criterion": 1},
    )
    assert index_dates(db, definition) == {1: date(2012, 3, 4)}


def test_without_inclusion_criteria_the_index_is_the_first_observation_period_start(
    make_db: MakeDb,
) -> None:
    db = make_db(
        OmopRows(
            person=[(1, MALE, 1960), (2, MALE, 1960), (3, MALE, 1960)],
            observation_period=[
                (1, "2012-01-01", "2014-12-31"),
                (1, "2010-05-05", "2011-12-31"),  # the first period
                (2, "2016-01-01", "2020-12-31"),  # 56 at index: too old
                # person 3 has no observation period, so no index date
            ],
            condition=[(1, ASTHMA, "2000-01-01")],
        )
    )
    exclusion_only = cohort(
        {"domain": "condition", "concepts": [ASTHMA], "exclude": True}, age={"max": 55}
    )
    assert index_dates(db, cohort(age={"max": 55})) == {1: date(2010, 5, 5)}
    assert index_dates(db, exclusion_only) == {}


def test_a_person_with_many_matching_events_counts_once(make_db: MakeDb) -> None:
    db = make_db(
        OmopRows(
            person=PEOPLE,
            condition=[(1, LUNG_CANCER, f"201{n}-01-01") for n in range(5)]
            + [(2, SMALL_CELL, "2015-01-01"), (2, LUNG_CANCER, "2015-01-01")],
            concept_ancestor=[(LUNG_CANCER, SMALL_CELL)],
        )
    )
    assert count_persons(db, cohort({"domain": "condition", "concepts": [LUNG_CANCER]})) == 2


def test_unknown_concepts_are_refused_and_named(make_db: MakeDb) -> None:
    db = make_db(OmopRows(person=PEOPLE, condition=[(1, LUNG_CANCER, "2015-01-01")]))
    definition = cohort(
        {"domain": "condition", "concepts": [LUNG_CANCER, 999_999_001]},
        {"domain": "measurement", "concepts": [999_999_003], "units": [999_999_002]},
    )
    assert not can_use_concepts(definition, db)
    with pytest.raises(UnknownConceptError) as raised:
        count_persons(db, definition)
    assert raised.value.concept_ids == (999_999_001, 999_999_002, 999_999_003)
    assert str(raised.value) == "unknown concept ids: 999999001, 999999002, 999999003"


def test_known_concepts_absent_from_the_data_count_zero(make_db: MakeDb) -> None:
    db = make_db(OmopRows(person=PEOPLE, concepts=[LUNG_CANCER]))
    assert count_persons(db, cohort({"domain": "condition", "concepts": [LUNG_CANCER]})) == 0
