"""OMOP CDM v5.3 sources: telling them from v5.4 and reading them as v5.4.

The loader always writes v5.4. A v5.3 (or v5.3.1) source differs in a few column names, in
columns v5.4 added, and in ``cdm_source``/``metadata`` columns v5.4 requires; the list follows
OHDSI's "CDM v5.3 → CDM v5.4" page and is repeated in ``docs/data-loading.md``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "ADDED_IN_54",
    "CDM_V54_CONCEPT_ID",
    "RENAMED_IN_54",
    "CdmVersion",
    "Fill",
    "detect_version",
    "v53_fills",
]

CDM_V54_CONCEPT_ID: Final = 756265
"""The concept "OMOP CDM Version 5.4.0" (vocabulary ``CDM``), for ``cdm_version_concept_id``."""

_VISIT_RENAMES: Final = {
    "admitted_from_concept_id": "admitting_source_concept_id",
    "admitted_from_source_value": "admitting_source_value",
    "discharged_to_concept_id": "discharge_to_concept_id",
    "discharged_to_source_value": "discharge_to_source_value",
}

RENAMED_IN_54: Final[dict[str, dict[str, str]]] = {
    "visit_occurrence": dict(_VISIT_RENAMES),
    "visit_detail": {**_VISIT_RENAMES, "parent_visit_detail_id": "visit_detail_parent_id"},
    # v5.3.1's DDL spelled it "reveue"; later v5.3 DDLs already say "revenue"
    "cost": {"revenue_code_source_value": "reveue_code_source_value"},
}
"""Per table, each v5.4 column name and the v5.3 name it replaces."""

ADDED_IN_54: Final[dict[str, tuple[str, ...]]] = {
    "procedure_occurrence": ("procedure_end_date", "procedure_end_datetime"),
    "device_exposure": (
        "production_id",
        "unit_concept_id",
        "unit_source_value",
        "unit_source_concept_id",
    ),
    "measurement": (
        "unit_source_concept_id",
        "measurement_event_id",
        "meas_event_field_concept_id",
    ),
    "observation": ("value_source_value", "observation_event_id", "obs_event_field_concept_id"),
    "note": ("note_event_id", "note_event_field_concept_id"),
    "location": ("country_concept_id", "country_source_value", "latitude", "longitude"),
    "metadata": ("metadata_id", "value_as_number"),
    "cdm_source": ("cdm_version_concept_id",),
}
"""Columns v5.4 added to tables v5.3 already had (``episode``, ``episode_event`` are new)."""

_V53_ONLY: Final = {
    (table, old) for table, renames in RENAMED_IN_54.items() for old in renames.values()
}
_VERSION: Final = re.compile(r"(\d+)\.(\d+)")


@dataclass(frozen=True)
class CdmVersion:
    """The CDM version a source was read as, and why."""

    version: Literal["5.3", "5.4"]
    evidence: str


def detect_version(declared: str | None, columns: Mapping[str, Set[str]]) -> CdmVersion:
    """The source's CDM version, from ``cdm_source.cdm_version`` (``declared``) when it names
    5.3 or 5.4, else from its column names (``columns``: table → lower-case column names).

    Raises ``ValueError`` for a declared version other than 5.3 or 5.4.
    """
    match = _VERSION.search(declared or "")
    if match:
        version = f"{match.group(1)}.{match.group(2)}"
        if version in ("5.3", "5.4"):
            return CdmVersion(version, f"cdm_source.cdm_version is {declared!r}")  # type: ignore[arg-type]
        raise ValueError(
            f"cdm_source.cdm_version is {declared!r}: only OMOP CDM 5.3 and 5.4 can be loaded"
        )
    for table, names in sorted(columns.items()):
        for name in sorted(names):
            if (table, name) in _V53_ONLY:
                return CdmVersion("5.3", f"{table} has the CDM 5.3 column {name}")
    if "cdm_source" in columns and "cdm_version_concept_id" not in columns["cdm_source"]:
        return CdmVersion("5.3", "cdm_source has no cdm_version_concept_id")
    return CdmVersion("5.4", "no CDM 5.3 column names")


@dataclass(frozen=True)
class Fill:
    """A value the loader writes into a v5.4 column a v5.3 source lacks or words differently:
    a text ``value`` for every row, or the row's number (``row_number``)."""

    value: str | None = None
    row_number: bool = False


def v53_fills(table: str, version: CdmVersion, present: Set[str]) -> dict[str, Fill]:
    """The columns of ``table`` to fill when the source is read as v5.3 (``present``: the
    source's lower-case column names, already mapped to v5.4 names)."""
    fills: dict[str, Fill] = {}
    if table == "metadata" and "metadata_id" not in present:
        fills["metadata_id"] = Fill(row_number=True)
    if table == "cdm_source" and version.version == "5.3":
        # the tables are v5.4 once loaded, and tools read cdm_version to pick their checks
        fills["cdm_version"] = Fill("5.4")
        fills["cdm_version_concept_id"] = Fill(str(CDM_V54_CONCEPT_ID))
    return fills
