"""The thin view layer every query at a node reads the OMOP CDM through.

Whatever engine holds the data (DuckDB, PostgreSQL, Spark) and whichever CDM version it was
written in, each table is seen the same way (``OmopDatabase.table``):

1. **Column names in lower case** (some CDMs, such as Eunomia's, store them upper-case).
2. **CDM 5.3 read as 5.4**: the columns 5.4 renamed are renamed, and the columns 5.4 added are
   added as typed NULLs, so one query serves both versions (table below).
3. **Opt-outs**: a person in the node's opt-out list (the table ``fivesafes_opt_out`` next to
   the CDM, one ``person_id`` per row; ``fivesafes node opt-out load``) is removed from every
   table that has a ``person_id``, before any cohort, variable or analysis sees it. Every
   query the platform runs, and every cohort compiled from OHDSI Circe JSON, reads tables
   only through this layer, on every engine.

| table                 | CDM 5.3 column                 | CDM 5.4 column               |
| --------------------- | ------------------------------ | ---------------------------- |
| visit_occurrence      | admitting_source_concept_id    | admitted_from_concept_id     |
|                       | admitting_source_value         | admitted_from_source_value   |
|                       | discharge_to_concept_id        | discharged_to_concept_id     |
|                       | discharge_to_source_value      | discharged_to_source_value   |
| visit_detail          | (the four above, likewise)     |                              |
|                       | visit_detail_parent_id         | parent_visit_detail_id       |
| procedure_occurrence  | (none)                         | procedure_end_date,          |
|                       |                                | procedure_end_datetime       |
| measurement           | (none)                         | unit_source_concept_id,      |
|                       |                                | measurement_event_id,        |
|                       |                                | meas_event_field_concept_id  |
| observation           | (none)                         | value_source_value,          |
|                       |                                | observation_event_id,        |
|                       |                                | obs_event_field_concept_id   |
| device_exposure       | (none)                         | production_id,               |
|                       |                                | unit_concept_id,             |
|                       |                                | unit_source_value,           |
|                       |                                | unit_source_concept_id       |
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import ibis

OPT_OUT_TABLE: Final = "fivesafes_opt_out"

PERSON_TABLES: Final = frozenset(
    {
        "person", "observation_period", "visit_occurrence", "visit_detail",
        "condition_occurrence", "drug_exposure", "procedure_occurrence", "device_exposure",
        "measurement", "observation", "death", "note", "specimen", "payer_plan_period",
        "drug_era", "dose_era", "condition_era", "episode",
    }
)  # fmt: skip
"""CDM tables with a ``person_id``: the ones an opt-out removes rows from."""

_VISIT_53: Final = {
    "admitting_source_concept_id": "admitted_from_concept_id",
    "admitting_source_value": "admitted_from_source_value",
    "discharge_to_concept_id": "discharged_to_concept_id",
    "discharge_to_source_value": "discharged_to_source_value",
}
RENAMED_IN_54: Final[dict[str, dict[str, str]]] = {
    "visit_occurrence": _VISIT_53,
    "visit_detail": {**_VISIT_53, "visit_detail_parent_id": "parent_visit_detail_id"},
}
"""Per table, CDM 5.3 column name -> its CDM 5.4 name."""

ADDED_IN_54: Final[dict[str, dict[str, str]]] = {
    "procedure_occurrence": {"procedure_end_date": "date", "procedure_end_datetime": "timestamp"},
    "measurement": {
        "unit_source_concept_id": "int32",
        "measurement_event_id": "int64",
        "meas_event_field_concept_id": "int32",
    },
    "observation": {
        "value_source_value": "string",
        "observation_event_id": "int64",
        "obs_event_field_concept_id": "int32",
    },
    "device_exposure": {
        "production_id": "string",
        "unit_concept_id": "int32",
        "unit_source_value": "string",
        "unit_source_concept_id": "int32",
    },
}
"""Per table, columns CDM 5.4 added (with their Ibis types): NULL when reading CDM 5.3."""


def cdm_view(table: ibis.Table, name: str, opted_out: ibis.Table | None) -> ibis.Table:
    """``table`` (the CDM table ``name`` as stored) as every query at the node sees it."""
    import ibis

    lower = {column.lower(): column for column in table.columns}
    if any(new != old for new, old in lower.items()):
        table = table.rename(lower)
    renamed = {new: old for old, new in RENAMED_IN_54.get(name, {}).items() if old in lower}
    if renamed:
        table = table.rename(renamed)
    missing = {c: t for c, t in ADDED_IN_54.get(name, {}).items() if c not in table.columns}
    if missing:
        table = table.mutate(**{c: ibis.null(t) for c, t in missing.items()})
    if opted_out is not None and name in PERSON_TABLES:
        # NOT IN (subquery), not an anti-join: Ibis 12 writes some anti-joins for PostgreSQL
        # as "LEFT ANTI JOIN", which PostgreSQL does not know; the list holds no NULL
        table = table.filter(table.person_id.notin(opted_out.person_id))
    return table


def opt_out_list(table: ibis.Table) -> ibis.Table:
    """The opt-out table as a one-column relation of distinct ``person_id``."""
    lower = {column.lower(): column for column in table.columns}
    if "person_id" not in lower:
        raise ValueError(f"the opt-out table {OPT_OUT_TABLE} has no person_id column")
    person_id = table[lower["person_id"]]
    return table.filter(person_id.notnull()).select(person_id=person_id).distinct()
