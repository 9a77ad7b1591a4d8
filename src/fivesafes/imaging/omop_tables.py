"""The OMOP Medical Imaging extension's tables (MI-CDM: Park et al. 2024, the OHDSI Medical
Imaging working group), rebuilt from the index at the end of every run's roll-up, so that
OHDSI-minded users find imaging where they expect it (docs/imaging.md, "OMOP image_occurrence
and image_feature").

``image_occurrence``: one row per series of ``imaging_series`` that is linked to a person.

- ``image_occurrence_id``: the first 8 bytes of the SHA-256 of the SeriesInstanceUID (UTF-8),
  big-endian, with the top bit cleared: a positive 63-bit integer, the same on every run and
  at every node (:func:`stable_id`). Should two series share a hash (about one chance in 20,000
  for 30 million series), the one with the lower UID keeps it and each other one takes the hash
  of its UID followed by ``|2``, ``|3``, ... in UID order; ``image_feature_id`` likewise, of
  the series UID and the feature's source value (``2.25.1|KVP``).
- ``procedure_occurrence_id``: the study's procedure (MI-CDM: the order a study fulfils), from
  the person's ``procedure_occurrence`` rows on the study date, the first by (1) a concept
  that is the procedure of one of the study's modality and body part pairs
  (:data:`IMAGING_PROCEDURES`), (2) an imaging procedure: one of those concepts, or a
  descendant of SNOMED "Imaging" (:data:`IMAGING_ANCESTOR`) in the node's
  ``concept_ancestor``, (3) any procedure that day; then the lowest id. None: null.
- ``visit_occurrence_id``: the person's visit whose start and end (or start, if no end) cover
  the study date: the procedure's own visit first, then the latest start, then the lowest id.
- ``anatomic_site_concept_id``: the body part's SNOMED body structure (:data:`ANATOMIC_SITES`,
  the codes of DICOM PS3.16 CID 4031) as the node's own vocabulary (``concept``) has it as a
  standard concept of the Spec Anatomic Site domain; 0 when it has none, or no body part.
- ``modality_concept_id``: 0. The MI-CDM codes modality with DICOM concepts that are custom
  concepts (ids of 2 billion and more, each site's own), not standard OMOP ones, so no id can
  be shipped; the DICOM Modality is kept in ``modality_source_value``.
- ``image_occurrence_date``: SeriesDate, else StudyDate (the MI-CDM suggests SeriesDate).
- ``local_path``, ``wadors_uri``: always null here: analyses never see a path or a URL (the
  instance table keeps them for the extraction step).

``image_feature``: header-derived features of each of those series (:data:`FEATURES`). The
MI-CDM keeps a feature's value in a clinical table (``measurement``) and links to it
(``image_feature_event_field_concept_id``, ``image_feature_event_id``); the index keeps it in
the row instead (``value_as_number``, ``value_as_string``, ``unit_source_value``), because the
CDM's clinical tables are the TRE's own load, never written by the index, and the link columns
stay null. ``image_feature_concept_id`` is 0 (the DICOM attribute concepts are custom
concepts too), the attribute's keyword is ``image_feature_source_value``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Final

import duckdb
import pyarrow as pa

from fivesafes.imaging import tables as t

CT_OF_CHEST: Final = 4058335  # SNOMED 169069000 "CT of chest" (docs/synthetic-data.md)
PLAIN_CHEST_XRAY: Final = 4163872  # SNOMED 399208008 "Plain chest X-ray" (same)
IMAGING_PROCEDURES: Final[tuple[tuple[str, str, int], ...]] = (
    ("CT", "CHEST", CT_OF_CHEST),
    ("CR", "CHEST", PLAIN_CHEST_XRAY),
    ("DX", "CHEST", PLAIN_CHEST_XRAY),
)
"""(DICOM Modality, body part, procedure concept): a study's own procedure."""

IMAGING_ANCESTOR: Final = 4180938
"""SNOMED "Imaging" (procedure): every imaging procedure descends from it. Taken from a public
MI-CDM mapping (its procedures are "the children of Imaging, 4180938"), not checked against
Athena: if it is wrong, rank (2) finds only :data:`IMAGING_PROCEDURES` and rank (3) the rest."""

