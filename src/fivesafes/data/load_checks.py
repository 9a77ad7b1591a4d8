"""Checking one source table against the CDM v5.4 specification, inside DuckDB.

One ``CREATE TABLE check_<table> AS SELECT …`` reads the source once: every column is
converted to its CDM type with ``TRY_CAST`` (text is trimmed; empty text is missing), and
each row gets the list of its problems (``_reasons``) and its row number (``_row``). Rows
with no problem are the ones loaded. No row is looked at in Python.

The problems, worded as the report gives them:

* ``<column> is required``: a required column is empty;
* ``<column> is not an integer`` / ``… is not a number`` / ``… is not a date`` /
  ``… is not a date and time``: a value that does not convert (``1.5`` is not an integer;
  a date may be written ``2020-01-31``, ``2020-01-31 00:00:00`` or ``20200131``);
* ``<column> is outside the 32-bit integer range``: the CDM's ``INTEGER`` cannot hold it;
* ``person_id is not in person``: the row belongs to a person the ``person`` table lacks;
* ``person_id repeats an earlier row`` (``person`` only): a second row for one person.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from fivesafes.data.cdm_spec import CDM54_TABLES, PERSON_KEYED, quoted
from fivesafes.data.cdm_v53 import Fill
from fivesafes.data.load_report import EXAMPLE_ROWS, Rejection
from fivesafes.data.load_sources import SourceTable

__all__ = ["ColumnSource", "check_relation", "check_table", "rejections"]

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_DATES = ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS")


def check_relation(table: str) -> str:
    """The workspace table holding ``table``'s checked rows."""
    return quoted(f"check_{table}")


@dataclass(frozen=True)
class ColumnSource:
    """Where one CDM column's values come from: a source column (its SQL identifier and DuckDB
    type), a fill (a constant or the row number), or nowhere (``None``: left empty)."""

    expression: str | None = None
    type: str = "VARCHAR"
    fill: Fill | None = None


def _raw(source: ColumnSource) -> str:
    """The value as read: text (missing when empty) or the source's own type."""
    if source.fill is not None:
        if source.fill.row_number:
            return "CAST(rowid + 1 AS VARCHAR)"
        return "NULL" if source.fill.value is None else _string(source.fill.value)
    if source.expression is None:
        return "NULL"
    if source.type == "VARCHAR":
        return f"NULLIF(TRIM({source.expression}), '')"
    return source.expression


def _string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _parsed(raw: str, cdm_type: str, source_type: str) -> str:
    """The value converted towards ``cdm_type`` (``NULL`` where it does not convert)."""
    typed = source_type in _DATES
    if cdm_type in ("INTEGER", "DOUBLE"):
        number = f"TRY_CAST({raw} AS DOUBLE)"
        return f"CASE WHEN isfinite({number}) THEN {number} END"
    if cdm_type == "DATE":
        if typed:
            return f"TRY_CAST({raw} AS DATE)"
        text = raw if source_type == "VARCHAR" else f"CAST({raw} AS VARCHAR)"
        return (
            f"COALESCE(TRY_CAST({text} AS DATE), CAST(TRY_CAST({text} AS TIMESTAMP) AS DATE),"
            f" CAST(TRY_STRPTIME({text}, '%Y%m%d') AS DATE))"
        )
    if cdm_type == "TIMESTAMP":
        if typed:
            return f"TRY_CAST({raw} AS TIMESTAMP)"
        text = raw if source_type == "VARCHAR" else f"CAST({raw} AS VARCHAR)"
        return f"COALESCE(TRY_CAST({text} AS TIMESTAMP), TRY_STRPTIME({text}, '%Y%m%d'))"
    return raw if source_type == "VARCHAR" else f"NULLIF(CAST({raw} AS VARCHAR), '')"


def _value(parsed: str, cdm_type: str) -> str:
    if cdm_type == "INTEGER":
        return (
            f"CASE WHEN {parsed} = trunc({parsed}) AND {parsed} BETWEEN {_INT_MIN} AND {_INT_MAX}"
            f" THEN CAST({parsed} AS INTEGER) END"
        )
    return parsed


_NOT_A = {
    "INTEGER": "is not an integer",
    "DOUBLE": "is not a number",
    "DATE": "is not a date",
    "TIMESTAMP": "is not a date and time",
}


