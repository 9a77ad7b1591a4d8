"""Projecting headers into the index: one instance row per image, judged by stated rules, and
the series and study rows rolled up from them.

Rules for bad input (docs/imaging.md, "Rules for bad input"); each nulls the value and names
an issue on the instance (``issues``), counted in the run's report:

| value | rule | issue |
| --- | --- | --- |
| SliceThickness, KVP not a number | null | ``slice_thickness_invalid``, ``kvp_invalid`` |
| SliceThickness negative | null | ``slice_thickness_negative`` |
| KVP zero or negative | null | ``kvp_not_positive`` |
| StudyDate, SeriesDate not a date (YYYYMMDD) | null | ``study_date_invalid``, … |
| a date after the day of indexing | null | ``study_date_future``, ``series_date_future`` |
| a date before 1895 (before X-rays) | null | ``study_date_before_1895``, … |
| no StudyDate | null | ``study_date_missing`` |
| BurnedInAnnotation neither YES nor NO | null | ``burned_in_annotation_invalid`` |
| InstanceNumber, SeriesNumber, NumberOfFrames not an integer | null | ``…_invalid`` |

Roll-ups (:data:`SERIES_SQL`, :data:`STUDY_SQL`), each decided the same way on every run, so
an interrupted and resumed index ends with the same tables as an uninterrupted one:

- a series' texts (descriptions, protocol, manufacturer, …) are those of its first instance
  that has one, in the order of InstanceNumber, then SOPInstanceUID;
- contrast is ``yes`` if any instance says yes, else ``no`` if any says no, else ``unknown``;
  burned-in annotation likewise (``yes`` if any image is marked YES);
- the body part is the first instance's that has one (same order);
- slice thickness and kVp are the median of the instances'; dates the earliest;
- ``person_id`` comes from the series' one patient pseudonym through the link table; a
  series whose instances name more than one patient is linked to nobody (``conflict``).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import NamedTuple

from fivesafes.imaging.reading import Header

FIRST_DATE = date(1895, 11, 8)  # Röntgen's first radiograph: nothing in an archive is older
MAX_TEXT = 256
_DATE = re.compile(r"^(\d{4})\.?(\d{2})\.?(\d{2})$")
_YES_NO = {"YES": "yes", "NO": "no"}


class Instance(NamedTuple):
    """One image as the index keeps it (``patient_id`` is replaced by its pseudonym before
    anything is written: see :mod:`fivesafes.imaging.index`). A named tuple: it crosses from
    the reading processes to the writing one for each file, and a tuple is the cheapest to
    send. ``size``, ``mtime`` and ``file_meta`` are None for an image read through DICOMweb
    (:mod:`fivesafes.imaging.dicomweb`), where no file is seen."""

    sop_instance_uid: str
    series_instance_uid: str
    study_instance_uid: str
    patient_id: str
    sop_class_uid: str | None
    modality: str | None
    instance_number: int | None
    series_number: int | None
    body_part_examined: str | None
    study_description: str | None
    series_description: str | None
    protocol_name: str | None
    contrast_bolus_agent: str | None
    contrast_bolus_route: str | None
    manufacturer: str | None
    manufacturer_model_name: str | None
    slice_thickness: float | None
    kvp: float | None
    image_type: str | None
    burned_in_annotation: str | None  # yes | no | None
    number_of_frames: int | None
    study_date: date | None
    series_date: date | None
    transfer_syntax_uid: str | None
    file_meta: bool | None
    path: str  # the file's path, or the instance's WADO-RS URL
    size: int | None
    mtime: datetime | None
    header_sha256: str
    issues: tuple[str, ...]


def instance_of(header: Header, today: date) -> Instance:
    """The instance row of ``header``, with every value judged by the rules above."""
    issues: list[str] = list(header.notes)
    h = header.values
    thickness = _number(h["SliceThickness"], "slice_thickness", issues)
    if thickness is not None and thickness < 0:
        issues.append("slice_thickness_negative")
        thickness = None
    kvp = _number(h["KVP"], "kvp", issues)
    if kvp is not None and kvp <= 0:
        issues.append("kvp_not_positive")
        kvp = None
    burned = h["BurnedInAnnotation"]
    burned_in = _YES_NO.get(burned.upper()) if burned else None
    if burned and burned_in is None:
        issues.append("burned_in_annotation_invalid")
    if not h["StudyDate"]:
        issues.append("study_date_missing")
    uid = _uid
    return Instance(
        sop_instance_uid=uid(h["SOPInstanceUID"]) or "",
        series_instance_uid=uid(h["SeriesInstanceUID"]) or "",
        study_instance_uid=uid(h["StudyInstanceUID"]) or "",
        patient_id=h["PatientID"] or "",
        sop_class_uid=uid(h["SOPClassUID"]),
        modality=_text(h["Modality"], upper=True),
        instance_number=_integer(h["InstanceNumber"], "instance_number", issues),
        series_number=_integer(h["SeriesNumber"], "series_number", issues),
        body_part_examined=_text(h["BodyPartExamined"]),
        study_description=_text(h["StudyDescription"]),
        series_description=_text(h["SeriesDescription"]),
        protocol_name=_text(h["ProtocolName"]),
        contrast_bolus_agent=_text(h["ContrastBolusAgent"]),
        contrast_bolus_route=_text(h["ContrastBolusRoute"]),
        manufacturer=_text(h["Manufacturer"]),
        manufacturer_model_name=_text(h["ManufacturerModelName"]),
        slice_thickness=thickness,
        kvp=kvp,
        image_type=_text(h["ImageType"], upper=True),
        burned_in_annotation=burned_in,
        number_of_frames=_integer(h["NumberOfFrames"], "number_of_frames", issues),
        study_date=_date(h["StudyDate"], "study_date", today, issues),
        series_date=_date(h["SeriesDate"], "series_date", today, issues),
        transfer_syntax_uid=header.transfer_syntax_uid,
        file_meta=header.file_meta,
        path=header.file.path,
        size=header.file.size,
        mtime=datetime.fromtimestamp(header.file.mtime_ns / 1e9, UTC).replace(tzinfo=None),
        header_sha256=header.sha256,
        issues=tuple(issues),
    )


def _uid(value: str | None) -> str | None:
    return value.strip("\x00 ")[:64] if value else None


def _text(value: str | None, *, upper: bool = False) -> str | None:
    if not value:
        return None
    text = " ".join(value.split())[:MAX_TEXT]
    return (text.upper() if upper else text) or None


def _number(value: str | None, name: str, issues: list[str]) -> float | None:
    if not value:
        return None
    try:
        number = float(value.split("\\")[0])
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        issues.append(f"{name}_invalid")
        return None
    return number


def _integer(value: str | None, name: str, issues: list[str]) -> int | None:
    if not value:
        return None
    try:
        number = int(value.split("\\")[0].strip())
    except ValueError:
        issues.append(f"{name}_invalid")
        return None
    if not -(2**31) <= number < 2**31:
        issues.append(f"{name}_invalid")
        return None
    return number


def _date(value: str | None, name: str, today: date, issues: list[str]) -> date | None:
    if not value:
        return None
    match = _DATE.match(value.strip())
    try:
        found = date(*(int(part) for part in match.groups())) if match else None
    except ValueError:
        found = None
    if found is None:
        issues.append(f"{name}_invalid")
    elif found > today:
        issues.append(f"{name}_future")
        found = None
    elif found < FIRST_DATE:
        issues.append(f"{name}_before_1895")
        found = None
    return found


# ---- roll-ups: instance -> series -> study, in SQL (DuckDB) -------------------------------

ORDER = "instance_number NULLS LAST, sop_instance_uid"
"""The order in which a series' instances are read for its texts."""


