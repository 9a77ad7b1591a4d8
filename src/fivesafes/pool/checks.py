"""What an extract must be before a pool takes it: the checks run on every extract read from
another site's bytes, on every extract given to ``merge``, and by a node on its own extract
before it is sent (so a node never sends what a pool would refuse).

An extract is refused, with an :class:`ExtractRefused` (a ValueError) that says in words what
is wrong and never echoes a value, when

- it does not hold exactly the tables its variables need, each with exactly the released
  columns and their types (``fivesafes.pool.minimise``);
- a table has more rows than :class:`Bounds` allows, or an empty value in a column the CDM
  requires;
- a person's id is not a link id (``lk_`` and 16 hex digits), a person appears twice, or a row
  belongs to a person the extract does not hold;
- a date lies outside 1800 to 2200, or a birth month or day is not one;
- a row or a vocabulary entry is of a concept the variables did not release (a row outside the
  concept sets, by the extract's own ``concept_ancestor``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

import pyarrow as pa
import pyarrow.compute as pc

from fivesafes.pool.minimise import (
    VOCABULARY,
    arrow_schema,
    needs,
    released_columns,
    released_tables,
    required,
    value_concepts,
)

LINK_ID = r"^lk_[0-9a-f]{16}$"
"""A link id as the hub's linkage unit makes them (``fivesafes.protocol.linkage.LinkId``)."""

EARLIEST, LATEST = date(1800, 1, 1), date(2200, 12, 31)


class ExtractRefused(ValueError):
    """An extract a pool does not take; the message is words, never a value of the extract."""


@dataclass(frozen=True)
class Bounds:
    """The most a pool accepts of one extract."""

    max_bytes: int = 1 << 30  # the serialised extract
    max_persons: int = 5_000_000  # rows of person
    max_rows: int = 50_000_000  # rows of any other table of data
    max_vocabulary: int = 1_000_000  # rows of concept or concept_ancestor

    def rows(self, table: str) -> int:
        """The most rows ``table`` may hold."""
        if table == "person":
            return self.max_persons
        return self.max_vocabulary if table in VOCABULARY else self.max_rows


def check_extract(
    variables: tuple[str, ...], tables: Mapping[str, pa.Table], bounds: Bounds
) -> None:
    """Raise :class:`ExtractRefused` unless ``tables`` are a well-formed extract of
    ``variables`` within ``bounds``."""
    if set(tables) != set(released_tables(variables)):
        raise ExtractRefused("the extract does not hold exactly the tables its variables need")
    for name in released_tables(variables):
        table = tables[name]
        schema = arrow_schema(name, released_columns(name, variables))
        if not table.schema.equals(schema, check_metadata=False):
            raise ExtractRefused(f"the extract's {name} table does not have the released columns")
        if table.num_rows > bounds.rows(name):
            raise ExtractRefused(
                f"the extract's {name} table has more rows than a pool accepts "
                f"({bounds.rows(name):,})"
            )
        for column in schema.names:
            if required(name, column) and table.column(column).null_count:
                raise ExtractRefused(f"the extract's {name} table lacks a value the CDM requires")
            kind = schema.field(column).type
            if pa.types.is_date(kind) or pa.types.is_timestamp(kind):
                _check_dates(name, table.column(column))
    _check_persons(variables, tables)
    _check_concepts(variables, tables)


def _check_dates(name: str, column: pa.ChunkedArray) -> None:
    low, high = pc.min_max(column).values()
    for value in (low.as_py(), high.as_py()):
        day = value.date() if isinstance(value, datetime) else value
        if day is not None and not EARLIEST <= day <= LATEST:
            raise ExtractRefused(f"the extract's {name} table has a date outside 1800 to 2200")


def _check_persons(variables: tuple[str, ...], tables: Mapping[str, pa.Table]) -> None:
    person = tables["person"]
    ids = person.column("person_id")
    if not _every(pc.match_substring_regex(ids, LINK_ID)):
        raise ExtractRefused("the extract holds a person whose id is not a link id")
    if pc.count_distinct(ids).as_py() != len(ids):
        raise ExtractRefused("the extract holds a person twice")
    for column, low, high in (("month_of_birth", 1, 12), ("day_of_birth", 1, 31)):
        if column in person.column_names:
            least, most = (v.as_py() for v in pc.min_max(person.column(column)).values())
            if least is not None and not low <= least <= most <= high:
                raise ExtractRefused(f"the extract's person table has an impossible {column}")
    for name in released_tables(variables):
        if name in ("person", *VOCABULARY):
            continue
        rows = tables[name].column("person_id")
        if not _every(pc.is_in(rows, value_set=ids.combine_chunks())):
            raise ExtractRefused(f"the extract's {name} table has rows of persons it does not hold")


def _every(flags: pa.ChunkedArray) -> bool:
    """Whether every flag is true (so, of no rows at all)."""
    return bool(pc.all(flags, skip_nulls=False, min_count=0).as_py())


def _ids(column: pa.ChunkedArray) -> set[int]:
    return {int(v) for v in pc.unique(column).to_pylist() if v is not None}


def _check_concepts(variables: tuple[str, ...], tables: Mapping[str, pa.Table]) -> None:
    """Every row is of a released concept set, and the vocabulary holds only their concepts."""
    ancestors = tables["concept_ancestor"]
    pairs = zip(
        ancestors.column("ancestor_concept_id").to_pylist(),
        ancestors.column("descendant_concept_id").to_pylist(),
        strict=True,
    )
    below: dict[int, set[int]] = {}
    for ancestor, descendant in pairs:
        below.setdefault(ancestor, set()).add(descendant)
    everything = set(value_concepts(variables))
    for name, need in needs(variables).items():
        if need.sets is None or need.concept_column is None:
            continue
        allowed: set[int] = set()
        for concept_set in need.sets:
            allowed |= set(concept_set.concepts)
            if concept_set.descendants:
                for concept in concept_set.concepts:
                    allowed |= below.get(concept, set())
        if not _ids(tables[name].column(need.concept_column)) <= allowed:
            raise ExtractRefused(f"the extract's {name} table has rows of a concept not released")
        everything |= allowed
    concepts = tables["concept"].column("concept_id")
    if not _ids(concepts) <= everything:
        raise ExtractRefused("the extract's vocabulary holds a concept not released")
    if pc.count_distinct(concepts).as_py() != len(concepts):
        raise ExtractRefused("the extract's vocabulary holds a concept twice")
    linked = _ids(ancestors.column("ancestor_concept_id"))
    linked |= _ids(ancestors.column("descendant_concept_id"))
    if not linked <= everything:
        raise ExtractRefused("the extract's vocabulary holds a concept not released")
