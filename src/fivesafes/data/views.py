"""The thin view layer every query at a node reads the OMOP CDM through.

Whatever engine holds the data (DuckDB, PostgreSQL, Spark) and whichever CDM version it was
written in, each table is seen the same way (``OmopDatabase.table``):

1. **Column names in lower case** (some CDMs, such as Eunomia's, store them upper-case).
2. **CDM 5.3 read as 5.4**: the columns 5.4 renamed are renamed, and the columns 5.4 added are
   added as typed NULLs, so one query serves both versions. The mapping is the loader's
   (``fivesafes.data.cdm_v53``, listed in docs/data-loading.md), so a CDM a TRE keeps in 5.3
   reads exactly as one ``fivesafes node load-omop`` converted.
3. **Opt-outs**: a person in the node's opt-out list (the table ``fivesafes_opt_out`` next to
   the CDM, one ``person_id`` per row; ``fivesafes node opt-out load``) is removed from every
   table that has a ``person_id``, before any cohort, variable or analysis sees it. Every
   query the platform runs, and every cohort compiled from OHDSI Circe JSON, reads tables
   only through this layer, on every engine. The imaging index's study and series tables
   (``fivesafes.imaging``) are read through the same layer: an opted-out person's scans are
   gone from every imaging cohort and summary too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from fivesafes.data.cdm_spec import CDM54_TABLES, PERSON_KEYED
from fivesafes.data.cdm_v53 import ADDED_IN_54, RENAMED_IN_54
from fivesafes.data.names import IMAGING_TABLES, PATHOLOGY_SLIDE_TABLES

if TYPE_CHECKING:
    import ibis

OPT_OUT_TABLE: Final = "fivesafes_opt_out"

PERSON_TABLES: Final = PERSON_KEYED | {"person"} | IMAGING_TABLES | PATHOLOGY_SLIDE_TABLES
"""Tables with a ``person_id`` (the CDM's, the imaging index's studies and series, the
registered slides): the ones an opt-out removes rows from."""

_IBIS_TYPES: Final = {
    "INTEGER": "int32",
    "BIGINT": "int64",
    "DOUBLE": "float64",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "VARCHAR": "string",
}


def _added_columns(name: str) -> dict[str, str]:
    """The columns CDM 5.4 added to table ``name``, with their Ibis types."""
    spec = {column.name: column.type for column in CDM54_TABLES.get(name, ())}
    return {c: _IBIS_TYPES.get(spec.get(c, ""), "string") for c in ADDED_IN_54.get(name, ())}


def cdm_view(table: ibis.Table, name: str, opted_out: ibis.Table | None) -> ibis.Table:
    """``table`` (the CDM table ``name`` as stored) as every query at the node sees it."""
    import ibis

    lower = {column.lower(): column for column in table.columns}
    if any(new != old for new, old in lower.items()):
        table = table.rename(lower)
    renamed = {new: old for new, old in RENAMED_IN_54.get(name, {}).items() if old in lower}
    if renamed:
        table = table.rename(renamed)
    missing = {c: t for c, t in _added_columns(name).items() if c not in table.columns}
    if missing:
        table = table.mutate(**{c: ibis.null(t) for c, t in missing.items()})
    if opted_out is not None and name in PERSON_TABLES:
        # NOT IN (subquery), not an anti-join: Ibis 12 writes some anti-joins for PostgreSQL
        # as "LEFT ANTI JOIN", which PostgreSQL does not know; the list holds no NULL. A row
        # of nobody (an unlinked series or slide: person_id NULL) is kept, as it is without an
        # opt-out list: NOT IN alone would drop it (NULL NOT IN (...) is not true)
        table = table.filter(table.person_id.isnull() | table.person_id.notin(opted_out.person_id))
    return table


def opt_out_list(table: ibis.Table) -> ibis.Table:
    """The opt-out table as a one-column relation of distinct ``person_id``."""
    lower = {column.lower(): column for column in table.columns}
    if "person_id" not in lower:
        raise ValueError(f"the opt-out table {OPT_OUT_TABLE} has no person_id column")
    person_id = table[lower["person_id"]]
    return table.filter(person_id.notnull()).select(person_id=person_id).distinct()
