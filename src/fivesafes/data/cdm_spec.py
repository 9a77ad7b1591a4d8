"""Every table of the OMOP CDM v5.4, as the loader (``fivesafes node load-omop``) writes them.

:data:`fivesafes.data.omop.OMOP_TABLES` holds the tables fivesafes reads (and the synthetic
generator writes); this module adds the rest of the specification so that a loaded node holds
a complete CDM: every clinical, health-system, derived, metadata and vocabulary table of the
OHDSI CommonDataModel v5.4 DDL (``inst/ddl/5.4``), in the specification's order. The results
tables (``cohort``, ``cohort_definition``) are not part of it.

Types follow :mod:`fivesafes.data.omop`: ``NUMERIC`` is ``DOUBLE``, ``varchar(n)`` and ``TEXT``
are ``VARCHAR``, identifiers are 32-bit ``INTEGER`` as in the specification.
"""

from __future__ import annotations

from typing import Final

from fivesafes.data.omop import OMOP_TABLES, Column

__all__ = ["CDM54_TABLES", "PERSON_KEYED", "duckdb_table_ddl", "postgres_column_type"]

_I, _D, _TS, _F, _S = "INTEGER", "DATE", "TIMESTAMP", "DOUBLE", "VARCHAR"


def _c(name: str, type_: str, *, required: bool = False) -> Column:
    return Column(name, type_, nullable=not required)


def _ids(*names: str) -> list[Column]:
    """Optional integer columns (mostly ``*_concept_id`` and foreign keys)."""
    return [_c(name, _I) for name in names]


def _texts(*names: str) -> list[Column]:
    """Optional text columns (mostly ``*_source_value``)."""
    return [_c(name, _S) for name in names]


