"""OMOP CDM v5.4 table definitions for the tables fivesafes reads.

Column names, order and nullability follow the OHDSI CommonDataModel v5.4 DDL
(``inst/ddl/5.4/duckdb/OMOPCDM_duckdb_5.4_ddl.sql``). Two deliberate type mappings
for DuckDB:

* the spec's ``NUMERIC`` is declared ``DOUBLE``: DuckDB reads a bare ``NUMERIC`` as
  ``DECIMAL(18,3)``, which would round lab values and surface as decimals in Ibis;
* ``varchar(n)`` and ``TEXT`` are declared ``VARCHAR`` (DuckDB ignores the length).

Identifiers stay ``INTEGER`` (32-bit), as in the spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["OMOP_TABLES", "OMOP_VERSION", "Column", "create_table_ddl", "omop_ddl"]

OMOP_VERSION: Final = "5.4"


@dataclass(frozen=True)
class Column:
    """One column of an OMOP CDM table."""

    name: str
    type: str  # DuckDB SQL type
    nullable: bool = True


def _c(name: str, type_: str, *, required: bool = False) -> Column:
    return Column(name, type_, nullable=not required)


_I, _D, _TS, _F, _S = "INTEGER", "DATE", "TIMESTAMP", "DOUBLE", "VARCHAR"


OMOP_TABLES: Final[dict[str, list[Column]]] = {
    "person": [
        _c("person_id", _I, required=True),
        _c("gender_concept_id", _I, required=True),
        _c("year_of_birth", _I, required=True),
        _c("month_of_birth", _I),
        _c("day_of_birth", _I),
        _c("birth_datetime", _TS),
        _c("race_concept_id", _I, required=True),
        _c("ethnicity_concept_id", _I, required=True),
        _c("location_id", _I),
        _c("provider_id", _I),
        _c("care_site_id", _I),
        _c("person_source_value", _S),
        _c("gender_source_value", _S),
        _c("gender_source_concept_id", _I),
        _c("race_source_value", _S),
        _c("race_source_concept_id", _I),
        _c("ethnicity_source_value", _S),
        _c("ethnicity_source_concept_id", _I),
    ],
    "observation_period": [
        _c("observation_period_id", _I, required=True),
        _c("person_id", _I, required=True),
        _c("observation_period_start_date", _D, required=True),
        _c("observation_period_end_date", _D, required=True),
        _c("period_type_concept_id", _I, required=True),
    ],
    "visit_occurrence": [
        _c("visit_occurrence_id", _I, required=True),
        _c("person_id", _I, required=True),
        _c("visit_concept_id", _I, required=True),
        _c("visit_start_date", _D, required=True),
        _c("visit_start_datetime", _TS),
        _c("visit_end_date", _D, required=True),
        _c("visit_end_datetime", _TS),
        _c("visit_type_concept_id", _I, required=True),
        _c("provider_id", _I),
        _c("care_site_id", _I),
        _c("visit_source_value", _S),
        _c("visit_source_concept_id", _I),
        _c("admitted_from_concept_id", _I),
        _c("admitted_from_source_value", _S),
        _c("discharged_to_concept_id", _I),
        _c("discharged_to_source_value", _S),
        _c("preceding_visit_occurrence_id", _I),
    ],
    "condition_occurrence": [
        _c("condition_occurrence_id", _I, required=True),
        _c("person_id", _I, required=True),
        _c("condition_concept_id", _I, required=True),
        _c("condition_start_date", _D, required=True),
        _c("condition_start_datetime", _TS),
        _c("condition_end_date", _D),
        _c("condition_end_datetime", _TS),
        _c("condition_type_concept_id", _I, required=True),
        _c("condition_status_concept_id", _I),
        _c("stop_reason", _S),
        _c("provider_id", _I),
        _c("visit_occurrence_id", _I),
        _c("visit_detail_id", _I),
        _c("condition_source_value", _S),
        _c("condition_source_concept_id", _I),
        _c("condition_status_source_value", _S),
    ],
    "drug_exposure": [
        _c("drug_exposure_id", _I, required=True),
        _c("person_id", _I, required=True),
        _c("drug_concept_id", _I, required=True),
        _c("drug_exposure_start_date", _D, required=True),
        _c("drug_exposure_start_datetime", _TS),
        _c("drug_exposure_end_date", _D, required=True),
        _c("drug_exposure_end_datetime", _TS),
        _c("verbatim_end_date", _D),
        _c("drug_type_concept_id", _I, required=True),
        _c("stop_reason", _S),
        _c("refills", _I),
        _c("quantity", _F),
        _c("days_supply", _I),
        _c("sig", _S),
        _c("route_concept_id", _I),
        _c("lot_number", _S),
        _c("provider_id", _I),
        _c("visit_occurrence_id", _I),
        _c("visit_detail_id", _I),
        _c("drug_source_value", _S),
        _c("drug_source_concept_id", _I),
        _c("route_source_value", _S),
        _c("dose_unit_source_value", _S),
    ],
    "procedure_occurrence": [
        _c("procedure_occurrence_id", _I, required=True),
        _c("person_id", _I, required=True),
        _c("procedure_concept_id", _I, required=True),
        _c("procedure_date", _D, required=True),
        _c("procedure_datetime", _TS),
        _c("procedure_end_date", _D),
        _c("procedure_end_datetime", _TS),
        _c("procedure_type_concept_id", _I, required=True),
        _c("modifier_concept_id", _I),
        _c("quantity", _I),
        _c("provider_id", _I),
        _c("visit_occurrence_id", _I),
        _c("visit_detail_id", _I),
        _c("procedure_source_value", _S),
        _c("procedure_source_concept_id", _I),
        _c("modifier_source_value", _S),
    ],
    "measurement": [
        _c("measurement_id", _I, required=True),
        _c("person_id", _I, required=True),
        _c("measurement_concept_id", _I, required=True),
        _c("measurement_date", _D, required=True),
        _c("measurement_datetime", _TS),
        _c("measurement_time", _S),
        _c("measurement_type_concept_id", _I, required=True),
        _c("operator_concept_id", _I),
        _c("value_as_number", _F),
        _c("value_as_concept_id", _I),
        _c("unit_concept_id", _I),
        _c("range_low", _F),
        _c("range_high", _F),
        _c("provider_id", _I),
        _c("visit_occurrence_id", _I),
        _c("visit_detail_id", _I),
        _c("measurement_source_value", _S),
        _c("measurement_source_concept_id", _I),
        _c("unit_source_value", _S),
        _c("unit_source_concept_id", _I),
        _c("value_source_value", _S),
        _c("measurement_event_id", _I),
        _c("meas_event_field_concept_id", _I),
    ],
    "observation": [
        _c("observation_id", _I, required=True),
        _c("person_id", _I, required=True),
        _c("observation_concept_id", _I, required=True),
        _c("observation_date", _D, required=True),
        _c("observation_datetime", _TS),
        _c("observation_type_concept_id", _I, required=True),
        _c("value_as_number", _F),
        _c("value_as_string", _S),
        _c("value_as_concept_id", _I),
        _c("qualifier_concept_id", _I),
        _c("unit_concept_id", _I),
        _c("provider_id", _I),
        _c("visit_occurrence_id", _I),
        _c("visit_detail_id", _I),
        _c("observation_source_value", _S),
        _c("observation_source_concept_id", _I),
        _c("unit_source_value", _S),
        _c("qualifier_source_value", _S),
        _c("value_source_value", _S),
        _c("observation_event_id", _I),
        _c("obs_event_field_concept_id", _I),
    ],
    "death": [
        _c("person_id", _I, required=True),
        _c("death_date", _D, required=True),
        _c("death_datetime", _TS),
        _c("death_type_concept_id", _I),
        _c("cause_concept_id", _I),
        _c("cause_source_value", _S),
        _c("cause_source_concept_id", _I),
    ],
    "concept": [
        _c("concept_id", _I, required=True),
        _c("concept_name", _S, required=True),
        _c("domain_id", _S, required=True),
        _c("vocabulary_id", _S, required=True),
        _c("concept_class_id", _S, required=True),
        _c("standard_concept", _S),
        _c("concept_code", _S, required=True),
        _c("valid_start_date", _D, required=True),
        _c("valid_end_date", _D, required=True),
        _c("invalid_reason", _S),
    ],
    "concept_ancestor": [
        _c("ancestor_concept_id", _I, required=True),
        _c("descendant_concept_id", _I, required=True),
        _c("min_levels_of_separation", _I, required=True),
        _c("max_levels_of_separation", _I, required=True),
    ],
}


def create_table_ddl(table: str, *, schema: str | None = None) -> str:
    """Return the DuckDB ``CREATE TABLE`` statement for one OMOP table."""
    try:
        columns = OMOP_TABLES[table]
    except KeyError:
        raise KeyError(f"not an OMOP table known to fivesafes: {table!r}") from None
    name = f"{schema}.{table}" if schema else table
    body = ",\n".join(
        f"    {col.name} {col.type}{'' if col.nullable else ' NOT NULL'}" for col in columns
    )
    return f"CREATE TABLE {name} (\n{body}\n);"


def omop_ddl(*, schema: str | None = None) -> str:
    """Return the DuckDB DDL creating every table in :data:`OMOP_TABLES`."""
    return "\n".join(create_table_ddl(table, schema=schema) for table in OMOP_TABLES)
