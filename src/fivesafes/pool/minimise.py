"""What a pool needs from a node to compute each variable of the analysis catalogue, and no more.

For every variable name of :mod:`fivesafes.analyses.catalogue` this module says which OMOP
tables, which of their columns and which rows (by a concept set) a pool must hold to compute the
variable exactly as the catalogue defines it; the numbers are the catalogue's own constants.

| variable | table: columns | rows |
| --- | --- | --- |
| always | person: person_id; observation_period: person_id, start and end dates | every row |
| `age` | person: year, month and day of birth, birth_datetime | |
| `sex` | person: gender_concept_id | |
| `smoker` | observation: concept, date, value_as_concept_id | the smoking status concept itself |
| `bmi` | measurement: concept, date, value_as_number | the BMI concept itself |
| conditions | condition_occurrence: concept, start date | the concept or a descendant |
| drugs | drug_exposure: concept, start date | the concept or a descendant |
| `visits_past_year` | visit_occurrence: start date | every visit |
| `time_to_lung_cancer` | condition_occurrence (lung cancer, as above) and observation_period | |

No event id, provider, care site, location, free text or source value is ever released. In a
released table ``person_id`` holds the person's link id (a string), never the node's id; the
pool numbers persons and events afresh (``fivesafes.pool.merge``). The vocabulary rows of the
concepts used (``concept`` and ``concept_ancestor``) go with the rows: they are not patient data,
and the pool needs them to find descendants and to pass the platform's concept checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

from fivesafes.analyses.catalogue import (
    BMI,
    CONDITIONS,
    DRUGS,
    SMOKING_LEVELS,
    SMOKING_STATUS,
    VARIABLES,
)
from fivesafes.cohorts.criteria import SEX_CONCEPTS
from fivesafes.data.omop import OMOP_TABLES

VOCABULARY = ("concept", "concept_ancestor")
"""The vocabulary tables released with every extract, every column of each."""

BIRTH = ("year_of_birth", "month_of_birth", "day_of_birth", "birth_datetime")
PERIOD = ("observation_period_start_date", "observation_period_end_date")

CLINICAL = (
    "observation_period",
    "visit_occurrence",
    "condition_occurrence",
    "drug_exposure",
    "measurement",
    "observation",
)
"""The tables of data a pool may hold besides person."""

EVENT_ID = {table: OMOP_TABLES[table][0].name for table in CLINICAL}
"""Each released clinical table's own id column: never released, numbered afresh by the pool."""

