"""The PICTURES question as an imaging cohort, counted at scale: 100,000,000 series rows on
DuckDB, 10,000,000 on PostgreSQL and Spark, each against hand-written SQL on the same engine;
and the initial indexing of the Scottish archive projected from the measured index rate.

    .venv/bin/python benchmarks/bench_imaging_cohort.py [--series N] [--engine-series M]
        [--engines duckdb,postgres,spark] [--runs R] [--workdir DIR] [--docs FILE]
        [--no-write] [--keep-other-engines] [--files-per-second F] [--generate-only]
        [--report-only]

The data is generated with DuckDB SQL straight into tables, not as DICOM files: an index of
``--series`` rows (``imaging_series`` with exactly the columns and types of the index,
``fivesafes.imaging.tables.SERIES_COLUMNS``; ``imaging_study`` rolled up from it by the
index's own ``STUDY_SQL``, over parts of about 10,000,000 series) and the OMOP tables the
question reads (``person``, ``observation_period``, ``observation`` with smoking status, a
``concept`` and ``concept_ancestor`` holding the concepts used), with persons scaled with the
series: 5,400,000 persons at 100,000,000 series, Scotland's population. Every value is drawn
from a hash of its row number and the seed, so a size and seed make the same tables every
time. The file is kept in ``--workdir`` (5.8 GiB at 100,000,000 series, made in about 17
minutes; the script checks the free space first) and made again only for another size, seed
or DuckDB version.

DuckDB reads the file as a node opens it. PostgreSQL gets a copy of ``--engine-series``
(``copy_omop_to_postgres`` into a fresh database, dropped at the end, with the indexes of
:data:`PG_INDEXES`); Spark the same tables as Parquet (``write_parquet``, ``local[2]``).

Each measurement runs in its own process: *platform* opens the source with ``open_omop`` and
counts with ``count_persons`` as a node does (concept check, compiling the cohort, the SQL);
*hand-written SQL* is :data:`REFERENCE_SQL`, written from the question, not from the
platform's compiler, run on the same engine and data. The first run in the process is *cold*
(compilation included; the data files are read once before, so they are in the OS page
cache), then
``--runs`` warm runs, of which the median. Peak memory is the process's own ``VmHWM``, for
Spark also the JVM's, for PostgreSQL the server backend's. The load average is read before
and after each.

The figures are printed and written into ``--docs`` (docs/benchmarks.md) between
``<!-- bench:imaging-cohort -->`` and ``<!-- /bench:imaging-cohort -->``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from bench_imaging_index import SCOTLAND, WEEK_SECONDS, projection
from bench_imaging_index import SECTION as INDEX_SECTION
from fivesafes.cohorts.criteria import Cohort
from record import DOCS, machine, peak_rss_mib, process_peak_mib, timed, update_section

SECTION = "imaging-cohort"
GOAL_SECONDS = 5.0
GOAL_SERIES = 100_000_000
SEED = 20261206
SCOTLAND_PERSONS = 5_400_000
BYTES_PER_SERIES = 65  # the DuckDB file, all tables: 62 bytes a series row at 100,000,000
PG_ADMIN_URL = os.environ.get(
    "FIVESAFES_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)

PICTURES_JSON: dict[str, Any] = {
    "name": "CT chest with contrast, current smokers aged 55-65 at the scan",
    "age": {"min": 55, "max": 65},
    "criteria": [
        {"domain": "imaging", "modality": ["CT"], "body_part": ["CHEST"], "contrast": ["yes"]},
        {"domain": "observation", "concepts": [43054909], "value_concepts": [45881517]},
    ],
}
PICTURES = Cohort.model_validate(PICTURES_JSON)
"""The PICTURES question: the index is the person's first matching series (the first
criterion), the age is at that scan, the smoking observation may be at any time."""

REFERENCE_SQL = """
WITH first_scan AS (
    SELECT person_id, MIN(COALESCE(series_date, study_date)) AS scan_date
    FROM imaging_series
    WHERE person_id IS NOT NULL
      AND modality = 'CT'
      AND body_part IN ('CHEST', 'CHESTABDOMEN', 'CHESTABDPELVIS')
      AND contrast = 'yes'
      AND COALESCE(series_date, study_date) IS NOT NULL
    GROUP BY person_id
), smoking_concepts AS (
    SELECT concept_id FROM concept WHERE concept_id = 43054909
    UNION
    SELECT descendant_concept_id FROM concept_ancestor WHERE ancestor_concept_id = 43054909
), current_smokers AS (
    SELECT DISTINCT person_id FROM observation
    WHERE value_as_concept_id = 45881517
      AND observation_concept_id IN (SELECT concept_id FROM smoking_concepts)
)
SELECT COUNT(*)
FROM first_scan AS f
JOIN person AS p ON p.person_id = f.person_id
JOIN current_smokers AS s ON s.person_id = f.person_id
WHERE EXTRACT(YEAR FROM f.scan_date) - p.year_of_birth BETWEEN 55 AND 65
"""
"""The question written by hand, from its words (the body parts that include the chest are
the shipped vocabulary's, written out here), in SQL that DuckDB, PostgreSQL and Spark run."""


# --- the data: distributions ---------------------------------------------------------------


@dataclass(frozen=True)
class Modality:
    """How the studies of one modality are drawn."""

    name: str
    share: float  # of studies
    series: tuple[int, int]  # series per study, both inclusive
    images: tuple[int, int]  # images per series, both inclusive
    kib: int  # per image
    contrast: float  # share of its studies with a contrast protocol
    body_parts: tuple[tuple[str | None, float], ...]  # term (None: no body part), share
    sop_class: str
    descriptions: tuple[str, ...]  # series descriptions, by series number


PLAIN_FILM_PARTS = (
    ("CHEST", 0.42), ("EXTREMITY", 0.30), ("SPINE", 0.08), ("PELVIS", 0.08),
    ("ABDOMEN", 0.05), ("HEAD", 0.02), ("NECK", 0.01), (None, 0.04),
)  # fmt: skip
MODALITY_MIX = (
    Modality("CR", 0.21, (1, 3), (1, 1), 10_000, 0.0, PLAIN_FILM_PARTS,
             "1.2.840.10008.5.1.4.1.1.1", ("PA", "LAT", "AP")),
    Modality("DX", 0.24, (1, 3), (1, 1), 8_000, 0.0, PLAIN_FILM_PARTS,
             "1.2.840.10008.5.1.4.1.1.1.1", ("PA", "LAT", "AP")),
    Modality("US", 0.22, (1, 4), (1, 15), 600, 0.0,
             (("ABDOMEN", 0.35), ("PELVIS", 0.18), ("NECK", 0.10), ("BREAST", 0.08),
              ("HEART", 0.10), ("EXTREMITY", 0.08), ("ABDOMENPELVIS", 0.05), (None, 0.06)),
             "1.2.840.10008.5.1.4.1.1.6.1", ("Image", "Cine", "Doppler", "Measurements")),
    Modality("CT", 0.14, (2, 9), (20, 100), 520, 0.45,
             (("HEAD", 0.24), ("CHEST", 0.22), ("CHESTABDPELVIS", 0.14),
              ("ABDOMENPELVIS", 0.14), ("CHESTABDOMEN", 0.04), ("ABDOMEN", 0.04),
              ("SPINE", 0.05), ("NECK", 0.03), ("HEADNECK", 0.02), ("HEART", 0.03),
              ("PELVIS", 0.01), ("EXTREMITY", 0.02), ("WHOLEBODY", 0.01), (None, 0.01)),
             "1.2.840.10008.5.1.4.1.1.2",
             ("Topogram", "Axial 5mm", "Axial 1mm", "Coronal 3mm", "Sagittal 3mm", "Lung 1mm",
              "Soft tissue 2mm", "MIP 10mm", "Bone 1mm")),
    Modality("MR", 0.09, (4, 14), (15, 60), 260, 0.30,
             (("HEAD", 0.34), ("SPINE", 0.20), ("EXTREMITY", 0.18), ("PELVIS", 0.07),
              ("ABDOMEN", 0.06), ("BREAST", 0.04), ("HEART", 0.03), ("NECK", 0.03),
              ("HEADNECK", 0.02), ("CHEST", 0.01), (None, 0.02)),
             "1.2.840.10008.5.1.4.1.1.4",
             ("Localizer", "T1 SAG", "T2 AX", "FLAIR AX", "DWI", "ADC", "T1 AX", "T2 COR",
              "SWI", "T2 SAG", "PD FS COR", "STIR COR", "T1 POST AX", "T1 POST COR")),
    Modality("MG", 0.05, (4, 4), (1, 1), 40_000, 0.0, (("BREAST", 1.0),),
             "1.2.840.10008.5.1.4.1.1.1.2", ("R CC", "L CC", "R MLO", "L MLO")),
    Modality("RF", 0.02, (1, 4), (1, 20), 1_000, 0.5,
             (("ABDOMEN", 0.4), ("CHEST", 0.2), ("PELVIS", 0.2), ("SPINE", 0.1), (None, 0.1)),
             "1.2.840.10008.5.1.4.1.1.12.2", ("Fluoro", "Spot")),
    Modality("XA", 0.015, (2, 8), (10, 80), 1_000, 0.9,
             (("HEART", 0.6), ("HEAD", 0.15), ("ABDOMEN", 0.1), ("EXTREMITY", 0.1),
              (None, 0.05)),
             "1.2.840.10008.5.1.4.1.1.12.1", ("Run",)),
    Modality("NM", 0.008, (1, 3), (1, 4), 2_000, 0.0,
             (("WHOLEBODY", 0.5), ("HEART", 0.3), ("NECK", 0.1), (None, 0.1)),
             "1.2.840.10008.5.1.4.1.1.20", ("Static", "Whole body", "SPECT")),
    Modality("PT", 0.004, (2, 4), (100, 400), 130, 0.0,
             (("WHOLEBODY", 0.8), ("HEAD", 0.1), ("CHESTABDPELVIS", 0.1)),
             "1.2.840.10008.5.1.4.1.1.128", ("PET WB AC", "PET WB NAC", "CT AC", "MIP")),
    Modality("OT", 0.003, (1, 1), (1, 1), 300, 0.0, (("CHEST", 0.5), (None, 0.5)),
             "1.2.840.10008.5.1.4.1.1.7", ("Secondary capture",)),
)  # fmt: skip
"""Studies by modality, roughly as an NHS radiology archive holds them: plain films and
ultrasound most studies, CT and MR most series."""

MAKERS = ("SIEMENS", "GE MEDICAL SYSTEMS", "Philips", "Canon Medical Systems", "FUJIFILM")
MODELS = ("SOMATOM Definition AS", "Revolution", "Ingenia", "Aquilion ONE", "FDR D-EVO")
UID_ROOT = "1.2.826.0.1.3680043.10.1206"  # an example organisation root
FIRST_DAY, DAYS = "2010-01-01", 5844  # scans 2010-01-01 to 2025-12-31
LINKS = (("no_match", 0.020), ("no_identifier", 0.003), ("conflict", 0.002))
"""Series not linked to a person (``person_id`` null), as the index marks them."""

SERIES_TYPES = {
    "series_instance_uid": "VARCHAR", "study_instance_uid": "VARCHAR", "person_id": "INTEGER",
    "link": "VARCHAR", "modality": "VARCHAR", "sop_class_uid": "VARCHAR",
    "series_number": "INTEGER", "body_part": "VARCHAR", "body_part_rule": "VARCHAR",
    "body_part_examined": "VARCHAR", "contrast": "VARCHAR", "contrast_rule": "VARCHAR",
    "contrast_agent": "VARCHAR", "contrast_route": "VARCHAR", "burned_in": "VARCHAR",
    "study_description": "VARCHAR", "series_description": "VARCHAR",
    "protocol_name": "VARCHAR", "manufacturer": "VARCHAR", "model": "VARCHAR",
    "slice_thickness": "DOUBLE", "kvp": "DOUBLE", "image_type": "VARCHAR",
    "n_instances": "BIGINT", "n_frames": "HUGEINT", "study_date": "DATE",
    "series_date": "DATE", "bytes": "HUGEINT", "study_conflict": "BOOLEAN",
    "rules_version": "VARCHAR",
}  # fmt: skip
"""The types the index gives ``imaging_series`` (``fivesafes.imaging.project.SERIES_SQL`` on
a CDM whose ``person_id`` is INTEGER), in the order of ``SERIES_COLUMNS``."""


def _q(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def _pick(u: str, choices: tuple[tuple[Any, float], ...], *, text: bool = True) -> str:
    """SQL choosing one of ``choices`` (value, share) by the uniform draw ``u``: text values
    quoted, others written as they are."""
    values = [_q(v) if text else str(v) for v, _ in choices]
    total, whens = 0.0, []
    for value, (_, share) in zip(values[:-1], choices[:-1], strict=True):
        total += share
        whens.append(f"WHEN {u} < {total:.6f} THEN {value}")
    return f"CASE {' '.join(whens)} ELSE {values[-1]} END" if whens else values[0]


def _between(u: str, low: int, high: int) -> str:
    """SQL for a whole number from ``low`` to ``high`` (both inclusive) by the draw ``u``."""
    return str(low) if low == high else f"({low} + CAST(floor({u} * {high - low + 1}) AS BIGINT))"


def _by_modality(column: str, sql: Callable[[Modality], str]) -> str:
    whens = " ".join(f"WHEN {_q(m.name)} THEN {sql(m)}" for m in MODALITY_MIX)
    return f"CASE {column} {whens} END"


def _list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def mean_series_per_study() -> float:
    return sum(m.share * (m.series[0] + m.series[1]) / 2 for m in MODALITY_MIX)


def persons_for(series: int) -> int:
    """Persons scaled with the series: Scotland's 5,400,000 at 100,000,000 series."""
    return max(100, round(series * SCOTLAND_PERSONS / GOAL_SERIES))


# --- the data: generation ------------------------------------------------------------------


def _study_sql(studies: int, persons: int) -> str:
    modality = _pick("u(j, 'modality')", tuple((m.name, m.share) for m in MODALITY_MIX))
    n_series = _by_modality("modality", lambda m: _between("u(j, 'n_series')", *m.series))
    body_part = _by_modality("modality", lambda m: _pick("u(j, 'body_part')", m.body_parts))
    contrast = _by_modality("modality", lambda m: f"u(j, 'contrast') < {m.contrast}")
    link = _pick("u(j, 'link')", (*LINKS, ("linked", 1.0)))
    return f"""
CREATE OR REPLACE TEMP TABLE gen_study AS
WITH drawn AS (
    SELECT j, {modality} AS modality FROM range({studies}) AS t(j)
), counted AS (
    SELECT j, modality, {n_series} AS n_series FROM drawn
)
SELECT
    j, modality, n_series,
    sum(n_series) OVER (ORDER BY j ROWS UNBOUNDED PRECEDING) - n_series AS first_series,
    {link} AS link,
    1 + CAST(hash(j, 'person', {SEED}) % {persons} AS BIGINT) AS linked_person,
    DATE '{FIRST_DAY}' + CAST(floor(u(j, 'date') * {DAYS}) AS INTEGER) AS scan_date,
    u(j, 'undated') < 0.003 AS undated,
    {body_part} AS body_part,
    {contrast} AS contrast_study,
    CAST(floor(u(j, 'maker') * {len(MAKERS)}) AS INTEGER) + 1 AS maker
FROM counted
"""


def _series_sql(series: int, rules_version: str) -> str:
    images = _by_modality("modality", lambda m: _between("u(g, 'images')", *m.images))
    kib = _by_modality("s.modality", lambda m: str(m.kib))
    sop = _by_modality("s.modality", lambda m: _q(m.sop_class))
    described = _by_modality("s.modality", lambda m: _list(m.descriptions))
    agent = "CASE s.modality WHEN 'CT' THEN 'OMNIPAQUE 350' WHEN 'MR' THEN 'GADOVIST' "
    agent += "ELSE 'VISIPAQUE 320' END"
    columns = {
        "series_instance_uid": f"'{UID_ROOT}.2.' || j || '.' || (k + 1)",
        "study_instance_uid": f"'{UID_ROOT}.1.' || j",
        "person_id": "CASE WHEN link = 'linked' THEN linked_person END",
        "link": "link",
        "modality": "series_modality",
        "sop_class_uid": f"CASE WHEN series_modality = 'SR' THEN '1.2.840.10008.5.1.4.1.1.88.67' "
        f"ELSE {sop} END",
        "series_number": "k + 1",
        "body_part": "part",
        "body_part_rule": "CASE WHEN part IS NOT NULL THEN lower(part) || '@BodyPartExamined' END",
        "body_part_examined": "CASE WHEN part = 'CHEST' AND u(j, 'thorax') < 0.3 THEN 'THORAX' "
        "WHEN part = 'EXTREMITY' THEN list_element(['KNEE', 'HAND', 'FOOT', 'SHOULDER', "
        "'ANKLE', 'WRIST'], 1 + CAST(floor(u(j, 'limb') * 6) AS INTEGER)) ELSE part END",
        "contrast": "contrast",
        "contrast_rule": "CASE contrast WHEN 'yes' THEN 'agent@ContrastBolusAgent' "
        "WHEN 'no' THEN 'agent-none@ContrastBolusAgent' END",
        "contrast_agent": f"CASE contrast WHEN 'yes' THEN {agent} WHEN 'no' THEN 'NONE' END",
        "contrast_route": "CASE contrast WHEN 'yes' THEN 'IV' END",
        "burned_in": "CASE WHEN s.modality = 'US' AND u(g, 'burned') < 0.3 THEN 'yes' "
        "WHEN u(g, 'burned') < 0.6 THEN 'no' ELSE 'unknown' END",
        "study_description": "s.modality || ' ' || coalesce(s.body_part, 'GENERAL') "
        "|| CASE WHEN contrast_study THEN ' +C' ELSE '' END",
        "series_description": "CASE WHEN series_modality = 'SR' THEN 'Dose Report' "
        f"ELSE list_element({described}, 1 + CAST(k % len({described}) AS INTEGER)) END",
        "protocol_name": "s.modality || '_' || coalesce(s.body_part, 'GENERAL') "
        "|| CASE WHEN contrast_study THEN '_C' ELSE '' END",
        "manufacturer": f"list_element({_list(MAKERS)}, maker)",
        "model": f"list_element({_list(MODELS)}, maker)",
        "slice_thickness": "CASE WHEN series_modality = 'CT' AND k > 0 THEN list_element("
        "[0.625, 1.0, 1.25, 2.5, 5.0], 1 + CAST(floor(u(g, 'thick') * 5) AS INTEGER)) "
        "WHEN series_modality = 'MR' THEN 3.0 + floor(u(g, 'thick') * 3) END",
        "kvp": "CASE WHEN series_modality = 'CT' THEN list_element([100.0, 120.0], "
        "1 + CAST(floor(u(g, 'kvp') * 2) AS INTEGER)) "
        "WHEN s.modality IN ('CR', 'DX') THEN 60.0 + floor(u(g, 'kvp') * 65) "
        "WHEN s.modality = 'MG' THEN 28.0 + floor(u(g, 'kvp') * 5) END",
        "image_type": "CASE WHEN series_modality = 'SR' THEN NULL "
        "WHEN s.modality = 'CT' AND k = 0 THEN 'ORIGINAL\\PRIMARY\\LOCALIZER' "
        "WHEN s.modality IN ('CT', 'MR') THEN 'ORIGINAL\\PRIMARY\\AXIAL' "
        "ELSE 'ORIGINAL\\PRIMARY' END",
        "n_instances": "images",
        "n_frames": "CASE WHEN s.modality IN ('US', 'XA') "
        "THEN images * (1 + CAST(floor(u(g, 'frames') * 60) AS BIGINT)) ELSE images END",
        "study_date": "CASE WHEN NOT undated THEN scan_date END",
        "series_date": "CASE WHEN u(g, 'series_date') < 0.04 THEN NULL "
        "WHEN u(g, 'series_date') < 0.045 THEN scan_date + 1 ELSE scan_date END",
        "bytes": f"images * (CASE WHEN series_modality = 'SR' THEN 20 ELSE {kib} END) * 1024",
        "study_conflict": "false",
        "rules_version": _q(rules_version),
    }
    assert tuple(columns) == tuple(SERIES_TYPES)
    select = ",\n    ".join(
        f"CAST({sql} AS {SERIES_TYPES[name]}) AS {name}" for name, sql in columns.items()
    )
    return f"""
CREATE TABLE imaging_series AS
WITH unnested AS (
    SELECT *, unnest(range(n_series)) AS k FROM gen_study WHERE first_series < {series}
), numbered AS (
    SELECT *, first_series + k AS g FROM unnested WHERE first_series + k < {series}
), s AS (
    SELECT numbered.*,
        CASE WHEN modality = 'CT' AND k > 1 AND k = n_series - 1 AND u(g, 'sr') < 0.3
             THEN 'SR' ELSE modality END AS series_modality,
        {images} AS images
    FROM numbered
), judged AS (
    SELECT s.*,
        CASE WHEN series_modality <> 'SR' THEN s.body_part END AS part,
        CASE
            WHEN series_modality = 'SR' THEN 'unknown'
            WHEN contrast_study AND s.modality = 'CT' AND k = 0 THEN 'no'
            WHEN contrast_study AND s.modality = 'MR' AND k < n_series / 2 THEN 'no'
            WHEN contrast_study AND s.modality IN ('CT', 'MR') THEN
                CASE WHEN u(g, 'contrast') < 0.92 THEN 'yes' ELSE 'unknown' END
            WHEN contrast_study THEN 'yes'
            WHEN s.modality IN ('CT', 'MR') THEN
                CASE WHEN u(g, 'contrast') < 0.7 THEN 'no' ELSE 'unknown' END
            WHEN u(g, 'contrast') < 0.15 THEN 'no'
            ELSE 'unknown'
        END AS contrast
    FROM s
)
SELECT
    {select}
FROM judged AS s
"""


def _omop_sql(persons: int) -> list[str]:
    from fivesafes.data.cdm_spec import duckdb_table_ddl
    from fivesafes.data.synth import concepts as c

    used = (c.MALE, c.FEMALE, c.WHITE, c.NOT_HISPANIC, c.EHR, c.TOBACCO_SMOKING_STATUS,
            c.CURRENT_SMOKER, c.FORMER_SMOKER, c.NEVER_SMOKER)  # fmt: skip
    by_id = c.concept_by_id()
    concept_rows = ", ".join(
        f"({x.concept_id}, {_q(x.concept_name)}, {_q(x.domain_id)}, {_q(x.vocabulary_id)}, "
        f"{_q(x.concept_class_id)}, {_q(x.standard_concept)}, {_q(x.concept_code)}, "
        "DATE '1970-01-01', DATE '2099-12-31', NULL)"
        for x in (by_id[i] for i in used)
    )
    smoking = _pick(
        "u(observation_id, 'smoking')",
        ((c.CURRENT_SMOKER, 0.20), (c.FORMER_SMOKER, 0.28), (c.NEVER_SMOKER, 0.52)),
        text=False,
    )
    return [
        *(duckdb_table_ddl(t, t) for t in ("person", "observation_period", "observation")),
        *(duckdb_table_ddl(t, t) for t in ("concept", "concept_ancestor")),
        f"INSERT INTO concept VALUES {concept_rows}",
        "INSERT INTO concept_ancestor SELECT concept_id, concept_id, 0, 0 FROM concept",
        f"""INSERT INTO person BY NAME
            SELECT CAST(i AS INTEGER) AS person_id,
                CASE WHEN u(i, 'sex') < 0.5 THEN {c.MALE} ELSE {c.FEMALE} END
                    AS gender_concept_id,
                CAST(1915 + floor(45 * (u(i, 'born') + u(i, 'born2'))) AS INTEGER)
                    AS year_of_birth,
                CAST(1 + floor(u(i, 'month') * 12) AS INTEGER) AS month_of_birth,
                CAST(1 + floor(u(i, 'day') * 28) AS INTEGER) AS day_of_birth,
                {c.WHITE} AS race_concept_id, {c.NOT_HISPANIC} AS ethnicity_concept_id
            FROM range(1, {persons} + 1) AS t(i)""",
        f"""INSERT INTO observation_period
            SELECT CAST(i AS INTEGER), CAST(i AS INTEGER),
                DATE '2000-01-01' + CAST(floor(u(i, 'period') * 3650) AS INTEGER),
                DATE '2025-12-31', {c.EHR}
            FROM range(1, {persons} + 1) AS t(i)""",
        f"""INSERT INTO observation BY NAME
            WITH rows AS (
                SELECT CAST(i AS INTEGER) AS person_id, CAST(2 * i + r AS INTEGER)
                    AS observation_id
                FROM range(1, {persons} + 1) AS t(i), range(2) AS n(r)
                WHERE r < CASE WHEN u(i, 'smoking rows') < 0.1 THEN 0
                               WHEN u(i, 'smoking rows') < 0.7 THEN 1 ELSE 2 END
            )
            SELECT observation_id, person_id, {c.TOBACCO_SMOKING_STATUS}
                    AS observation_concept_id,
                DATE '2005-01-01' + CAST(floor(u(observation_id, 'seen') * 7670) AS INTEGER)
                    AS observation_date,
                {c.EHR} AS observation_type_concept_id,
                {smoking} AS value_as_concept_id
            FROM rows""",
    ]


@dataclass
class Generated:
    path: str
    series: int
    seconds: float  # how long generating took
    rows: dict[str, int]
    megabytes: float
    facts: dict[str, Any]
    cached: bool = False  # made by an earlier run


def generate(workdir: Path, series: int, memory_limit: str) -> Generated:
    """The index of ``series`` rows and its OMOP tables in a DuckDB file in ``workdir``,
    made unless there already (same size, seed and DuckDB version)."""
    tag = f"imaging-{series}-seed{SEED}-duckdb{duckdb.__version__}"
    path, facts_file = workdir / f"{tag}.duckdb", workdir / f"{tag}.json"
    if path.is_file() and facts_file.is_file():
        return Generated(**{**json.loads(facts_file.read_text()), "cached": True})
    check_space(workdir, series)
    from fivesafes.imaging.project import STUDY_SQL
    from fivesafes.imaging.rules import load_rules
    from fivesafes.imaging.tables import SERIES_COLUMNS, STUDY_COLUMNS

    if tuple(SERIES_TYPES) != SERIES_COLUMNS:
        raise AssertionError("SERIES_TYPES no longer lists the index's SERIES_COLUMNS")
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    persons = persons_for(series)
    started = time.perf_counter()
    with duckdb.connect(str(partial)) as con:
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute(f"SET temp_directory = '{workdir / 'duckdb-spill'}'")
        con.execute("SET preserve_insertion_order = true")
        con.execute(
            f"CREATE TEMP MACRO u(key, tag) AS hash(key, tag, {SEED}) / 18446744073709551616.0"
        )
        for statement in _omop_sql(persons):
            con.execute(statement)
        studies = math.ceil(series / mean_series_per_study() * 1.02) + 1_000
        while True:
            con.execute(_study_sql(studies, persons))
            made = con.execute("SELECT max(first_series + n_series) FROM gen_study").fetchone()
            if made is not None and made[0] >= series:
                break
            studies = math.ceil(studies * 1.1)
        con.execute(_series_sql(series, str(load_rules().version)))
        con.execute("DROP TABLE gen_study")
        roll_up_studies(con, STUDY_SQL, math.ceil(series / STUDIES_ROLLED_UP_AT_ONCE))
        con.execute("CHECKPOINT")
        stored = {
            t: [c[0] for c in con.execute(f"DESCRIBE {t}").fetchall()]
            for t in ("imaging_series", "imaging_study")
        }
        if tuple(stored["imaging_series"]) != SERIES_COLUMNS:
            raise AssertionError("imaging_series is not the index's table")
        if tuple(stored["imaging_study"]) != STUDY_COLUMNS:
            raise AssertionError("imaging_study is not the index's table")
        rows = {t: count_rows(con, t) for t in TABLES}
        facts = data_facts(con)
    seconds = time.perf_counter() - started
    partial.rename(path)
    generated = Generated(str(path), series, seconds, rows, path.stat().st_size / 1024**2, facts)
    facts_file.write_text(json.dumps(generated.__dict__))
    return generated


STUDIES_ROLLED_UP_AT_ONCE = 10_000_000  # series: STUDY_SQL over 100,000,000 needs > 8 GB


def roll_up_studies(con: duckdb.DuckDBPyConnection, study_sql: str, parts: int) -> None:
    """``imaging_study`` from ``imaging_series`` by the index's own ``study_sql``, in
    ``parts`` runs over disjoint sets of studies (its ordered aggregates keep every group in
    memory: over 100,000,000 series at once they need more than 8 GB)."""
    if parts <= 1:
        con.execute(study_sql)
        return
    con.execute("CREATE SCHEMA roll_up")
    for part in range(parts):
        con.execute(
            "CREATE OR REPLACE VIEW roll_up.imaging_series AS SELECT * FROM main.imaging_series "
            f"WHERE hash(study_instance_uid) % {parts} = {part}"
        )
        con.execute("SET schema = 'roll_up'")
        con.execute(study_sql)  # into roll_up.imaging_study
        con.execute("SET schema = 'main'")
        if part == 0:
            con.execute("CREATE TABLE main.imaging_study AS FROM roll_up.imaging_study")
        else:
            con.execute("INSERT INTO main.imaging_study FROM roll_up.imaging_study")
    con.execute("DROP SCHEMA roll_up CASCADE")


TABLES = (
    "person", "observation_period", "observation", "concept", "concept_ancestor",
    "imaging_study", "imaging_series",
)  # fmt: skip


def count_rows(con: duckdb.DuckDBPyConnection, table: str) -> int:
    found = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(found[0]) if found else 0


def data_facts(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """What the generated index holds, in a few shares, for the report."""

    def shares(sql: str) -> dict[str, float]:
        return {str(k): float(v) for k, v in con.execute(sql).fetchall()}

    total = "(SELECT count(*) FROM imaging_series)"
    found = con.execute(
        "SELECT sum(n_instances), avg((person_id IS NULL)::INT), "
        "avg((coalesce(series_date, study_date) IS NULL)::INT), "
        "avg((modality = 'CT' AND contrast = 'yes' "
        "AND body_part IN ('CHEST', 'CHESTABDOMEN', 'CHESTABDPELVIS'))::INT) FROM imaging_series"
    ).fetchone()
    assert found is not None
    return {
        "instances": int(found[0]),
        "unlinked": float(found[1]),
        "undated": float(found[2]),
        "matching": float(found[3]),
        "modality": shares(
            f"SELECT modality, count(*) / {total} FROM imaging_series GROUP BY 1 ORDER BY 2 DESC"
        ),
        "chest": shares(
            f"SELECT body_part, count(*) / {total} FROM imaging_series "
            "WHERE body_part LIKE 'CHEST%' GROUP BY 1 ORDER BY 2 DESC"
        ),
        "contrast": shares(
            f"SELECT contrast, count(*) / {total} FROM imaging_series GROUP BY 1 ORDER BY 2 DESC"
        ),
        "studies_per_person": float(
            con.execute(  # type: ignore[index]
                "SELECT count(*) / count(DISTINCT person_id) FROM imaging_study "
                "WHERE person_id IS NOT NULL"
            ).fetchone()[0]
        ),
    }


def check_space(workdir: Path, series: int) -> None:
    """Refuse to start when ``workdir``'s disk cannot hold the file (and DuckDB's spill)."""
    workdir.mkdir(parents=True, exist_ok=True)
    need = 2 * series * BYTES_PER_SERIES
    free = shutil.disk_usage(workdir).free
    if free < need:
        raise SystemExit(
            f"{series:,} series need about {need / 1024**3:.1f} GiB free in {workdir} (the "
            f"file and DuckDB's spill while making it); {free / 1024**3:.1f} GiB are free"
        )


# --- copies for PostgreSQL and Spark -------------------------------------------------------

PG_INDEXES = (
    ("person", "person_id", True),
    ("observation_period", "person_id", False),
    ("observation", "person_id", False),
    ("observation", "observation_concept_id", False),
    ("concept", "concept_id", True),
    ("concept_ancestor", "ancestor_concept_id", False),
    ("concept_ancestor", "descendant_concept_id", False),
    ("imaging_study", "study_instance_uid", True),
    ("imaging_study", "person_id", False),
    ("imaging_series", "series_instance_uid", True),
    ("imaging_series", "study_instance_uid", False),
    ("imaging_series", "person_id", False),
    ("imaging_series", "modality, body_part, contrast", False),
)
"""What a TRE would index: the OHDSI CDM DDL's indexes on the tables read (primary keys,
``person_id``, concept ids), and on the index the UIDs, ``person_id`` and the columns an
imaging criterion selects on."""


@contextlib.contextmanager
def postgres_copy(data: Generated, admin_url: str) -> Iterator[tuple[str, dict[str, float]]]:
    """A fresh PostgreSQL database holding ``data`` in schema ``cdm``, indexed and analysed;
    dropped afterwards. Yields its URL and how long loading and indexing took."""
    import psycopg

    from fivesafes.data.pg_load import copy_omop_to_postgres

    name = f"fivesafes_bench_imaging_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        started = time.perf_counter()
        copy_omop_to_postgres(Path(data.path), url, "cdm")
        took = {"load": time.perf_counter() - started}
        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as con:
            for n, (table, columns, unique) in enumerate(PG_INDEXES):
                kind = "UNIQUE INDEX" if unique else "INDEX"
                con.execute(f"CREATE {kind} bench_{n} ON cdm.{table} ({columns})")
            con.execute("ANALYZE")
        took["index"] = time.perf_counter() - started
        yield url, took
    finally:
        with psycopg.connect(admin_url, autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def parquet_copy(data: Generated) -> tuple[Path, float | None]:
    """``data`` as a folder of Parquet, one file a table (cached beside the file)."""
    from fivesafes.data.spark import write_parquet

    folder = Path(data.path).with_suffix(".parquet")
    if folder.is_dir():
        return folder, None
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    started = time.perf_counter()
    write_parquet(Path(data.path), partial)
    partial.rename(folder)
    return folder, time.perf_counter() - started


def read_through(path: Path) -> None:
    """Read the file (or every file under the folder) once, so that each measurement finds it
    in the OS page cache, whichever runs first."""
    for file in [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()):
        with open(file, "rb") as handle:
            while handle.read(1 << 24):
                pass


def postgres_settings(url: str) -> str:
    import psycopg

    names = ("server_version", "shared_buffers", "work_mem", "max_parallel_workers_per_gather")
    with psycopg.connect(url) as con:
        values = [con.execute(f"SELECT current_setting('{n}')").fetchone() for n in names]
    return ", ".join(f"{n} {v[0] if v else '?'}" for n, v in zip(names, values, strict=True))


# --- one measurement, in its own process ---------------------------------------------------


@dataclass
class Job:
    engine: str  # duckdb | postgres | spark
    form: str  # platform | reference
    location: str  # DuckDB file, PostgreSQL URL or Parquet folder
    series: int
    runs: int
    duckdb_memory_mb: int
    spark_driver_memory: str
    timeout: int = 1800  # seconds the whole process may take
    profile: bool = False


@dataclass
class Result:
    job: dict[str, Any]
    count: int | None = None
    opened: float | None = None  # opening the source (Spark: starting its session)
    cold: float | None = None
    warm: list[float] = field(default_factory=list)
    peak_mib: float | None = None
    engine_peak_mib: float | None = None
    engine_peak_what: str | None = None
    profile: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    loads: list[float] = field(default_factory=list)  # 1-minute load before, after
    measured: str = ""  # when, UTC

    @property
    def median(self) -> float | None:
        return statistics.median(self.warm) if self.warm else None


def measure_platform(job: Job, result: Result) -> None:
    from fivesafes.analyses.count.node import count_persons
    from fivesafes.data.engines import open_omop
    from fivesafes.data.source import DuckDBSource, PostgresSource, Source, SparkSource

    source: Source
    if job.engine == "duckdb":
        source = DuckDBSource(engine="duckdb", path=Path(job.location))
    elif job.engine == "postgres":
        source = PostgresSource(engine="postgres", url=job.location, schema="cdm")
    else:
        source = SparkSource(
            engine="spark", path=Path(job.location), driver_memory=job.spark_driver_memory
        )
    started = time.perf_counter()
    memory = job.duckdb_memory_mb if job.engine == "duckdb" else None
    with open_omop(source, memory_mb=memory) as db:
        result.opened = time.perf_counter() - started
        if job.engine == "duckdb":
            result.settings = duckdb_settings(db.backend.con)
        timed(lambda: count_persons(db, PICTURES), job.runs, result)
        if job.profile:
            result.profile = profile(db)
        if job.engine == "postgres":
            result.engine_peak_mib = process_peak_mib(db.backend.con.info.backend_pid)
            result.engine_peak_what = "backend"
        if job.engine == "spark":
            spark_peak(db.backend._session, result)


def measure_reference(job: Job, result: Result) -> None:
    started = time.perf_counter()
    if job.engine == "duckdb":
        config = {"memory_limit": f"{job.duckdb_memory_mb}MB"}
        with duckdb.connect(job.location, read_only=True, config=config) as con:
            result.opened = time.perf_counter() - started
            result.settings = duckdb_settings(con)
            timed(lambda: int(con.execute(REFERENCE_SQL).fetchone()[0]), job.runs, result)  # type: ignore[index]
    elif job.engine == "postgres":
        import psycopg

        options = "-c search_path=cdm -c default_transaction_read_only=on"
        with psycopg.connect(job.location, autocommit=True, options=options) as pg:
            result.opened = time.perf_counter() - started
            timed(lambda: int(pg.execute(REFERENCE_SQL).fetchone()[0]), job.runs, result)  # type: ignore[index]
            result.engine_peak_mib = process_peak_mib(pg.info.backend_pid)
            result.engine_peak_what = "backend"
    else:
        from fivesafes.data.source import SparkSource
        from fivesafes.data.spark import parquet_tables, spark_session

        folder = Path(job.location)
        session = spark_session(
            SparkSource(engine="spark", path=folder, driver_memory=job.spark_driver_memory)
        )
        for name, path in parquet_tables(folder).items():
            session.read.parquet(str(path)).createOrReplaceTempView(name)
        result.opened = time.perf_counter() - started
        timed(lambda: int(session.sql(REFERENCE_SQL).collect()[0][0]), job.runs, result)
        spark_peak(session, result)


def duckdb_settings(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    names = ("threads", "memory_limit")
    found = [con.execute(f"SELECT current_setting('{n}')").fetchone() for n in names]
    return {n: str(f[0]) if f else "?" for n, f in zip(names, found, strict=True)}


def spark_peak(session: Any, result: Result) -> None:
    with contextlib.suppress(AttributeError):
        result.engine_peak_mib = process_peak_mib(session.sparkContext._gateway.proc.pid)
        result.engine_peak_what = "JVM"


def profile(db: Any) -> dict[str, Any]:
    """Where a DuckDB count goes: the concept check, building the Ibis expression, compiling
    it, running the SQL (median of 3), and the costliest operators of DuckDB's profile."""
    from fivesafes.cohorts.compile import cohort_size
    from fivesafes.cohorts.concepts import check_concepts

    parts: dict[str, list[float]] = {}
    sql = ""
    for _ in range(3):
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("concept check", lambda: check_concepts(PICTURES, db)),
            ("build", lambda: cohort_size(db, cohort=PICTURES)),
        ]
        for name, step in steps:
            started = time.perf_counter()
            expr = step()
            parts.setdefault(name, []).append(time.perf_counter() - started)
        started = time.perf_counter()
        sql = str(db.backend.compile(expr))  # as fetch compiles it
        parts.setdefault("compile", []).append(time.perf_counter() - started)
        started = time.perf_counter()
        db.backend.con.sql(sql).fetchall()
        parts.setdefault("execute", []).append(time.perf_counter() - started)
    found: dict[str, Any] = {k: statistics.median(v) for k, v in parts.items()}
    found["sql"] = sql
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "profile.json"
        con = db.backend.con
        con.execute("PRAGMA enable_profiling = 'json'")
        con.execute(f"PRAGMA profiling_output = '{output}'")
        con.sql(sql).fetchall()
        con.execute("PRAGMA disable_profiling")
        found["operators"] = operators(json.loads(output.read_text()))
    return found


def operators(tree: dict[str, Any]) -> list[dict[str, Any]]:
    """The profile's operators, costliest first: name, seconds, rows out, what it did."""
    found = []
    stack = list(tree.get("children", []))
    while stack:
        node = stack.pop()
        stack.extend(node.get("children", []))
        extra = node.get("extra_info") or {}
        what = "; ".join(
            f"{k}: {' '.join(v) if isinstance(v, list) else v}"
            for k, v in extra.items()
            if k in ("Table", "Filters", "Join Type", "Conditions", "Aggregates", "Groups")
        )
        found.append(
            {
                "name": str(node.get("operator_name", node.get("operator_type", "?"))).strip(),
                "seconds": float(node.get("operator_timing", 0.0)),
                "rows": int(node.get("operator_cardinality", 0)),
                "what": what[:300],
            }
        )
    return sorted(found, key=lambda x: -x["seconds"])[:8]


def child(job: Job) -> Result:
    result = Result(job=job.__dict__)
    if job.form == "platform":
        measure_platform(job, result)
    else:
        measure_reference(job, result)
    result.peak_mib = peak_rss_mib()
    return result


def run_in_child(job: Job) -> Result:
    """Measure ``job`` in a fresh Python process; return what it printed."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(job.__dict__)]
    before = os.getloadavg()[0]
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=job.timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{job.engine} {job.form} failed (exit {done.returncode}):\n{tail}")
    result = Result(**json.loads(lines[-1].removeprefix("RESULT ")))
    result.loads = [before, os.getloadavg()[0]]
    result.measured = when
    return result


# --- the run -------------------------------------------------------------------------------

ENGINES = {"duckdb": "DuckDB", "postgres": "PostgreSQL", "spark": "Spark"}
FORMS = {"platform": "platform (`count_persons`)", "reference": "hand-written SQL"}


def run(args: argparse.Namespace) -> tuple[str, list[Result], dict[str, Any]]:
    if args.report_only:
        saved = json.loads((args.workdir / "results.json").read_text())
        results = [Result(**r) for r in saved["results"]]
        rate = args.files_per_second or index_rate(args.docs)
        return report(results, saved["notes"], rate, args), results, saved["notes"]
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        raise SystemExit(f"unknown engines: {', '.join(sorted(unknown))}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    start_load = os.getloadavg()
    notes: dict[str, Any] = {"data": {}, "start_load": start_load}
    sizes = {"duckdb": sorted({args.series, args.engine_series})}
    sizes |= {e: [args.engine_series] for e in ("postgres", "spark")}
    needed = sorted({s for e in engines for s in sizes[e]})
    data = {}
    for series in needed:
        print(f"data: {series:,} series ...", flush=True)
        data[series] = generate(args.workdir, series, args.generate_memory_limit)
        notes["data"][str(series)] = data[series].__dict__
    if args.generate_only:
        return json.dumps(notes["data"], indent=1), [], notes
    results: list[Result] = []

    def measure(engine: str, series: int, location: str) -> None:
        for form in FORMS:
            job = Job(
                engine=engine,
                form=form,
                location=location,
                series=series,
                runs=args.runs,
                duckdb_memory_mb=args.duckdb_memory_mb,
                spark_driver_memory=args.spark_driver_memory,
                timeout=args.timeout,
                profile=engine == "duckdb" and form == "platform" and series == max(needed),
            )
            print(f"  {ENGINES[engine]} {series:,} series, {FORMS[form]} ...", flush=True)
            result = run_in_child(job)
            print(f"    {result.count} persons, first {_s(result.cold)}, "
                  f"median {_s(result.median)}", flush=True)  # fmt: skip
            results.append(result)

    for engine in engines:
        for series in sizes[engine]:
            if engine == "duckdb":
                read_through(Path(data[series].path))
                measure(engine, series, data[series].path)
            elif engine == "postgres":
                print(f"  copying {series:,} series into PostgreSQL ...", flush=True)
                with postgres_copy(data[series], args.pg_admin_url) as (url, took):
                    notes["postgres"] = {"took": took, "settings": postgres_settings(url)}
                    measure(engine, series, url)
            else:
                folder, took_parquet = parquet_copy(data[series])
                notes["parquet"] = took_parquet
                read_through(folder)
                measure(engine, series, str(folder))
    notes["end_load"] = os.getloadavg()
    saved = args.workdir / "results.json"
    if args.keep_other_engines and saved.is_file():
        before = json.loads(saved.read_text())
        kept = [Result(**r) for r in before["results"] if r["job"]["engine"] not in engines]
        results = sorted(
            kept + results, key=lambda r: (list(ENGINES).index(r.job["engine"]), r.job["series"])
        )
        notes = {**before["notes"], **notes, "data": {**before["notes"]["data"], **notes["data"]}}
    saved.write_text(json.dumps({"results": [r.__dict__ for r in results], "notes": notes}))
    rate = args.files_per_second or index_rate(args.docs)
    return report(results, notes, rate, args), results, notes


def check(results: list[Result]) -> list[str]:
    """The counts that must agree: the platform's and the hand-written SQL's on each engine
    and size, and every engine's at one size. Raises if they do not; returns the checks."""
    made = []
    for series in sorted({r.job["series"] for r in results}):
        group = {
            (r.job["engine"], r.job["form"]): r.count for r in results if r.job["series"] == series
        }
        values = set(group.values())
        if len(values) != 1 or None in values:
            raise AssertionError(f"{series:,} series: the counts differ: {group}")
        engines = sorted({e for e, _ in group}, key=list(ENGINES).index)
        made.append(
            f"{series:,} series: {len(group)} counts ({', '.join(ENGINES[e] for e in engines)}; "
            f"platform and hand-written SQL) all {values.pop():,}"
        )
    return made


# --- the projection ------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexRate:
    files_per_second: float
    where: str  # where the figure comes from


def index_rate(docs: Path) -> IndexRate | None:
    """One index process's measured files/s, from the imaging-index section of ``docs``."""
    if not docs.is_file():
        return None
    text = docs.read_text(encoding="utf-8")
    start, end = f"<!-- bench:{INDEX_SECTION} -->", f"<!-- /bench:{INDEX_SECTION} -->"
    section = text[text.find(start) : text.find(end)] if start in text else ""
    rate = re.search(r"one index process \(([\d,]+) files/s per core", section)
    if rate is None:
        return None
    when = re.search(r"Run (\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC)", section)
    measured = f", run {when.group(1)}" if when else ""
    return IndexRate(
        float(rate.group(1).replace(",", "")),
        f"`benchmarks/bench_imaging_index.py`{measured} (its section above)",
    )


def parse_rate(value: str) -> IndexRate:
    return IndexRate(float(value), "given on the command line (`--files-per-second`)")


# --- the report ----------------------------------------------------------------------------


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def _mib(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} MiB"


def _many(n: int) -> str:
    return f"{n / 1e9:,.2f} billion" if n >= 1e9 else f"{n / 1e6:,.1f} million"


def _pct(value: float) -> str:
    digits = 0 if value >= 0.1 else 1 if value >= 0.001 else 3
    return f"{100 * value:.{digits}f}%"


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = [f"duckdb {duckdb.__version__}"]
    for package in ("ibis-framework", "pyspark", "psycopg"):
        with contextlib.suppress(PackageNotFoundError):
            found.append(f"{package.removesuffix('-framework')} {version(package)}")
    return ", ".join(found)


def report(
    results: list[Result], notes: dict[str, Any], rate: IndexRate | None, args: argparse.Namespace
) -> str:
    start, end = notes["start_load"], notes["end_load"]
    when = sorted({r.measured for r in results})
    lines = [
        "## Imaging cohort count at scale: the PICTURES question",
        "",
        f"`benchmarks/bench_imaging_cohort.py`, run {when[0] if when else '—'} to "
        f"{when[-1] if when else '—'} on {machine()}; {_versions()}. Load average (1 / 5 / "
        f"15 min) {start[0]:.2f} / {start[1]:.2f} / {start[2]:.2f} at the start and "
        f"{end[0]:.2f} / {end[1]:.2f} / {end[2]:.2f} at the end.",
        "",
        "**The question**, as a platform cohort: "
        f"`{json.dumps(PICTURES_JSON, separators=(', ', ': '))}`. The index date is the "
        "person's first series that is a CT of the chest (CHEST, or a combined region that "
        "includes it: CHESTABDOMEN, CHESTABDPELVIS) with contrast; the age (year of the scan "
        "minus year of birth) is at that scan; the smoking-status observation (43054909, "
        "value *current smoker* 45881517) may be at any time. The hand-written SQL "
        "(`REFERENCE_SQL` in the script) says the same from these words.",
        "",
        *data_lines(notes),
        "",
        *timing_lines(results, notes),
        "",
        "Checks: " + "; ".join(check(results)) + ".",
        "",
        *verdict_lines(results),
        "",
        *projection_lines(rate, notes),
    ]
    return "\n".join(lines)


def data_lines(notes: dict[str, Any]) -> list[str]:
    data = {int(k): v for k, v in notes["data"].items()}
    largest = data[max(data)]
    facts = largest["facts"]
    mix = ", ".join(f"{k} {_pct(v)}" for k, v in list(facts["modality"].items())[:8])
    chest = ", ".join(f"{k} {_pct(v)}" for k, v in facts["chest"].items())
    contrast = ", ".join(f"{k} {_pct(v)}" for k, v in facts["contrast"].items())
    lines = [
        "**The data**, generated with DuckDB SQL straight into tables (no DICOM files), seed "
        f"{SEED}, every value a hash of its row number: persons scaled with the series "
        f"({SCOTLAND_PERSONS:,} at {GOAL_SERIES:,} series, Scotland's population), born "
        "1915\u20132005; one observation period each; 0, 1 or 2 smoking-status observations each "
        "(10% / 60% / 30%), each current 20%, former 28%, never 52%; studies by modality "
        "roughly as an NHS archive holds them (plain film 45%, ultrasound 22%, CT 14%, MR 9%, "
        "mammography 5%, ...), 2010\u20132025, a person drawn for each study; each "
        "study's series (CT 2\u20139, MR 4\u201314, plain film 1\u20133, ...) with the "
        "index's columns and types "
        "(`SERIES_COLUMNS`); `imaging_study` rolled up from them by the index's own "
        "`STUDY_SQL`, over parts of about 10,000,000 series (over 100,000,000 at once it "
        f"needs more than 8 GB). At {max(data):,} series: series by modality {mix}; chest regions "
        f"{chest}; contrast {contrast}; {_pct(facts['unlinked'])} of series linked to no "
        f"person (no match, no identifier, conflict), {_pct(facts['undated'])} without a "
        f"date; {_pct(facts['matching'])} of series are a CT of the chest with contrast; "
        f"{facts['studies_per_person']:.1f} studies per person scanned; the series hold "
        f"{_many(facts['instances'])} images.",
        "",
        "| series rows | persons | observation | imaging_study | DuckDB file | generated in |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for _, made in sorted(data.items()):
        rows = made["rows"]
        took = f"{made['seconds']:,.0f} s" + (" (an earlier run)" if made["cached"] else "")
        lines.append(
            f"| {rows['imaging_series']:,} | {rows['person']:,} | {rows['observation']:,} "
            f"| {rows['imaging_study']:,} | {made['megabytes'] / 1024:,.2f} GiB | {took} |"
        )
    return lines


def timing_lines(results: list[Result], notes: dict[str, Any]) -> list[str]:
    lines = [
        "**Timed**: each form in its own process. *platform*: `open_omop` on the source as a "
        "node configures it, then `count_persons(db, cohort)` (concept check, building and "
        "compiling the cohort's SQL, running it; a node keeps compiled SQL, so a warm run "
        "only runs the concept check's SQL and the cohort's: two queries); *hand-written "
        "SQL*: one query, through the engine's own client. *First*: the "
        "first count in the process (cold: the cohort compiled, DuckDB's and Spark's caches "
        "empty, PostgreSQL's shared buffers as the server keeps them; the DuckDB file and the "
        "Parquet files are read once before, so they are in the OS page cache); then "
        f"{_runs(results)} warm runs, of which the median. *Open*: opening the source (for "
        "Spark, starting its session). *Peak*: the process's own peak RSS (`VmHWM`), with "
        "the JVM's (Spark) or the server backend's (PostgreSQL; parallel workers not "
        "counted). *Load*: the 1-minute load average before and after the process, on 2 "
        "CPUs.",
        "",
        "| engine | series rows | form | persons | open | first (cold) | warm, median "
        "| min / max | peak RSS | load |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        peak = _mib(r.peak_mib)
        if r.engine_peak_mib is not None:
            peak += f" + {r.engine_peak_what} {_mib(r.engine_peak_mib)}"
        spread = f"{min(r.warm):.2f} / {max(r.warm):.2f}" if r.warm else ""
        median = f"**{_s(r.median)}**" if r.job["form"] == "platform" else _s(r.median)
        load = f"{r.loads[0]:.1f} → {r.loads[1]:.1f}" if r.loads else ""
        lines.append(
            f"| {ENGINES[r.job['engine']]} | {r.job['series']:,} | {FORMS[r.job['form']]} "
            f"| {r.count:,} | {_s(r.opened)} | {_s(r.cold)} | {median} | {spread} | {peak} "
            f"| {load} |"
        )
    ratios = []
    for r in results:
        if r.job["form"] != "platform":
            continue
        ref = next(
            (x for x in results if x.job["form"] == "reference"
             and (x.job["engine"], x.job["series"]) == (r.job["engine"], r.job["series"])),
            None,
        )  # fmt: skip
        if ref is not None and r.median and ref.median:
            ratios.append(
                f"{ENGINES[r.job['engine']]} {r.job['series']:,}: {r.median / ref.median:.2f}"
            )
    if ratios:
        lines += [
            "",
            "**Ratio**, the platform's warm median / the hand-written SQL's (below 1: the "
            f"platform is faster): {'; '.join(ratios)}.",
        ]
    settings = []
    duck = next((r for r in results if r.job["engine"] == "duckdb" and r.settings), None)
    if duck is not None:
        settings.append(
            "DuckDB: the file opened read-only (`open_omop(source, memory_mb="
            f"{duck.job['duckdb_memory_mb']})` for the platform), threads "
            f"{duck.settings['threads']}, memory_limit {duck.settings['memory_limit']}"
        )
    if "postgres" in notes:
        pg = notes["postgres"]
        indexes = ", ".join(
            f"{t}({c}){' unique' if u else ''}" for t, c, u in PG_INDEXES
        )  # fmt: skip
        settings.append(
            f"PostgreSQL: a fresh database, {pg['settings']} (the server's defaults); loaded "
            f"by `copy_omop_to_postgres` in {pg['took']['load']:,.0f} s, then indexed and "
            f"analysed in {pg['took']['index']:,.0f} s: {indexes}; the platform's sessions "
            "run read-only with `enable_nestloop = off` (a node's default), the hand-written "
            "SQL's with the server's settings"
        )
    if any(r.job["engine"] == "spark" for r in results):
        took = notes.get("parquet")
        made = "cached" if took is None else f"written in {took:,.0f} s"
        settings.append(
            "Spark: `local[2]`, driver memory "
            f"{results[-1].job['spark_driver_memory']}, the tables as Parquet by "
            f"`write_parquet` ({made}), read as temporary views"
        )
    return [*lines, "", "Settings: " + "; ".join(settings) + "."]


def _runs(results: list[Result]) -> str:
    runs = sorted({r.job["runs"] for r in results})
    return " or ".join(str(n) for n in runs)


def verdict_lines(results: list[Result]) -> list[str]:
    duck = [r for r in results if r.job["engine"] == "duckdb" and r.job["form"] == "platform"]
    if not duck:
        return []
    biggest = max(duck, key=lambda r: r.job["series"])
    series = biggest.job["series"]
    met = biggest.median is not None and biggest.median < GOAL_SECONDS
    scale = (
        ""
        if series >= GOAL_SERIES
        else f" (this run had {series:,}, not {GOAL_SERIES:,}: the goal is not tested)"
    )
    cold_met = biggest.cold is not None and biggest.cold < GOAL_SECONDS
    lines = [
        f"**Goal** (the issue): the PICTURES question on DuckDB with {GOAL_SERIES:,} series "
        f"rows in under {GOAL_SECONDS:.0f} s on 2 cores{scale}. Counted through the "
        f"platform at {series:,} series: warm median {_s(biggest.median)}, so the goal is "
        f"**{'met' if met else 'missed'}**; the first run of a new process, compiling "
        f"included, took {_s(biggest.cold)} ({'within' if cold_met else 'over'} "
        f"{GOAL_SECONDS:.0f} s)."
    ]
    p = biggest.profile
    if p:
        lines += [
            "",
            f"Where a warm count goes on DuckDB at {series:,} series (median of 3 more runs): "
            f"concept check {_s(p['concept check'])}, building the Ibis expression "
            f"{_s(p['build'])}, compiling it {_s(p['compile'])} "
            f"({len(p['sql']):,} characters of SQL), running it {_s(p['execute'])}. DuckDB's "
            "profile of the SQL, its costliest operators (operator time summed over "
            "threads):",
            "",
            "| operator | time | rows out | what |",
            "| --- | ---: | ---: | --- |",
            *(
                f"| {o['name']} | {o['seconds']:.2f} s | {o['rows']:,} | "
                f"{o['what'].replace('|', '/')} |"
                for o in p["operators"][:6]
            ),
        ]
    return lines


def projection_lines(rate: IndexRate | None, notes: dict[str, Any]) -> list[str]:
    if rate is None:
        return [
            "**Projection** to the Scottish archive: no measured index rate (run "
            "`benchmarks/bench_imaging_index.py`, or give `--files-per-second`)."
        ]
    data = {int(k): v for k, v in notes["data"].items()}
    largest = data[max(data)]
    per_series = largest["facts"]["instances"] / max(data)
    low, high = (n / per_series for n in SCOTLAND)
    per_core = rate.files_per_second
    return [
        f"**Projected to the Scottish archive** (PICTURES: 1\u20133 billion instances), from the "
        f"measured rate of one index process: {per_core:,.0f} files/s per core, from "
        f"{rate.where}. Hours of indexing = instances / rate; Spark executors of 1 core for "
        f"a one-week initial load = instances / (rate \u00d7 {WEEK_SECONDS:,} s), rounded up:",
        "",
        "| instances | one worker | Spark executors (1 core each) for a one-week load |",
        "| --- | ---: | ---: |",
        *projection(per_core),
        "",
        f"With this data's {per_series:,.1f} images a series, 1\u20133 billion instances are "
        f"about {low / 1e6:,.0f}\u2013{high / 1e6:,.0f} million series rows: the index the cohort "
        "above was counted on is of that order. The rate was measured on 1\u20132 KB files in a "
        "warm page cache; real CT images are about 0.5 MB, and over network storage the index "
        "is bounded by reading each file's first 32 KiB, not by parsing, so both the hours "
        "and the executors are lower bounds. The executors assume that a core of the indexer "
        "as a Spark job (`fivesafes node imaging index --spark`) reads as fast as one local "
        "index process, which that job's own benchmark should confirm.",
    ]


# --- the command ---------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--series", type=int, default=GOAL_SERIES, help="DuckDB's index rows")
    parser.add_argument(
        "--engine-series",
        type=int,
        default=10_000_000,
        help="the index rows of every engine (PostgreSQL, Spark, and DuckDB again)",
    )
    parser.add_argument("--engines", default="duckdb,postgres,spark")
    parser.add_argument("--runs", type=int, default=5, help="warm runs after the first")
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "fivesafes-bench-imaging"
    )
    parser.add_argument("--docs", type=Path, default=DOCS, help="markdown file to update")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--keep-other-engines",
        action="store_true",
        help="report the last run's figures for the engines not in --engines",
    )
    parser.add_argument(
        "--files-per-second",
        type=parse_rate,
        default=None,
        help="one index process's rate (default: the imaging-index section of --docs)",
    )
    parser.add_argument(
        "--generate-only", action="store_true", help="make the data (cached) and stop"
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="report the last run's figures again (after the index rate changed), measure none",
    )
    parser.add_argument("--timeout", type=int, default=1800, help="seconds a measurement may take")
    parser.add_argument("--duckdb-memory-mb", type=int, default=4096)
    parser.add_argument("--generate-memory-limit", default="8GB")
    parser.add_argument("--spark-driver-memory", default="4g")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.child:
        result = child(Job(**json.loads(args.child)))
        print("RESULT " + json.dumps(result.__dict__), flush=True)
        return
    section, _, _ = run(args)
    print(section)
    if not args.no_write and not args.generate_only:
        update_section(SECTION, section, args.docs)
        print(f"\nwritten to {args.docs}")


if __name__ == "__main__":
    main()
