"""The index's tables in the node's DuckDB file, declared once.

| table | one row per | read by |
| --- | --- | --- |
| ``imaging_study`` | study (StudyInstanceUID) | analyses, cohorts |
| ``imaging_series`` | series: the unit of an imaging cohort | analyses, cohorts |
| ``imaging_instance`` | image (SOPInstanceUID), judged | the roll-ups, extraction |
| ``imaging_files`` | file (or DICOMweb instance): size, mtime, status, why | the operator |
| ``imaging_runs`` | run of the indexer: paths, rules, counts | the operator |
| ``imaging_dicomweb_studies`` | study read through DICOMweb, its instances | the indexer |
| ``imaging_dicomweb_series`` | series read through DICOMweb, its instances | the indexer |
| ``image_occurrence`` | linked series, as the OMOP Medical Imaging extension has it | analyses |
| ``image_feature`` | feature of a linked series (slice thickness, kVp, contrast, ...) | analyses |

Analyses and cohorts read only the study and series tables and the two OMOP ones
(:mod:`fivesafes.imaging.omop_tables`; the ``imaging`` data domain, :data:`ANALYSIS_TABLES`): a
person there is a ``person_id``, and there is no path (an archive's folders often carry a
PatientID; ``image_occurrence.local_path`` and ``wadors_uri`` are always null) and no header
element beyond the columns below. The instance
and file tables keep paths for the extraction step; the full headers sit in the restricted
store (:mod:`fivesafes.imaging.headers`), never in the data source.
"""

from __future__ import annotations

from typing import Any

from fivesafes.data.domains import IMAGING

INSTANCE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("sop_instance_uid", "VARCHAR NOT NULL"),
    ("series_instance_uid", "VARCHAR NOT NULL"),
    ("study_instance_uid", "VARCHAR NOT NULL"),
    ("patient_pseudonym", "VARCHAR"),  # keyed: fivesafes.node.pseudonyms; null: not an id
    ("sop_class_uid", "VARCHAR"),
    ("modality", "VARCHAR"),
    ("instance_number", "INTEGER"),
    ("series_number", "INTEGER"),
    ("body_part_examined", "VARCHAR"),
    ("study_description", "VARCHAR"),
    ("series_description", "VARCHAR"),
    ("protocol_name", "VARCHAR"),
    ("contrast_bolus_agent", "VARCHAR"),
    ("contrast_bolus_route", "VARCHAR"),
    ("manufacturer", "VARCHAR"),
    ("manufacturer_model_name", "VARCHAR"),
    ("slice_thickness", "DOUBLE"),
    ("kvp", "DOUBLE"),
    ("image_type", "VARCHAR"),
    ("burned_in_annotation", "VARCHAR"),  # yes | no | null
    ("number_of_frames", "INTEGER"),
    ("study_date", "DATE"),
    ("series_date", "DATE"),
    ("transfer_syntax_uid", "VARCHAR"),
    ("file_meta", "BOOLEAN"),
    ("path", "VARCHAR NOT NULL"),  # the file's path, or the instance's WADO-RS URL
    ("size", "BIGINT"),  # null through DICOMweb
    ("mtime", "TIMESTAMP"),
    ("header_sha256", "VARCHAR NOT NULL"),
    ("issues", "VARCHAR"),  # comma-separated (project.py), null when none
)

FILE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("path", "VARCHAR NOT NULL"),  # or a DICOMweb instance's WADO-RS URL
    ("size", "BIGINT"),  # null for a DICOMweb instance
    ("mtime_ns", "BIGINT"),
    ("status", "VARCHAR NOT NULL"),  # indexed | unreadable | skipped | duplicate
    ("reason", "VARCHAR"),  # reading.Reason, or same_header | different_header
    ("detail", "VARCHAR"),  # in words
    ("sop_instance_uid", "VARCHAR"),
    ("run_id", "VARCHAR NOT NULL"),
    ("read_at", "TIMESTAMP NOT NULL"),
)

RUN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "VARCHAR NOT NULL"),
    ("started_at", "TIMESTAMP NOT NULL"),
    ("finished_at", "TIMESTAMP"),
    ("status", "VARCHAR NOT NULL"),  # running | finished | failed (a killed run stays running)
    ("paths", "VARCHAR NOT NULL"),  # JSON list
    ("rules", "VARCHAR NOT NULL"),  # name and version
    ("rules_sha256", "VARCHAR NOT NULL"),
    ("counts", "VARCHAR"),  # JSON: the run's report
)

DICOMWEB_STUDY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source", "VARCHAR NOT NULL"),  # the DICOMweb service's base URL
    ("study_instance_uid", "VARCHAR NOT NULL"),
    ("instances", "BIGINT"),  # NumberOfStudyRelatedInstances when its series were all read
    ("run_id", "VARCHAR NOT NULL"),
    ("read_at", "TIMESTAMP NOT NULL"),
)
"""A study of a DICOMweb source whose series were all read: a re-run lists the series of a
study only when its number of instances changed (:mod:`fivesafes.imaging.dicomweb_index`)."""

DICOMWEB_SERIES_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source", "VARCHAR NOT NULL"),
    ("study_instance_uid", "VARCHAR NOT NULL"),
    ("series_instance_uid", "VARCHAR NOT NULL"),
    ("instances", "BIGINT"),  # NumberOfSeriesRelatedInstances when read (null: not said)
    ("read", "BIGINT NOT NULL"),  # instances listed and read
    ("run_id", "VARCHAR NOT NULL"),
    ("read_at", "TIMESTAMP NOT NULL"),
)
"""A series of a DICOMweb source as it was read: read again only when its number of
instances changes."""