ANATOMIC_SITES: Final[dict[str, tuple[str, ...]]] = {
    "HEAD": ("69536005",),
    "NECK": ("45048000",),
    "HEADNECK": ("774007",),
    "CHEST": ("816094009", "51185008"),
    "HEART": ("80891009",),
    "BREAST": ("76752008",),
    "ABDOMEN": ("818981001", "113345001"),
    "PELVIS": ("816092008", "12921003"),
    "CHESTABDOMEN": ("416550000",),
    "ABDOMENPELVIS": ("818982008",),
    "CHESTABDPELVIS": ("416775004",),
    "SPINE": ("421060004",),
    "EXTREMITY": ("66019005",),
    "WHOLEBODY": ("38266002",),
}
"""Body part term -> SNOMED CT codes, preferred first: the code DICOM PS3.16 CID 4031 (Common
Anatomic Regions) gives the term today, then the one it gave before SNOMED remodelled the body
regions (T-D3000, T-D4000, T-D6000 in SNOMED RT), whichever the node's vocabulary holds."""

EHR: Final = 32817  # Type Concept "EHR": the image's own header, part of the record

FEATURES: Final[tuple[tuple[str, str, str, str | None, str], ...]] = (
    ("SliceThickness", "slice_thickness", "number", "mm", "median of the images"),
    ("KVP", "kvp", "number", "kV", "median of the images"),
    ("Contrast", "contrast", "text", None, "rules {rules}: yes if any image says yes"),
    ("BurnedInAnnotation", "burned_in", "text", None, "yes if any image is marked YES"),
)
"""(source value, ``imaging_series`` column, kind, unit, how the series' value is made): one
``image_feature`` row per series that has the value (never for ``unknown`` or null).
``Contrast`` is the rules file's decision over ContrastBolusAgent, ContrastBolusRoute,
SeriesDescription and ProtocolName (docs/imaging.md, "The rules file")."""

ALG_SYSTEM = "fivesafes.imaging index: "


def stable_id(*parts: str) -> int:
    """A positive 63-bit id of ``parts`` (joined by ``|``): SHA-256, first 8 bytes, big-endian,
    top bit cleared. The SQL below computes the same (:func:`_id`)."""
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def _id(expression: str) -> str:
    """:func:`stable_id` in DuckDB's SQL, of the text ``expression``."""
    return f"(('0x' || left(sha256({expression}), 16))::UBIGINT & 9223372036854775807)::BIGINT"


SOURCES: Final[dict[str, tuple[str, dict[str, str]]]] = {
    "imaging_omop_procedure": (
        "procedure_occurrence",
        {
            "procedure_occurrence_id": "BIGINT",
            "person_id": "BIGINT",
            "procedure_concept_id": "BIGINT",
            "procedure_date": "DATE",
            "visit_occurrence_id": "BIGINT",
        },
    ),
    "imaging_omop_visit": (
        "visit_occurrence",
        {
            "visit_occurrence_id": "BIGINT",
            "person_id": "BIGINT",
            "visit_start_date": "DATE",
            "visit_end_date": "DATE",
        },
    ),
    "imaging_omop_concept": (
        "concept",
        {
            "concept_id": "BIGINT",
            "concept_code": "VARCHAR",
            "vocabulary_id": "VARCHAR",
            "domain_id": "VARCHAR",
            "standard_concept": "VARCHAR",
            "invalid_reason": "VARCHAR",
        },
    ),
    "imaging_omop_ancestor": (
        "concept_ancestor",
        {"ancestor_concept_id": "BIGINT", "descendant_concept_id": "BIGINT"},
    ),
}
"""The node's CDM tables read, as temporary views of the columns used, typed."""


def build(
    con: duckdb.DuckDBPyConnection,
    schema: str | None,
    sources: Mapping[str, pa.RecordBatchReader] | None = None,
) -> None:
    """Rebuild ``image_occurrence`` and ``image_feature`` from ``imaging_series`` (in the
    caller's transaction), reading the node's CDM tables that are there: in this file, or
    (``sources``, by CDM table name: a node whose data is on PostgreSQL or Spark) streamed from
    the node's data source (``fivesafes.imaging.publish.cdm_rows``)."""
    present = _columns(con, schema or "main")
    for view, (table, columns) in SOURCES.items():
        if sources is not None and table in sources:
            _streamed(con, view, sources[table], columns)
        else:
            _source(con, view, table, present, columns)
    con.execute(t.create_sql("image_occurrence", t.IMAGE_OCCURRENCE_COLUMNS, replace=True))
    con.execute(OCCURRENCE_SQL)
    con.execute(t.create_sql("image_feature", t.IMAGE_FEATURE_COLUMNS, replace=True))
    con.execute(FEATURE_SQL)
    for name, key in (
        ("image_occurrence", "image_occurrence_id"),
        ("image_feature", "image_feature_id"),
    ):
        found = con.execute(
            f"SELECT count(*) - count(DISTINCT {key}) FROM {name}"  # noqa: S608 - constants
        ).fetchone()
        if found and found[0]:  # a second collision among the rehashed: never expected
            raise RuntimeError(f"two rows of {name} have one {key}: a hash collision")