_MORE_TABLES: Final[dict[str, list[Column]]] = {
    "visit_detail": [
        _c("visit_detail_id", _I, required=True),
        _c("person_id", _I, required=True),
        _c("visit_detail_concept_id", _I, required=True),
        _c("visit_detail_start_date", _D, required=True),
        _c("visit_detail_start_datetime", _TS),
        _c("visit_detail_end_date", _D, required=True),
        _c("visit_detail_end_datetime", _TS),
        _c("visit_detail_type_concept_id", _I, required=True),
        *_ids("provider_id", "care_site_id"),
        _c("visit_detail_source_value", _S),
        _c("visit_detail_source_concept_id", _I),
        _c("admitted_from_concept_id", _I),
        _c("admitted_from_source_value", _S),
        _c("discharged_to_source_value", _S),
        _c("discharged_to_concept_id", _I),
        *_ids("preceding_visit_detail_id", "parent_visit_detail_id"),
        _c("visit_occurrence_id", _I, required=True),
    ],
    "device_exposure": [
        _c("device_exposure_id", _I, required=True),
        _c("person_id", _I, required=True),
        _c("device_concept_id", _I, required=True),
        _c("device_exposure_start_date", _D, required=True),
        _c("device_exposure_start_datetime", _TS),
        _c("device_exposure_end_date", _D),
        _c("device_exposure_end_datetime", _TS),
        _c("device_type_concept_id", _I, required=True),
        *_texts("unique_device_id", "production_id"),
        *_ids("quantity", "provider_id", "visit_occurrence_id", "visit_detail_id"),
        _c("device_source_value", _S),
        *_ids("device_source_concept_id", "unit_concept_id"),
        _c("unit_source_value", _S),
        _c("unit_source_concept_id", _I),
    ],
    "note": [
        _c("note_id", _I, required=True),
        _c("person_id", _I, required=True),
        _c("note_date", _D, required=True),
        _c("note_datetime", _TS),
        _c("note_type_concept_id", _I, required=True),
        _c("note_class_concept_id", _I, required=True),
        _c("note_title", _S),
        _c("note_text", _S, required=True),
        _c("encoding_concept_id", _I, required=True),
        _c("language_concept_id", _I, required=True),
        *_ids("provider_id", "visit_occurrence_id", "visit_detail_id"),
        _c("note_source_value", _S),
        *_ids("note_event_id", "note_event_field_concept_id"),
    ],
    "note_nlp": [
        _c("note_nlp_id", _I, required=True),
        _c("note_id", _I, required=True),
        _c("section_concept_id", _I),
        *_texts("snippet", "offset"),
        _c("lexical_variant", _S, required=True),
        *_ids("note_nlp_concept_id", "note_nlp_source_concept_id"),
        _c("nlp_system", _S),
        _c("nlp_date", _D, required=True),
        _c("nlp_datetime", _TS),
        *_texts("term_exists", "term_temporal", "term_modifiers"),
    ],
    "specimen": [
        _c("specimen_id", _I, required=True),
        _c("person_id", _I, required=True),
        _c("specimen_concept_id", _I, required=True),
        _c("specimen_type_concept_id", _I, required=True),
        _c("specimen_date", _D, required=True),
        _c("specimen_datetime", _TS),
        _c("quantity", _F),
        *_ids("unit_concept_id", "anatomic_site_concept_id", "disease_status_concept_id"),
        *_texts(
            "specimen_source_id",
            "specimen_source_value",
            "unit_source_value",
            "anatomic_site_source_value",
            "disease_status_source_value",
        ),
    ],
    "fact_relationship": [
        _c("domain_concept_id_1", _I, required=True),
        _c("fact_id_1", _I, required=True),
        _c("domain_concept_id_2", _I, required=True),
        _c("fact_id_2", _I, required=True),
        _c("relationship_concept_id", _I, required=True),
    ],
    "location": [
        _c("location_id", _I, required=True),
        *_texts(
            "address_1", "address_2", "city", "state", "zip", "county", "location_source_value"
        ),
        _c("country_concept_id", _I),
        _c("country_source_value", _S),
        _c("latitude", _F),
        _c("longitude", _F),
    ],
    "care_site": [
        _c("care_site_id", _I, required=True),
        _c("care_site_name", _S),
        *_ids("place_of_service_concept_id", "location_id"),
        *_texts("care_site_source_value", "place_of_service_source_value"),
    ],
    "provider": [
        _c("provider_id", _I, required=True),
        *_texts("provider_name", "npi", "dea"),
        *_ids("specialty_concept_id", "care_site_id", "year_of_birth", "gender_concept_id"),
        *_texts("provider_source_value", "specialty_source_value"),
        _c("specialty_source_concept_id", _I),
        _c("gender_source_value", _S),
        _c("gender_source_concept_id", _I),
    ],
    "payer_plan_period": [
        _c("payer_plan_period_id", _I, required=True),
        _c("person_id", _I, required=True),
        _c("payer_plan_period_start_date", _D, required=True),
        _c("payer_plan_period_end_date", _D, required=True),
        _c("payer_concept_id", _I),
        _c("payer_source_value", _S),
        *_ids("payer_source_concept_id", "plan_concept_id"),
        _c("plan_source_value", _S),
        *_ids("plan_source_concept_id", "sponsor_concept_id"),
        _c("sponsor_source_value", _S),
        _c("sponsor_source_concept_id", _I),
        _c("family_source_value", _S),
        _c("stop_reason_concept_id", _I),
        _c("stop_reason_source_value", _S),
        _c("stop_reason_source_concept_id", _I),
    ],
    "cost": [
        _c("cost_id", _I, required=True),
        _c("cost_event_id", _I, required=True),
        _c("cost_domain_id", _S, required=True),
        _c("cost_type_concept_id", _I, required=True),
        _c("currency_concept_id", _I),
        *[
            _c(name, _F)
            for name in (
                "total_charge",
                "total_cost",
                "total_paid",
                "paid_by_payer",
                "paid_by_patient",
                "paid_patient_copay",
                "paid_patient_coinsurance",
                "paid_patient_deductible",
                "paid_by_primary",
                "paid_ingredient_cost",
                "paid_dispensing_fee",
            )
        ],
        _c("payer_plan_period_id", _I),
        _c("amount_allowed", _F),
        _c("revenue_code_concept_id", _I),
        _c("revenue_code_source_value", _S),
        _c("drg_concept_id", _I),
        _c("drg_source_value", _S),
    ],
    "drug_era": [
        _c("drug_era_id", _I, required=True),
        _c("person_id", _I, required=True),
        _c("drug_concept_id", _I, required=True),
        _c("drug_era_start_date", _D, required=True),
        _c("drug_era_end_date", _D, required=True),
        *_ids("drug_exposure_count", "gap_days"),
    ],
    "dose_era": [
        _c("dose_era_id", _I, required=True),
        _c("person_id", _I, required=True),
        _c("drug_concept_id", _I, required=True),
        _c("unit_concept_id", _I, required=True),
        _c("dose_value", _F, required=True),
        _c("dose_era_start_date", _D, required=True),
        _c("dose_era_end_date", _D, required=True),
    ],
    "condition_era": [
        _c("condition_era_id", _I, required=True),
        _c("person_id", _I, required=True),
        _c("condition_concept_id", _I, required=True),
        _c("condition_era_start_date", _D, required=True),
        _c("condition_era_end_date", _D, required=True),
        _c("condition_occurrence_count", _I),
    ],
    "episode": [
        _c("episode_id", _I, required=True),
        _c("person_id", _I, required=True),
        _c("episode_concept_id", _I, required=True),
        _c("episode_start_date", _D, required=True),
        _c("episode_start_datetime", _TS),
        _c("episode_end_date", _D),
        _c("episode_end_datetime", _TS),
        *_ids("episode_parent_id", "episode_number"),
        _c("episode_object_concept_id", _I, required=True),
        _c("episode_type_concept_id", _I, required=True),
        _c("episode_source_value", _S),
        _c("episode_source_concept_id", _I),
    ],
    "episode_event": [
        _c("episode_id", _I, required=True),
        _c("event_id", _I, required=True),
        _c("episode_event_field_concept_id", _I, required=True),
    ],
    "metadata": [
        _c("metadata_id", _I, required=True),
        _c("metadata_concept_id", _I, required=True),
        _c("metadata_type_concept_id", _I, required=True),
        _c("name", _S, required=True),
        _c("value_as_string", _S),
        _c("value_as_concept_id", _I),
        _c("value_as_number", _F),
        _c("metadata_date", _D),
        _c("metadata_datetime", _TS),
    ],
    "cdm_source": [
        _c("cdm_source_name", _S, required=True),
        _c("cdm_source_abbreviation", _S, required=True),
        _c("cdm_holder", _S, required=True),
        *_texts("source_description", "source_documentation_reference", "cdm_etl_reference"),
        _c("source_release_date", _D, required=True),
        _c("cdm_release_date", _D, required=True),
        _c("cdm_version", _S),
        _c("cdm_version_concept_id", _I, required=True),
        _c("vocabulary_version", _S, required=True),
    ],
    "vocabulary": [
        _c("vocabulary_id", _S, required=True),
        _c("vocabulary_name", _S, required=True),
        *_texts("vocabulary_reference", "vocabulary_version"),
        _c("vocabulary_concept_id", _I, required=True),
    ],
    "domain": [
        _c("domain_id", _S, required=True),
        _c("domain_name", _S, required=True),
        _c("domain_concept_id", _I, required=True),
    ],
    "concept_class": [
        _c("concept_class_id", _S, required=True),
        _c("concept_class_name", _S, required=True),
        _c("concept_class_concept_id", _I, required=True),
    ],
    "concept_relationship": [
        _c("concept_id_1", _I, required=True),
        _c("concept_id_2", _I, required=True),
        _c("relationship_id", _S, required=True),
        _c("valid_start_date", _D, required=True),
        _c("valid_end_date", _D, required=True),
        _c("invalid_reason", _S),
    ],
    "relationship": [
        _c("relationship_id", _S, required=True),
        _c("relationship_name", _S, required=True),
        _c("is_hierarchical", _S, required=True),
        _c("defines_ancestry", _S, required=True),
        _c("reverse_relationship_id", _S, required=True),
        _c("relationship_concept_id", _I, required=True),
    ],
    "concept_synonym": [
        _c("concept_id", _I, required=True),
        _c("concept_synonym_name", _S, required=True),
        _c("language_concept_id", _I, required=True),
    ],
    "source_to_concept_map": [
        _c("source_code", _S, required=True),
        _c("source_concept_id", _I, required=True),
        _c("source_vocabulary_id", _S, required=True),
        _c("source_code_description", _S),
        _c("target_concept_id", _I, required=True),
        _c("target_vocabulary_id", _S, required=True),
        _c("valid_start_date", _D, required=True),
        _c("valid_end_date", _D, required=True),
        _c("invalid_reason", _S),
    ],
    "drug_strength": [
        _c("drug_concept_id", _I, required=True),
        _c("ingredient_concept_id", _I, required=True),
        _c("amount_value", _F),
        _c("amount_unit_concept_id", _I),
        _c("numerator_value", _F),
        _c("numerator_unit_concept_id", _I),
        _c("denominator_value", _F),
        *_ids("denominator_unit_concept_id", "box_size"),
        _c("valid_start_date", _D, required=True),
        _c("valid_end_date", _D, required=True),
        _c("invalid_reason", _S),
    ],
}