def _first(column: str, alias: str | None = None) -> str:
    """The first non-null value of ``column`` in :data:`ORDER`."""
    return f"first({column} ORDER BY {column} IS NULL, {ORDER}) AS {alias or column}"


SERIES_SQL = f"""
CREATE OR REPLACE TABLE imaging_series AS
WITH mapped AS (
    SELECT i.*, m.body_part, m.body_part_rule, m.contrast, m.contrast_rule
    FROM imaging_instance AS i
    JOIN imaging_mapping AS m
      ON coalesce(i.body_part_examined, '') = m.body_part_examined
     AND coalesce(i.study_description, '') = m.study_description
     AND coalesce(i.series_description, '') = m.series_description
     AND coalesce(i.protocol_name, '') = m.protocol_name
     AND coalesce(i.contrast_bolus_agent, '') = m.contrast_bolus_agent
     AND coalesce(i.contrast_bolus_route, '') = m.contrast_bolus_route
), series AS (
    SELECT
        series_instance_uid,
        min(study_instance_uid) AS study_instance_uid,
        count(DISTINCT study_instance_uid) AS studies,
        count(DISTINCT patient_pseudonym) AS patients,
        min(patient_pseudonym) AS patient_pseudonym,
        {_first("modality")},
        {_first("sop_class_uid")},
        {_first("series_number")},
        {_first("body_part")},
        {_first("body_part_rule")},
        {_first("body_part_examined")},
        CASE WHEN bool_or(contrast = 'yes') THEN 'yes'
             WHEN bool_or(contrast = 'no') THEN 'no' ELSE 'unknown' END AS contrast,
        first(contrast_rule ORDER BY contrast <> 'yes', contrast <> 'no', {ORDER})
            AS contrast_rule,
        {_first("contrast_bolus_agent", "contrast_agent")},
        {_first("contrast_bolus_route", "contrast_route")},
        CASE WHEN bool_or(burned_in_annotation = 'yes') THEN 'yes'
             WHEN bool_or(burned_in_annotation = 'no') THEN 'no' ELSE 'unknown' END
            AS burned_in,
        {_first("study_description")},
        {_first("series_description")},
        {_first("protocol_name")},
        {_first("manufacturer")},
        {_first("manufacturer_model_name", "model")},
        median(slice_thickness) AS slice_thickness,
        median(kvp) AS kvp,
        {_first("image_type")},
        count(*) AS n_instances,
        sum(coalesce(number_of_frames, 1)) AS n_frames,
        min(study_date) AS study_date,
        min(series_date) AS series_date,
        sum(size) AS bytes
    FROM mapped
    GROUP BY series_instance_uid
)
SELECT
    s.series_instance_uid, s.study_instance_uid,
    CASE WHEN s.patients = 1 AND l.persons = 1 THEN l.person_id END AS person_id,
    CASE WHEN s.patients > 1 THEN 'conflict'
         WHEN s.patients = 0 THEN 'no_identifier'
         WHEN l.persons IS NULL THEN 'no_match'
         WHEN l.persons > 1 THEN 'ambiguous'
         ELSE 'linked' END AS link,
    s.modality, s.sop_class_uid, s.series_number,
    s.body_part, s.body_part_rule, s.body_part_examined,
    s.contrast, s.contrast_rule, s.contrast_agent, s.contrast_route, s.burned_in,
    s.study_description, s.series_description, s.protocol_name, s.manufacturer, s.model,
    s.slice_thickness, s.kvp, s.image_type, s.n_instances, s.n_frames,
    s.study_date, s.series_date, s.bytes, s.studies > 1 AS study_conflict,
    $rules_version AS rules_version
FROM series AS s
LEFT JOIN imaging_person_link AS l ON l.pseudonym = s.patient_pseudonym
ORDER BY s.study_instance_uid, s.series_number NULLS LAST, s.series_instance_uid
"""  # noqa: S608 - built from this module's constants
"""The series table, from the instances, the rules' decisions on their texts
(``imaging_mapping``) and the link from pseudonym to person (``imaging_person_link``)."""