def _columns(con: duckdb.DuckDBPyConnection, schema: str) -> dict[str, set[str]]:
    """The tables of ``schema`` in the data file (not temporary) and their columns, in lower
    case."""
    present: dict[str, set[str]] = {}
    for table, column in con.execute(
        "SELECT lower(table_name), lower(column_name) FROM duckdb_columns()"
        " WHERE schema_name = ? AND database_name = current_database()",
        [schema],
    ).fetchall():
        present.setdefault(table, set()).add(column)
    return present


def _source(
    con: duckdb.DuckDBPyConnection,
    view: str,
    table: str,
    present: dict[str, set[str]],
    columns: dict[str, str],
) -> None:
    """``view``: the CDM ``table``'s ``columns``, typed; a column it lacks is null, and the view
    has no rows when the node has no such table or the table lacks the first two columns (its
    id and what it is keyed by)."""
    have = present.get(table, set())
    usable = all(c in have for c in list(columns)[:2])
    select = ", ".join(
        f"CAST({c if usable and c in have else 'NULL'} AS {kind}) AS {c}"
        for c, kind in columns.items()
    )
    where = f"FROM {table}" if usable else "WHERE false"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT {select} {where}")


def _streamed(
    con: duckdb.DuckDBPyConnection, view: str, rows: pa.RecordBatchReader, columns: dict[str, str]
) -> None:
    """``view``: a temporary table of the streamed ``rows``' ``columns``, typed (a column the
    stream lacks is null)."""
    have = set(rows.schema.names)
    select = ", ".join(
        f"CAST({c if c in have else 'NULL'} AS {kind}) AS {c}" for c, kind in columns.items()
    )
    con.register("imaging_omop_rows", rows)
    try:
        con.execute(f"DROP VIEW IF EXISTS {view}")
        made = f"CREATE OR REPLACE TEMP TABLE {view} AS SELECT {select} FROM imaging_omop_rows"  # noqa: S608 - SOURCES
        con.execute(made)
    finally:
        con.unregister("imaging_omop_rows")


def _literal(value: str | int | None) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def _values(rows: list[tuple[str | int | None, ...]], names: str) -> str:
    """``rows`` (this module's constants) as an SQL relation with columns ``names``."""
    body = ", ".join("(" + ", ".join(_literal(v) for v in row) + ")" for row in rows)
    return f"(VALUES {body}) AS v ({names})"


def unique_ids(key: str) -> str:
    """The CTE steps giving each row of ``hashed`` (with ``h``, :func:`stable_id` of ``key``,
    and ``key``) its ``id``: ``h``, or for the second and later rows sharing one ``h`` (in
    ``key`` order) the hash of ``key|2``, ``key|3``, ..."""
    again = _id(f"{key} || '|' || k")
    return f"""numbered AS (
    SELECT *, row_number() OVER (PARTITION BY h ORDER BY {key}) AS k FROM hashed
), unique_ids AS (
    SELECT *, CASE WHEN k = 1 THEN h ELSE {again} END AS id FROM numbered
)"""  # noqa: S608 - built from this module's constants


_SITE_CODES = _values(
    [(term, code, n) for term, codes in ANATOMIC_SITES.items() for n, code in enumerate(codes)],
    "term, code, preference",
)
_OWN_PROCEDURES = _values(list(IMAGING_PROCEDURES), "modality, body_part, concept_id")

