"""At a pool each person's dates are shifted by their own amount, so a cohort that names a
calendar date would mean a different day for each person: the pool's node refuses such a task
(``calendar_date_at_pool``), and any other node runs it.

* ``Cohort.calendar_dates``: a fixed index date, a criterion's window (an open bound too);
  nothing for a cohort indexed on a person's first event;
* ``CirceCohort.calendar_dates``: an occurrence's start date (a ``DateRange``), the censor
  window; nothing for a definition without them or with them empty;
* ``analyses.parameters.cohorts_in`` finds a linked count's cohorts inside its parts;
* the node's policy: refused at a pool, run elsewhere; a cohort without calendar dates runs at
  the pool.
"""

from __future__ import annotations

import pytest
from test_policy import NOW, approval, task

from fivesafes.analyses.linked_count.models import LinkedCountParameters
from fivesafes.analyses.parameters import cohorts_in
from fivesafes.cohorts.circe import CirceCohort
from fivesafes.cohorts.criteria import Cohort
from fivesafes.node.policy import Refusal, check_task
from fivesafes.protocol.runs import REASON_TEXT, ReasonCode

CONDITION = {"domain": "condition", "concepts": [201820]}


def test_a_cohorts_calendar_dates_are_named():
    assert Cohort.model_validate({"name": "c", "criteria": [CONDITION]}).calendar_dates() == []
    fixed = {"name": "c", "index": {"type": "fixed", "date": "2020-01-01"}}
    assert Cohort.model_validate(fixed).calendar_dates() == ["a fixed index date"]
    since = {**CONDITION, "window": {"start": "2019-01-01"}}
    opened = {"name": "c", "criteria": [CONDITION, since]}
    assert Cohort.model_validate(opened).calendar_dates() == ["criterion 1's window"]
    first = {"name": "c", "index": {"type": "first_event", "criterion": 0}, "criteria": [CONDITION]}
    assert Cohort.model_validate(first).calendar_dates() == []


def circe(criterion_extra: dict, **top) -> CirceCohort:
    condition = {"ConditionOccurrence": {"CodesetId": 0, **criterion_extra}}
    expression = {
        "ConceptSets": [{"id": 0, "name": "t2d", "expression": {"items": [
            {"concept": {"CONCEPT_ID": 201826}, "includeDescendants": True}]}}],
        "PrimaryCriteria": {"CriteriaList": [condition],
                            "ObservationWindow": {"PriorDays": 0, "PostDays": 0}},
        **top,
    }  # fmt: skip
    return CirceCohort(name="t2d", circe=expression)


def test_a_circe_definitions_calendar_dates_are_named():
    assert circe({}).calendar_dates() == []
    dated = circe({"OccurrenceStartDate": {"Value": "2015-01-01", "Op": "gt"}})
    assert dated.calendar_dates() == ["an occurrence's start date"]
    censored = circe({}, CensorWindow={"StartDate": "2010-01-01", "EndDate": None})
    assert censored.calendar_dates() == ["the censor window"]
    assert circe({}, CensorWindow={"StartDate": None, "EndDate": None}).calendar_dates() == []


def test_a_linked_counts_cohorts_are_found_in_its_parts():
    windowed = {"name": "w", "criteria": [{**CONDITION, "window": {"end": "2020-12-31"}}]}
    parameters = LinkedCountParameters.model_validate({"parts": [
        {"node": "north", "cohort": {"name": "n", "criteria": [CONDITION]}},
        {"node": "south", "cohort": windowed}]})  # fmt: skip
    assert [c.name for c in cohorts_in(parameters)] == ["n", "w"]


@pytest.mark.parametrize("pooled", [True, False])
def test_a_pool_refuses_a_cohort_with_a_calendar_date_and_other_nodes_run_it(pooled):
    windowed = {"name": "w", "criteria": [{**CONDITION, "window": {"start": "2019-01-01"}}]}
    dated = task(parameters={"cohort": windowed})
    if pooled:
        with pytest.raises(Refusal) as refused:
            check_task(dated, approval(), node="north", now=NOW, pooled=True)
        assert refused.value.reason == ReasonCode.CALENDAR_DATE_AT_POOL
        assert "shifted" in REASON_TEXT[ReasonCode.CALENDAR_DATE_AT_POOL]
    else:
        check_task(dated, approval(), node="north", now=NOW)
    plain = task(parameters={"cohort": {"name": "c", "criteria": [CONDITION]}})
    check_task(plain, approval(), node="north", now=NOW, pooled=pooled)