_ORDER: Final = (
    # clinical data
    "person", "observation_period", "visit_occurrence", "visit_detail", "condition_occurrence",
    "drug_exposure", "procedure_occurrence", "device_exposure", "measurement", "observation",
    "death", "note", "note_nlp", "specimen", "fact_relationship",
    # health system
    "location", "care_site", "provider",
    # health economics
    "payer_plan_period", "cost",
    # derived elements
    "drug_era", "dose_era", "condition_era", "episode", "episode_event",
    # metadata
    "metadata", "cdm_source",
    # vocabulary
    "concept", "vocabulary", "domain", "concept_class", "concept_relationship", "relationship",
    "concept_synonym", "concept_ancestor", "source_to_concept_map", "drug_strength",
)  # fmt: skip

CDM54_TABLES: Final[dict[str, tuple[Column, ...]]] = {
    name: tuple(OMOP_TABLES[name] if name in OMOP_TABLES else _MORE_TABLES[name]) for name in _ORDER
}
"""Every OMOP CDM v5.4 table (name → columns, in the specification's order)."""

PERSON_KEYED: Final = frozenset(
    name
    for name, columns in CDM54_TABLES.items()
    if name != "person" and any(col.name == "person_id" for col in columns)
)
"""Tables whose rows belong to a person (``person_id``, required, refers to ``person``)."""


def quoted(name: str) -> str:
    """``name`` as a quoted SQL identifier (DuckDB and PostgreSQL alike)."""
    return '"' + name.replace('"', '""') + '"'


def duckdb_table_ddl(table: str, qualified_name: str) -> str:
    """``CREATE TABLE`` for one CDM v5.4 table in DuckDB, named ``qualified_name``."""
    body = ", ".join(
        f"{quoted(col.name)} {col.type}{'' if col.nullable else ' NOT NULL'}"
        for col in CDM54_TABLES[table]
    )
    return f"CREATE TABLE {qualified_name} ({body})"


_POSTGRES_TYPES: Final = {
    _I: "integer",
    _D: "date",
    _TS: "timestamp",
    _F: "double precision",
    _S: "text",
}


def postgres_column_type(column: Column) -> str:
    """The PostgreSQL type (and ``NOT NULL``) of one CDM column."""
    return _POSTGRES_TYPES[column.type] + ("" if column.nullable else " NOT NULL")
