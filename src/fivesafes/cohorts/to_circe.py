"""The platform's own cohort model written as an OHDSI Circe definition.

A cohort indexed on its first matching event translates to Circe JSON that circepy (and ATLAS)
runs to the same persons with the same index dates, so a researcher can take a cohort built
here to any OHDSI tool, and the two front ends meet in one compiled form:

| own model                                   | Circe                                             |
| ------------------------------------------- | ------------------------------------------------- |
| a criterion's concepts (``descendants``)    | a concept set (``includeDescendants``)            |
| the index criterion                         | the primary criterion; ``PrimaryCriteriaLimit``   |
|                                             | ``First`` (its earliest matching event)           |
| ``window``                                  | ``OccurrenceStartDate`` (or the domain's date)    |
| measurement ``value``, ``units``            | ``ValueAsNumber``, ``Unit``                       |
| observation ``value_concepts``              | ``ValueAsConcept``                                |
| ``sex``, ``age``                            | an inclusion rule on ``Gender`` and ``Age``       |
| every other criterion                       | an inclusion rule: at least one (or, excluded,    |
|                                             | no) matching event at any time, in or out of an   |
|                                             | observation period                                |

Circe requires the index event to lie in an observation period; the own model does not. The two
agree on data whose events lie in observation periods, as the synthetic generator's do
(``tests/unit/test_to_circe.py``). A cohort indexed on a fixed date or on the first observation
period has no Circe form (``ValueError``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fivesafes.cohorts.criteria import (
    Cohort,
    FirstEventIndex,
    MeasurementCriterion,
    ObservationCriterion,
)

GENDERS = {"female": 8532, "male": 8507}
_CIRCE_TYPE = {
    "condition": "ConditionOccurrence",
    "drug": "DrugExposure",
    "procedure": "ProcedureOccurrence",
    "measurement": "Measurement",
    "observation": "Observation",
}
_ALL_TIME = {"Start": {"Coeff": -1}, "End": {"Coeff": 1}}
_AT_LEAST_ONE = {"Type": 2, "Count": 1}
_NONE = {"Type": 0, "Count": 0}


def to_circe(cohort: Cohort) -> dict[str, Any]:
    """``cohort`` as Circe JSON; raises ``ValueError`` if it is not indexed on an event or
    has an imaging or slide criterion (Circe knows no imaging index nor slides)."""
    if "imaging" in cohort.data_domains():
        raise ValueError("a cohort with an imaging criterion has no Circe form")
    if "pathology" in cohort.data_domains():
        raise ValueError("a cohort with a slide criterion has no Circe form")
    index = cohort.effective_index()
    if not isinstance(index, FirstEventIndex):
        raise ValueError(
            "only a cohort indexed on its first matching event has a Circe form "
            f"(this one is indexed on {index.type.replace('_', ' ')})"
        )
    concept_sets = [_concept_set(n, c) for n, c in enumerate(cohort.criteria)]
    primary = _criterion(index.criterion, cohort.criteria[index.criterion])
    rules: list[dict[str, Any]] = []
    demographic = _demographic(cohort)
    if demographic:
        rules.append(_rule("sex and age at index", demographic=[demographic]))
    for n, criterion in enumerate(cohort.criteria):
        if n == index.criterion:
            continue
        windowed = {
            "Criteria": _criterion(n, criterion),
            "StartWindow": _ALL_TIME,
            "IgnoreObservationPeriod": True,
            "Occurrence": _NONE if criterion.exclude else _AT_LEAST_ONE,
        }
        verb = "without" if criterion.exclude else "with"
        rules.append(_rule(f"criterion {n}: {verb} {criterion.domain}", criteria=[windowed]))
    return {
        "title": cohort.name,
        "ConceptSets": concept_sets,
        "PrimaryCriteria": {
            "CriteriaList": [primary],
            "ObservationWindow": {"PriorDays": 0, "PostDays": 0},
            "PrimaryCriteriaLimit": {"Type": "First"},
        },
        "InclusionRules": rules,
        "QualifiedLimit": {"Type": "First"},
        "ExpressionLimit": {"Type": "First"},
        "CollapseSettings": {"CollapseType": "ERA", "EraPad": 0},
    }


def _concept_set(n: int, criterion: Any) -> dict[str, Any]:
    items = [
        {"concept": {"CONCEPT_ID": concept}, "includeDescendants": criterion.descendants}
        for concept in criterion.concepts
    ]
    return {"id": n, "name": f"criterion {n}", "expression": {"items": items}}


def _criterion(n: int, criterion: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"CodesetId": n}
    if criterion.window is not None:
        body["OccurrenceStartDate"] = _date_range(criterion.window.start, criterion.window.end)
    if isinstance(criterion, MeasurementCriterion):
        if criterion.value is not None:
            body["ValueAsNumber"] = _number_range(criterion.value.min, criterion.value.max)
        if criterion.units:
            body["Unit"] = [{"CONCEPT_ID": u} for u in criterion.units]
    if isinstance(criterion, ObservationCriterion) and criterion.value_concepts:
        body["ValueAsConcept"] = [{"CONCEPT_ID": v} for v in criterion.value_concepts]
    return {_CIRCE_TYPE[criterion.domain]: body}


def _demographic(cohort: Cohort) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if cohort.sex is not None:
        found["Gender"] = [{"CONCEPT_ID": GENDERS[s]} for s in cohort.sex]
    if cohort.age is not None and (cohort.age.min is not None or cohort.age.max is not None):
        found["Age"] = _number_range(cohort.age.min, cohort.age.max)
    return found


def _rule(
    name: str,
    *,
    criteria: list[dict[str, Any]] | None = None,
    demographic: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    expression = {
        "Type": "ALL",
        "CriteriaList": criteria or [],
        "DemographicCriteriaList": demographic or [],
        "Groups": [],
    }
    return {"name": name, "expression": expression}


def _number_range(low: float | None, high: float | None) -> dict[str, Any]:
    if low is not None and high is not None:
        return {"Value": low, "Extent": high, "Op": "bt"}
    if low is not None:
        return {"Value": low, "Op": "gte"}
    return {"Value": high, "Op": "lte"}


def _date_range(start: date | None, end: date | None) -> dict[str, Any]:
    if start is not None and end is not None:
        return {"Value": start.isoformat(), "Extent": end.isoformat(), "Op": "bt"}
    if start is not None:
        return {"Value": start.isoformat(), "Op": "gte"}
    assert end is not None, "a window has at least one bound"
    return {"Value": end.isoformat(), "Op": "lte"}