def _reasons(name: str, cdm_type: str, required: bool, raw: str, parsed: str) -> list[str]:
    reasons = []
    if required:
        reasons.append(f"CASE WHEN {raw} IS NULL THEN {_string(f'{name} is required')} END")
    if cdm_type in _NOT_A:
        broken = f"{raw} IS NOT NULL AND {parsed} IS NULL"
        if cdm_type == "INTEGER":
            broken = f"{raw} IS NOT NULL AND ({parsed} IS NULL OR {parsed} <> trunc({parsed}))"
        reasons.append(f"CASE WHEN {broken} THEN {_string(f'{name} {_NOT_A[cdm_type]}')} END")
    if cdm_type == "INTEGER":
        reasons.append(
            f"CASE WHEN {parsed} = trunc({parsed}) AND {parsed} NOT BETWEEN {_INT_MIN} AND"
            f" {_INT_MAX} THEN {_string(f'{name} is outside the 32-bit integer range')} END"
        )
    return reasons


def check_table(
    con: duckdb.DuckDBPyConnection,
    source: SourceTable,
    columns: dict[str, ColumnSource],
) -> tuple[int, int]:
    """Check and convert ``source`` into the workspace table ``check_<table>``; return the rows
    read and the rows without a problem. ``columns`` says where each CDM column comes from;
    ``person`` must have been checked before any table with a ``person_id``."""
    table = source.table
    raws, parsed, values, reasons = [], [], [], []
    for i, column in enumerate(CDM54_TABLES[table]):
        origin = columns.get(column.name, ColumnSource())
        raw, parse = f"_r{i}", f"_p{i}"
        source_type = "VARCHAR" if origin.fill is not None else origin.type
        raws.append(f"{_raw(origin)} AS {raw}")
        parsed.append(f"{_parsed(raw, column.type, source_type)} AS {parse}")
        values.append(f"{_value(parse, column.type)} AS {quoted(column.name)}")
        reasons.extend(_reasons(column.name, column.type, not column.nullable, raw, parse))
    joins = ""
    if table in PERSON_KEYED:
        joins = (
            f" LEFT JOIN (SELECT DISTINCT person_id AS _known FROM {check_relation('person')}"  # noqa: S608
            " WHERE len(_reasons) = 0) AS persons ON persons._known = v.person_id"
        )
        reasons.append(
            "CASE WHEN v.person_id IS NOT NULL AND persons._known IS NULL"
            " THEN 'person_id is not in person' END"
        )
    if table == "person":
        reasons.append(
            "CASE WHEN v.person_id IS NOT NULL AND"
            " row_number() OVER (PARTITION BY v.person_id ORDER BY v._row) > 1"
            " THEN 'person_id repeats an earlier row' END"
        )
    skip = (
        f" WHERE rowid NOT IN ({', '.join(str(r) for r in source.skip_rowids)})"
        if source.skip_rowids
        else ""
    )
    outputs = ", ".join(f"v.{quoted(column.name)}" for column in CDM54_TABLES[table])
    con.execute(f"DROP TABLE IF EXISTS {check_relation(table)}")
    con.execute(
        f"CREATE TABLE {check_relation(table)} AS"  # noqa: S608 (identifiers quoted, no values)
        f" WITH r AS (SELECT rowid + 1 AS _row, {', '.join(raws)} FROM {source.relation}{skip}),"
        f" p AS (SELECT *, {', '.join(parsed)} FROM r),"
        f" v AS (SELECT *, {', '.join(values)} FROM p)"
        f" SELECT v._row, {outputs},"
        f" list_filter([{', '.join(reasons)}], x -> x IS NOT NULL) AS _reasons"
        f" FROM v{joins}"
    )
    row = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE len(_reasons) = 0) FROM {check_relation(table)}"  # noqa: S608
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def rejections(con: duckdb.DuckDBPyConnection, table: str) -> list[Rejection]:
    """Per reason: how many rows of ``table`` had it and the first row numbers (most frequent
    reason first)."""
    rows = con.execute(
        f"SELECT reason, count(*), min(_row, {EXAMPLE_ROWS}) FROM"  # noqa: S608
        f" (SELECT _row, unnest(_reasons) AS reason FROM {check_relation(table)}"
        " WHERE len(_reasons) > 0) GROUP BY reason ORDER BY count(*) DESC, reason"
    ).fetchall()
    return [
        Rejection(str(reason), int(count), tuple(sorted(int(r) for r in examples)))
        for reason, count, examples in rows
    ]
