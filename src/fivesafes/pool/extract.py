"""The node's side of pooling: the minimised, de-identified extract of its linked persons.

:func:`extract` reads, through the node's view layer (so opted-out persons are never read), the
rows ``fivesafes.pool.minimise`` says the variables need, of the node's persons linked in the
project (optionally only those of a cohort), and releases them de-identified:

- each person's id is replaced by their link id; no event id is released (the pool numbers
  events afresh);
- every date and timestamp, the date of birth included, moves by the person's shift in days,
  ``shift_days(link_id)``. The caller derives it from the link id under a key the project's
  nodes share and the pool never holds, so a person moves by the same days at every node and
  every interval between their dates is kept. A date of birth whose month or day the CDM does
  not hold is taken as the 1st of July or the 15th of its month to be moved, and only the
  fields the CDM held are released;
- only the released columns, of the released rows, and the vocabulary rows of the concepts the
  variables use.

The extract is checked as a pool would check it before it is returned (``fivesafes.pool.checks``).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from fivesafes.cohorts.compile import concept_set
from fivesafes.data.source import OmopDatabase
from fivesafes.pool.checks import LINK_ID, Bounds, check_extract
from fivesafes.pool.minimise import (
    VOCABULARY,
    TableNeed,
    arrow_schema,
    check_variables,
    needs,
    released_columns,
    value_concepts,
)
from fivesafes.pool.wire import read_extract, write_extract

MAX_SHIFT_DAYS = 3653
"""The furthest a date may move, in days either way (ten years)."""
CHUNK = 10_000  # persons named in one query
_DAY_US = 86_400_000_000


@dataclass(frozen=True, eq=False)
class Extract:
    """A node's released rows for a pool: per table an Arrow table of the released columns,
    ``person_id`` holding link ids (``fivesafes.pool.minimise``)."""

    variables: tuple[str, ...]
    tables: Mapping[str, pa.Table]

    @property
    def link_ids(self) -> frozenset[str]:
        """The link ids of the extract's persons."""
        return frozenset(self.tables["person"].column("person_id").to_pylist())

    def check(self, bounds: Bounds | None = None) -> None:
        """Raise ``ExtractRefused`` unless the extract is one a pool takes."""
        check_extract(self.variables, self.tables, bounds or Bounds())

    def to_bytes(self) -> bytes:
        """The extract in the format of ``fivesafes.pool.wire``."""
        return write_extract(self.variables, self.tables)

    @classmethod
    def from_bytes(cls, data: bytes, bounds: Bounds | None = None) -> Extract:
        """The extract in ``data``, read within ``bounds`` and checked; ``ExtractRefused``
        (a ValueError, in words) for anything else."""
        variables, tables = read_extract(data, bounds)
        return cls(variables, tables)


def extract(
    db: OmopDatabase,
    linked: Mapping[int, str],
    variables: Sequence[str],
    shift_days: Callable[[str], int],
    *,
    persons: Collection[int] | None = None,
) -> Extract:
    """The extract of ``variables`` for the persons of ``linked`` (person_id -> link id), or
    only those also in ``persons`` (the node's cohort), dates moved by ``shift_days``."""
    names = check_variables(variables)
    chosen = sorted(set(linked) if persons is None else set(linked) & set(persons))
    links = [linked[p] for p in chosen]
    if not all(re.fullmatch(LINK_ID, link) for link in links):
        raise ValueError("a linked person's link id is not lk_ and 16 hex digits")
    if len(set(links)) != len(links):
        raise ValueError("two linked persons have the same link id")
    shifts = [shift_days(link) for link in links]
    for shift in shifts:
        if not isinstance(shift, int) or isinstance(shift, bool) or abs(shift) > MAX_SHIFT_DAYS:
            raise ValueError(f"a date shift must be a whole number of days within {MAX_SHIFT_DAYS}")
    people = _People(np.array(chosen, dtype=np.int64), links, np.array(shifts, dtype=np.int64))
    tables: dict[str, pa.Table] = {}
    concepts: set[int] = set(value_concepts(names))
    for name, need in needs(names).items():
        wanted = None if need.sets is None else _concept_ids(db, need)
        concepts |= wanted or set()
        tables[name] = people.release(need, _rows(db, need, chosen, wanted))
    held = tables["person"].column("person_id")
    for name, table in tables.items():
        if name != "person":
            tables[name] = table.filter(pc.is_in(table.column("person_id"), value_set=held))
    for name in VOCABULARY:
        tables[name] = _vocabulary(db, name, sorted(concepts))
    made = Extract(names, tables)
    made.check()
    return made


def _concept_ids(db: OmopDatabase, need: TableNeed) -> set[int]:
    """The concepts whose rows ``need`` releases, descendants found in the node's vocabulary."""
    ids: set[int] = set()
    for wanted in need.sets or ():
        ids |= set(wanted.concepts)
        if wanted.descendants:
            found = concept_set(wanted.concepts, db).to_pyarrow().column("concept_id")
            ids |= {int(c) for c in found.to_pylist()}
    return ids