STUDY_SQL = """
CREATE OR REPLACE TABLE imaging_study AS
WITH study AS (
    SELECT
        study_instance_uid,
        count(DISTINCT link) > 1 OR count(DISTINCT person_id) > 1 AS conflict,
        min(link) AS link,
        min(person_id) AS person_id,
        min(study_date) AS study_date,
        first(study_description ORDER BY study_description IS NULL, series_number NULLS LAST,
              series_instance_uid) AS study_description,
        string_agg(DISTINCT modality, '\\' ORDER BY modality) AS modalities,
        string_agg(DISTINCT body_part, '\\' ORDER BY body_part) AS body_parts,
        CASE WHEN bool_or(contrast = 'yes') THEN 'yes'
             WHEN bool_or(contrast = 'no') THEN 'no' ELSE 'unknown' END AS contrast,
        CASE WHEN bool_or(burned_in = 'yes') THEN 'yes'
             WHEN bool_or(burned_in = 'no') THEN 'no' ELSE 'unknown' END AS burned_in,
        count(*) AS n_series,
        sum(n_instances) AS n_instances,
        sum(bytes) AS bytes
    FROM imaging_series
    GROUP BY study_instance_uid
)
SELECT
    study_instance_uid,
    CASE WHEN NOT conflict THEN person_id END AS person_id,
    CASE WHEN conflict THEN 'conflict' ELSE link END AS link,
    study_date, study_description, modalities, body_parts, contrast, burned_in,
    n_series, n_instances, bytes
FROM study
ORDER BY study_instance_uid
"""
"""The study table, from the series."""

SERIES_PART_INSTANCES = 4_000_000
"""Instances rolled up to series in one statement: beyond it, in parts (:func:`in_parts`)."""
STUDY_PART_SERIES = 1_000_000
"""Series rolled up to studies in one statement. DuckDB keeps every group of the ordered and
distinct aggregates in memory: the study roll-up of 10,000,000 series (2.95 million studies)
needs more than the indexer's default 1 GB, of 100,000,000 more than 8 GB
(docs/benchmarks.md, imaging-cohort)."""


def in_parts(sql: str, table: str, source: str, key: str, rows: int, per_part: int) -> list[str]:
    """``sql`` (``CREATE OR REPLACE TABLE table AS ... FROM source ...``) as statements that
    each roll up one part of ``source``'s rows, split by a hash of ``key`` (every row of one
    series or study in the same part): the first makes the table, the others insert into it.
    The same rows result, whatever the number of parts; each part holds at most about
    ``per_part`` of the ``rows``, so the memory a statement needs is bounded."""
    parts = max(1, -(-rows // per_part))
    if parts == 1:
        return [sql]
    create = f"CREATE OR REPLACE TABLE {table} AS"
    statements = []
    read = f"FROM {source} AS " if f"FROM {source} AS " in sql else f"FROM {source}\n"
    if sql.count(read) != 1 or not sql.lstrip().startswith(create):
        raise ValueError(f"the roll-up must read {source} once and create {table}")
    for part in range(parts):
        only = f"FROM (SELECT * FROM {source} WHERE hash({key}) % {parts} = {part}) AS "  # noqa: S608 - names and numbers of this module
        body = sql.replace(read, only if read.endswith("AS ") else f"{only}{source}\n")
        statements.append(body if part == 0 else body.replace(create, f"INSERT INTO {table}", 1))
    return statements