NULLABLE_SINCE_DICOMWEB = (
    ("imaging_instance", "size"),
    ("imaging_files", "size"),
    ("imaging_files", "mtime_ns"),
)
"""Columns an index made before DICOMweb declared NOT NULL (a DICOMweb instance has no file)."""

SERIES_COLUMNS = (
    "series_instance_uid",
    "study_instance_uid",
    "person_id",
    "link",
    "modality",
    "sop_class_uid",
    "series_number",
    "body_part",
    "body_part_rule",
    "body_part_examined",
    "contrast",
    "contrast_rule",
    "contrast_agent",
    "contrast_route",
    "burned_in",
    "study_description",
    "series_description",
    "protocol_name",
    "manufacturer",
    "model",
    "slice_thickness",
    "kvp",
    "image_type",
    "n_instances",
    "n_frames",
    "study_date",
    "series_date",
    "bytes",
    "study_conflict",
    "rules_version",
)
"""``imaging_series``, as :data:`fivesafes.imaging.project.SERIES_SQL` builds it."""

STUDY_COLUMNS = (
    "study_instance_uid",
    "person_id",
    "link",
    "study_date",
    "study_description",
    "modalities",
    "body_parts",
    "contrast",
    "burned_in",
    "n_series",
    "n_instances",
    "bytes",
)

IMAGE_OCCURRENCE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("image_occurrence_id", "BIGINT NOT NULL"),  # 63 bits of the SHA-256 of the series UID
    ("person_id", "BIGINT NOT NULL"),
    ("procedure_occurrence_id", "BIGINT"),  # the study's procedure that day, or null
    ("visit_occurrence_id", "BIGINT"),  # the visit covering the study date, or null
    ("anatomic_site_concept_id", "BIGINT NOT NULL"),  # SNOMED body structure, or 0
    ("wadors_uri", "VARCHAR"),  # always null: no URL reaches analyses
    ("local_path", "VARCHAR"),  # always null: no path reaches analyses
    ("image_occurrence_date", "DATE"),  # SeriesDate, else StudyDate
    ("image_study_uid", "VARCHAR NOT NULL"),
    ("image_series_uid", "VARCHAR NOT NULL"),
    ("modality_concept_id", "BIGINT NOT NULL"),  # 0: no standard concept (omop_tables.py)
    ("modality_source_value", "VARCHAR"),  # DICOM Modality: CT, MR, CR, ...
    ("anatomic_site_source_value", "VARCHAR"),  # the body part term: CHEST, HEAD, ...
)
"""``image_occurrence``: the MI-CDM's columns, then the two source values it lacks."""

IMAGE_FEATURE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("image_feature_id", "BIGINT NOT NULL"),  # 63 bits of the SHA-256 of series UID|feature
    ("person_id", "BIGINT NOT NULL"),
    ("image_occurrence_id", "BIGINT NOT NULL"),
    ("image_feature_concept_id", "BIGINT NOT NULL"),  # 0: DICOM attributes are custom concepts
    ("image_feature_type_concept_id", "BIGINT NOT NULL"),  # 32817 EHR: the header
    ("image_feature_event_field_concept_id", "BIGINT"),  # null: the value is in this row
    ("image_feature_event_id", "BIGINT"),  # null: likewise
    ("image_finding_concept_id", "BIGINT"),  # 0: an acquisition parameter, not a finding
    ("image_finding_id", "BIGINT"),  # 0: likewise
    ("anatomic_site_concept_id", "BIGINT"),  # null: the series' site is its occurrence's
    ("alg_system", "VARCHAR"),  # how the index made the value
    ("alg_datetime", "TIMESTAMP"),  # null: the same on every run
    ("image_feature_source_value", "VARCHAR NOT NULL"),  # SliceThickness, KVP, Contrast, ...
    ("value_as_number", "DOUBLE"),
    ("value_as_string", "VARCHAR"),  # yes | no
    ("unit_source_value", "VARCHAR"),  # mm, kV
)
"""``image_feature``: the MI-CDM's columns, then the value the MI-CDM keeps in ``measurement``
(:mod:`fivesafes.imaging.omop_tables` says why it is kept here)."""

ANALYSIS_TABLES = tuple(sorted(IMAGING.tables))
"""What analyses and cohorts may read (the ``imaging`` data domain): no path, no PatientID."""
INDEX_TABLES = ("imaging_study", "imaging_series", "imaging_instance")
OMOP_TABLES = ("image_occurrence", "image_feature")  # fivesafes.imaging.omop_tables
STATE_TABLES = (
    "imaging_files",
    "imaging_runs",
    "imaging_dicomweb_studies",
    "imaging_dicomweb_series",
)
TABLES = INDEX_TABLES + OMOP_TABLES + STATE_TABLES


def create_sql(name: str, columns: tuple[tuple[str, str], ...], *, replace: bool = False) -> str:
    """The table ``name`` of ``columns``: made if missing, or (``replace``) made anew."""
    body = ", ".join(f"{column} {kind}" for column, kind in columns)
    if replace:
        return f"CREATE OR REPLACE TABLE {name} ({body})"
    return f"CREATE TABLE IF NOT EXISTS {name} ({body})"


def arrow_schema(columns: tuple[tuple[str, str], ...]) -> Any:
    """The pyarrow schema of rows written into a table of ``columns``."""
    import pyarrow as pa

    kinds = {
        "VARCHAR": pa.string(),
        "INTEGER": pa.int32(),
        "BIGINT": pa.int64(),
        "DOUBLE": pa.float64(),
        "DATE": pa.date32(),
        "TIMESTAMP": pa.timestamp("us"),
        "BOOLEAN": pa.bool_(),
    }
    return pa.schema([(column, kinds[kind.split()[0]]) for column, kind in columns])