def _rows(
    db: OmopDatabase, need: TableNeed, persons: list[int], concepts: set[int] | None
) -> pa.Table:
    """The node's rows of ``need`` for ``persons``, with the columns the source holds."""
    table = db.table(need.table)
    columns = [c for c in need.columns if c in table.columns]
    parts = []
    if concepts is None or concepts:
        for start in range(0, len(persons), CHUNK):
            rows = table.filter(table.person_id.isin(persons[start : start + CHUNK]))
            if concepts is not None and need.concept_column is not None:
                rows = rows.filter(rows[need.concept_column].isin(sorted(concepts)))
            parts.append(rows.select(*columns).to_pyarrow())
    if not parts:
        return arrow_schema(need.table, columns).empty_table()
    return pa.concat_tables(parts, promote_options="permissive")


def _vocabulary(db: OmopDatabase, name: str, concepts: list[int]) -> pa.Table:
    """The vocabulary rows of ``concepts`` (concept_ancestor: between two of them)."""
    schema = arrow_schema(name, released_columns(name, ()))
    if not concepts:
        return schema.empty_table()
    table = db.table(name)
    if name == "concept":
        table = table.filter(table.concept_id.isin(concepts))
    else:
        table = table.filter(
            table.ancestor_concept_id.isin(concepts) & table.descendant_concept_id.isin(concepts)
        )
    rows = table.select(*[c for c in schema.names if c in table.columns]).to_pyarrow()
    return _conform(rows, schema).sort_by([(schema.names[0], "ascending")])


def _conform(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """``rows`` as ``schema``: columns in its order and types, any the source lacks empty."""
    arrays = [
        rows.column(f.name).cast(f.type)
        if f.name in rows.column_names
        else pa.nulls(len(rows), f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


class _People:
    """The chosen persons (sorted node ids), their link ids and their shifts in days."""

    def __init__(
        self, ids: npt.NDArray[np.int64], links: list[str], shifts: npt.NDArray[np.int64]
    ) -> None:
        self.ids, self.links, self.shifts = ids, np.array(links, dtype=object), shifts

    def release(self, need: TableNeed, rows: pa.Table) -> pa.Table:
        """``rows`` de-identified: link ids for person ids, dates moved, released schema."""
        schema = arrow_schema(need.table, need.columns)
        at = np.searchsorted(self.ids, rows.column("person_id").to_numpy().astype(np.int64))
        shift = pa.array(self.shifts[at])
        if need.table == "person":
            rows = _move_birth(rows, self.shifts[at])
        rows = _conform(
            rows.drop_columns(["person_id"]).append_column(
                "person_id", pa.array(self.links[at], pa.string())
            ),
            schema,
        )
        arrays = []
        for field in schema:
            column = rows.column(field.name)
            if pa.types.is_date(field.type):
                days = pc.add(column.cast(pa.int32()).cast(pa.int64()), shift)
                column = days.cast(pa.int32()).cast(pa.date32())
            elif pa.types.is_timestamp(field.type):
                moved = pc.add(column.cast(pa.int64()), pc.multiply(shift, _DAY_US))
                column = moved.cast(field.type)
            arrays.append(column)
        moved_rows = pa.Table.from_arrays(arrays, schema=schema)
        order = [("person_id", "ascending")] + [
            (f.name, "ascending") for f in schema if pa.types.is_date(f.type)
        ]
        return moved_rows.sort_by(order)


def _move_birth(rows: pa.Table, shifts: npt.NDArray[np.int64]) -> pa.Table:
    """``rows`` of person with year, month and day of birth moved by ``shifts`` days."""
    if "year_of_birth" not in rows.column_names:
        return rows
    fields = ("year_of_birth", "month_of_birth", "day_of_birth")
    empty = [None] * len(rows)
    given = [rows.column(f).to_pylist() if f in rows.column_names else empty for f in fields]
    moved = [
        _moved_birth(year, month, day, shift)
        for year, month, day, shift in zip(*given, shifts.tolist(), strict=True)
    ]
    for n, name in enumerate(fields):
        if name in rows.column_names:
            values = pa.array([born[n] for born in moved], pa.int32())
            rows = rows.set_column(rows.column_names.index(name), name, values)
    return rows


def _moved_birth(
    year: int | None, month: int | None, day: int | None, shift: int
) -> tuple[int | None, int | None, int | None]:
    """A date of birth moved by ``shift`` days: only the fields known are returned."""
    if year is None:
        return None, None, None
    if month is None or not 1 <= month <= 12:
        moved = date(year, 7, 1) + timedelta(days=shift)
        return moved.year, None, None
    if day is None or not 1 <= day <= calendar.monthrange(year, month)[1]:
        moved = date(year, month, 15) + timedelta(days=shift)
        return moved.year, moved.month, None
    moved = date(year, month, day) + timedelta(days=shift)
    return moved.year, moved.month, moved.day