OCCURRENCE_SQL = f"""
INSERT INTO image_occurrence
WITH series AS (
    SELECT * FROM imaging_series WHERE person_id IS NOT NULL
), studies AS (
    SELECT study_instance_uid, person_id, min(study_date) AS day
    FROM series GROUP BY study_instance_uid, person_id
), own AS (  -- the procedures of each study's modality and body part pairs
    SELECT DISTINCT s.study_instance_uid, s.person_id, c.concept_id
    FROM series AS s JOIN {_OWN_PROCEDURES.replace(" AS v ", " AS c ")}
      ON c.modality = s.modality AND c.body_part = s.body_part
), imaging AS (
    SELECT concept_id FROM {_OWN_PROCEDURES}
    UNION SELECT descendant_concept_id FROM imaging_omop_ancestor
    WHERE ancestor_concept_id = {IMAGING_ANCESTOR}
), chosen AS (
    SELECT st.study_instance_uid, st.person_id, p.procedure_occurrence_id,
           p.visit_occurrence_id AS procedure_visit
    FROM studies AS st
    JOIN imaging_omop_procedure AS p ON p.person_id = st.person_id AND p.procedure_date = st.day
    LEFT JOIN own AS o ON o.study_instance_uid = st.study_instance_uid
     AND o.person_id = st.person_id AND o.concept_id = p.procedure_concept_id
    QUALIFY row_number() OVER (
        PARTITION BY st.study_instance_uid, st.person_id
        ORDER BY CASE WHEN o.concept_id IS NOT NULL THEN 1
                      WHEN p.procedure_concept_id IN (SELECT concept_id FROM imaging) THEN 2
                      ELSE 3 END,
                 p.procedure_occurrence_id) = 1
), visit AS (
    SELECT st.study_instance_uid, st.person_id, v.visit_occurrence_id
    FROM studies AS st
    LEFT JOIN chosen AS p USING (study_instance_uid, person_id)
    JOIN imaging_omop_visit AS v ON v.person_id = st.person_id
     AND st.day BETWEEN v.visit_start_date AND coalesce(v.visit_end_date, v.visit_start_date)
    QUALIFY row_number() OVER (
        PARTITION BY st.study_instance_uid, st.person_id
        ORDER BY v.visit_occurrence_id IS NOT DISTINCT FROM p.procedure_visit DESC,
                 v.visit_start_date DESC, v.visit_occurrence_id) = 1
), site AS (
    SELECT s.term, c.concept_id
    FROM {_SITE_CODES.replace(" AS v ", " AS s ")}
    JOIN imaging_omop_concept AS c ON c.concept_code = s.code AND c.vocabulary_id = 'SNOMED'
     AND c.domain_id = 'Spec Anatomic Site' AND c.standard_concept = 'S'
     AND c.invalid_reason IS NULL
    QUALIFY row_number() OVER (PARTITION BY s.term ORDER BY s.preference, c.concept_id) = 1
), hashed AS (
    SELECT *, {_id("series_instance_uid")} AS h FROM series
), {unique_ids("series_instance_uid")}
SELECT
    s.id AS image_occurrence_id,
    s.person_id,
    p.procedure_occurrence_id,
    v.visit_occurrence_id,
    coalesce(site.concept_id, 0) AS anatomic_site_concept_id,
    NULL AS wadors_uri,
    NULL AS local_path,
    coalesce(s.series_date, s.study_date) AS image_occurrence_date,
    s.study_instance_uid AS image_study_uid,
    s.series_instance_uid AS image_series_uid,
    0 AS modality_concept_id,
    s.modality AS modality_source_value,
    s.body_part AS anatomic_site_source_value
FROM unique_ids AS s
LEFT JOIN chosen AS p USING (study_instance_uid, person_id)
LEFT JOIN visit AS v USING (study_instance_uid, person_id)
LEFT JOIN site ON site.term = s.body_part
ORDER BY s.series_instance_uid
"""  # noqa: S608 - built from this module's constants
"""The image_occurrence rows, by the rules above."""


def _feature(source: str, column: str, kind: str, unit: str | None, how: str) -> str:
    """One feature's rows, for :data:`FEATURE_SQL`."""
    value = f"s.{column}"
    number, text = (f"CAST({value} AS DOUBLE)", "NULL") if kind == "number" else ("NULL", value)
    alg = _literal(ALG_SYSTEM + how).replace("{rules}", "' || s.rules_version || '")
    return f"""SELECT o.image_series_uid || '|' || {_literal(source)} AS feature_key,
           o.image_occurrence_id, o.person_id, {alg} AS alg_system,
           {_literal(source)} AS source, {number} AS number, {text} AS text,
           {_literal(unit)} AS unit
    FROM image_occurrence AS o
    JOIN imaging_series AS s ON s.series_instance_uid = o.image_series_uid
    WHERE {value} IS NOT NULL AND CAST({value} AS VARCHAR) <> 'unknown'"""  # noqa: S608


FEATURE_SQL = f"""
INSERT INTO image_feature
WITH hashed AS (
    SELECT *, {_id("feature_key")} AS h FROM (
    {" UNION ALL ".join(_feature(*f) for f in FEATURES)}
    )
), {unique_ids("feature_key")}
SELECT
    id AS image_feature_id,
    person_id,
    image_occurrence_id,
    0 AS image_feature_concept_id,
    {EHR} AS image_feature_type_concept_id,
    NULL AS image_feature_event_field_concept_id,
    NULL AS image_feature_event_id,
    0 AS image_finding_concept_id,
    0 AS image_finding_id,
    NULL AS anatomic_site_concept_id,
    alg_system,
    NULL AS alg_datetime,
    source AS image_feature_source_value,
    number AS value_as_number,
    text AS value_as_string,
    unit AS unit_source_value
FROM unique_ids
ORDER BY feature_key
"""  # noqa: S608 - built from this module's constants
"""The image_feature rows: one per series and feature of :data:`FEATURES` that it has."""