_ARROW = {
    "INTEGER": pa.int32(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "DOUBLE": pa.float64(),
    "VARCHAR": pa.string(),
}


@dataclass(frozen=True)
class ConceptSet:
    """Rows of one of ``concepts``, or (with ``descendants``) of any of their descendants in
    the node's ``concept_ancestor``, as the catalogue matches them."""

    concepts: tuple[int, ...]
    descendants: bool


@dataclass(frozen=True)
class TableNeed:
    """What one table must release: ``columns`` (in the CDM's order, ``person_id`` first), of
    the rows whose ``concept_column`` is in one of ``sets`` (``sets`` None: every row of the
    released persons)."""

    table: str
    columns: tuple[str, ...]
    concept_column: str | None = None
    sets: tuple[ConceptSet, ...] | None = None


def _variable_needs(name: str) -> list[TableNeed]:
    """The tables one variable reads (beyond person and observation_period, always released)."""
    columns: tuple[str, ...]
    if name == "age":
        return [TableNeed("person", BIRTH)]
    if name == "sex":
        return [TableNeed("person", ("gender_concept_id",))]
    if name == "smoker":
        columns = ("observation_concept_id", "observation_date", "value_as_concept_id")
        exact = (ConceptSet((SMOKING_STATUS,), descendants=False),)
        return [TableNeed("observation", columns, "observation_concept_id", exact)]
    if name == "bmi":
        columns = ("measurement_concept_id", "measurement_date", "value_as_number")
        exact = (ConceptSet((BMI,), descendants=False),)
        return [TableNeed("measurement", columns, "measurement_concept_id", exact)]
    if name in CONDITIONS or name == "time_to_lung_cancer":
        concept = CONDITIONS.get(name, CONDITIONS["lung_cancer"])
        columns = ("condition_concept_id", "condition_start_date")
        family = (ConceptSet((concept,), descendants=True),)
        return [TableNeed("condition_occurrence", columns, "condition_concept_id", family)]
    if name in DRUGS:
        columns = ("drug_concept_id", "drug_exposure_start_date")
        family = (ConceptSet((DRUGS[name],), descendants=True),)
        return [TableNeed("drug_exposure", columns, "drug_concept_id", family)]
    if name == "visits_past_year":
        return [TableNeed("visit_occurrence", ("visit_start_date",))]
    raise ValueError(f"{name!r} is not a variable of the analysis catalogue")


def check_variables(variables: Iterable[str]) -> tuple[str, ...]:
    """``variables`` without repeats, in their order; a ValueError for an empty list or a name
    the catalogue does not define (names are public, so the message may list them)."""
    names = tuple(dict.fromkeys(variables))
    if not names:
        raise ValueError("an extract needs at least one variable of the analysis catalogue")
    unknown = sorted(set(names) - set(VARIABLES))
    if unknown:
        raise ValueError(f"not variables of the analysis catalogue: {', '.join(unknown)}")
    return names


def needs(variables: Iterable[str]) -> dict[str, TableNeed]:
    """Per table, what the variables need together: the union of their columns and of their
    concept sets (every row where any variable needs every row). Person and observation_period
    are always released."""
    parts = [TableNeed("person", ()), TableNeed("observation_period", PERIOD)]
    for name in check_variables(variables):
        parts += _variable_needs(name)
    joined: dict[str, TableNeed] = {}
    for part in parts:
        before = joined.get(part.table)
        if before is None:
            joined[part.table] = part
            continue
        sets = None
        if before.sets is not None and part.sets is not None:
            sets = tuple(dict.fromkeys(before.sets + part.sets))
        column = before.concept_column or part.concept_column
        joined[part.table] = TableNeed(part.table, before.columns + part.columns, column, sets)
    return {table: _in_cdm_order(need) for table, need in joined.items()}


def _in_cdm_order(need: TableNeed) -> TableNeed:
    wanted = {"person_id", *need.columns}
    columns = tuple(c.name for c in OMOP_TABLES[need.table] if c.name in wanted)
    return TableNeed(need.table, columns, need.concept_column, need.sets)


def value_concepts(variables: Iterable[str]) -> tuple[int, ...]:
    """Concepts the variables read as values, not as rows (gender, smoking status levels):
    their vocabulary rows are released, without descendants."""
    names = check_variables(variables)
    values: list[int] = []
    if "sex" in names:
        values += SEX_CONCEPTS.values()
    if "smoker" in names:
        values += SMOKING_LEVELS
    return tuple(values)


def released_columns(table: str, variables: Iterable[str]) -> tuple[str, ...]:
    """The columns an extract of ``variables`` holds for ``table`` (none: not released)."""
    if table in VOCABULARY:
        return tuple(c.name for c in OMOP_TABLES[table])
    need = needs(variables).get(table)
    return need.columns if need is not None else ()


def released_tables(variables: Iterable[str]) -> tuple[str, ...]:
    """The tables an extract of ``variables`` holds, in a fixed order: the data's, then the
    vocabulary's."""
    return (*needs(variables), *VOCABULARY)


def arrow_schema(table: str, columns: Iterable[str]) -> pa.Schema:
    """The Arrow schema of a released table: the CDM's types, ``person_id`` a string (the link
    id) in every table but the vocabulary's."""
    types = {c.name: c.type for c in OMOP_TABLES[table]}
    fields = []
    for name in columns:
        kind = pa.string() if name == "person_id" else _ARROW[types[name]]
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def required(table: str, column: str) -> bool:
    """Whether the CDM requires ``column`` of ``table`` (NOT NULL in its DDL)."""
    return any(c.name == column and not c.nullable for c in OMOP_TABLES[table])
