"""Building a crosstab or pivot table with, per cell, what the rules need to judge it.

Each cell carries its records, its distinct persons (the counting unit named by ``person=``;
without one, each record counts as a person), its non-missing contributors, and for magnitude
statistics each contributor's total (their values summed within the cell) for dominance rules.
The grid is every observed row label x every observed column label, so empty cells are present.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fivesafes.sdc.cells import NO_CONTRIBUTIONS, Cell, Kind, Label

COUNT_FUNCS = frozenset({"count", "size"})
MAGNITUDE_FUNCS = frozenset({"sum", "mean", "median", "std", "var"})
EXTREME_FUNCS = frozenset({"min", "max"})
MODE_FUNCS = frozenset({"mode"})  # the most frequent value; ties: the smallest of them
ALL_LABEL = "All"


class TableSpecError(ValueError):
    """The table asked for cannot be built (unknown column, unsupported statistic, …)."""


@dataclass(frozen=True)
class Table:
    """A built table: labels, the statistic, and a grid of cells (rows x columns)."""

    kind: Kind
    aggfunc: str
    values: str | None
    person: str | None
    index_names: tuple[str, ...]
    column_names: tuple[str, ...]
    row_labels: tuple[Label, ...]
    column_labels: tuple[Label, ...]
    cells: tuple[tuple[Cell, ...], ...]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.row_labels), len(self.column_labels)

    def grid(self, attribute: str) -> np.ndarray:
        return np.array([[getattr(c, attribute) for c in row] for row in self.cells])

    def frame(self, data: np.ndarray) -> pd.DataFrame:
        """A DataFrame over this table's labels holding ``data`` (a rows x columns array)."""
        return pd.DataFrame(data, index=self._index(), columns=self._columns())

    def _index(self) -> pd.Index:
        return _labels_index(self.row_labels, self.index_names)

    def _columns(self) -> pd.Index:
        return _labels_index(self.column_labels, self.column_names)


def _labels_index(labels: Sequence[Label], names: tuple[str, ...]) -> pd.Index:
    if len(names) == 1:
        return pd.Index([label[0] for label in labels], name=names[0], dtype=object)
    return pd.MultiIndex.from_tuples(list(labels), names=list(names))


def _names(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    if spec is None:
        return ()
    return (spec,) if isinstance(spec, str) else tuple(spec)


def classify(values: str | None, aggfunc: str | None) -> tuple[Kind, str]:
    """The kind of statistic and its normalised name; raises TableSpecError if unsupported."""
    if values is None:
        if aggfunc not in (None, "size", "count"):
            raise TableSpecError("without values= only counts can be tabulated")
        return "count", "size"
    if aggfunc is None:
        raise TableSpecError("values= needs an aggfunc= (e.g. 'mean', 'sum', 'count')")
    if aggfunc in COUNT_FUNCS:
        return "count", aggfunc
    if aggfunc in MAGNITUDE_FUNCS:
        return "magnitude", aggfunc
    if aggfunc in EXTREME_FUNCS:
        return "extreme", aggfunc
    if aggfunc in MODE_FUNCS:
        return "mode", aggfunc
    raise TableSpecError(f"unsupported aggfunc {aggfunc!r}")


def build_table(
    df: pd.DataFrame,
    index: str | Sequence[str],
    columns: str | Sequence[str] | None,
    values: str | None,
    aggfunc: str | None,
    person: str | None,
) -> Table:
    """Group ``df`` into cells and collect each cell's contributors."""
    kind, func = classify(values, aggfunc)
    index_names, column_names = _names(index), _names(columns)
    if not index_names:
        raise TableSpecError("index= must name at least one column")
    needed = [
        *index_names,
        *column_names,
        *([values] if values else []),
        *([person] if person else []),
    ]
    missing = [name for name in needed if name is not None and name not in df.columns]
    if missing:
        raise TableSpecError(f"columns not in the data: {missing}")
    if values is not None and not pd.api.types.is_numeric_dtype(df[values]):
        raise TableSpecError(f"values column {values!r} is not numeric")
    keys = [*index_names, *column_names]
    data = df.dropna(subset=keys)
    facts = _cell_facts(data, keys, values, func, person)
    split = len(index_names)
    row_labels = _ordered({label[:split] for label in facts.labels})
    column_labels = (
        _ordered({label[split:] for label in facts.labels}) if column_names else ((func,),)
    )
    cells = tuple(
        tuple(
            facts.cell(r, c, r + (c if column_names else ()), values, func) for c in column_labels
        )
        for r in row_labels
    )
    return Table(
        kind,
        func,
        values,
        person,
        index_names,
        column_names or ("",),
        row_labels,
        column_labels,
        cells,
    )


_ID, _VALUE = "\x00person", "\x00value"  # column names no data set uses


@dataclass(frozen=True)
class _Facts:
    """Every cell's facts, computed with one pass of grouped operations over the whole frame."""

    labels: tuple[Label, ...]  # the observed cells
    records: dict[Label, int]
    persons: dict[Label, int]
    contributors: dict[Label, int]
    present: dict[Label, int]
    statistic: dict[Label, float]
    contributions: dict[Label, np.ndarray]
    holders: dict[Label, int]

    def cell(self, row: Label, column: Label, key: Label, values: str | None, func: str) -> Cell:
        records = self.records.get(key, 0)
        if records == 0:
            stat = 0.0 if values is None or func in COUNT_FUNCS else float("nan")
            return Cell(row, column, 0, 0, 0, 0, NO_CONTRIBUTIONS, stat)
        persons = self.persons.get(key, 0)
        if values is None or func == "size":
            return Cell(row, column, records, persons, persons, 0, NO_CONTRIBUTIONS, float(records))
        present = self.present.get(key, 0)
        stat = float(present) if func == "count" else self.statistic.get(key, float("nan"))
        if present == 0:
            stat = float("nan")
        return Cell(
            row,
            column,
            records,
            persons,
            self.contributors.get(key, 0),
            records - present,
            self.contributions.get(key, NO_CONTRIBUTIONS),
            stat,
            self.holders.get(key, 0),
        )


def _label(key: Any) -> Label:
    return key if isinstance(key, tuple) else (key,)


def _as_dict(series: pd.Series) -> dict[Label, Any]:
    return {_label(k): v for k, v in series.items()}


_DENSE_PAIRS = 2**24  # cells x persons up to this: a dense matrix (at most 128 MiB of totals)


def _distinct_persons(
    cell: np.ndarray, person: np.ndarray, mask: np.ndarray, cells: int, width: int, dense: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct persons per cell among ``mask`` rows, and which (cell, person) pairs occur:
    a dense cells x persons boolean matrix, or the sparse pair codes per row."""
    pairs = cell[mask] * width + person[mask]
    if dense:
        seen = np.zeros(cells * width, dtype=bool)
        seen[pairs] = True
        return seen.reshape(cells, width).sum(axis=1), seen
    pair_codes, unique_pairs = pd.factorize(pairs)
    return np.bincount(np.asarray(unique_pairs) // width, minlength=cells), pair_codes


def _contributions(
    cell: np.ndarray,
    person: np.ndarray,
    value: np.ndarray,
    mask: np.ndarray,
    cells: int,
    width: int,
    dense: bool,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Contributors per cell, and each cell's per-person totals, largest first."""
    contributors, seen = _distinct_persons(cell, person, mask, cells, width, dense)
    if dense:
        pairs = cell[mask] * width + person[mask]
        sums = np.bincount(pairs, weights=value[mask], minlength=cells * width)
        grid, present = sums.reshape(cells, width), seen.reshape(cells, width)
        return contributors, [-np.sort(-grid[c][present[c]]) for c in range(cells)]
    totals = np.bincount(seen, weights=value[mask])
    _, unique_pairs = pd.factorize(cell[mask] * width + person[mask])
    owner = np.asarray(unique_pairs) // width
    by_cell = np.argsort(owner, kind="stable")
    parts = np.split(totals[by_cell], np.cumsum(contributors)[:-1])
    return contributors, [-np.sort(-part) for part in parts]


def _per_record(
    cell: np.ndarray, value: np.ndarray, present: np.ndarray, cells: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Without a person column each record contributes its own value."""
    owner = cell[present]
    contributors = np.bincount(owner, minlength=cells)
    parts = np.split(value[present][np.argsort(owner, kind="stable")], np.cumsum(contributors)[:-1])
    return contributors, [-np.sort(-part) for part in parts]


def _cell_facts(
    data: pd.DataFrame, keys: list[str], values: str | None, func: str, person: str | None
) -> _Facts:
    """Every cell's facts from integer codes: one factorisation per column, then bincounts.
    (Grouping by the label columns themselves would factorise them again for every figure.)"""
    rows = len(data)
    if rows == 0:
        return _Facts((), {}, {}, {}, {}, {}, {}, {})
    cell = np.zeros(rows, dtype=np.int64)
    for key in keys:  # combine the key columns into one compact cell code, 0..cells-1
        codes, uniques = pd.factorize(data[key])
        cell = pd.factorize(cell * len(uniques) + codes)[0].astype(np.int64)
    cells = int(cell.max()) + 1
    first_rows = np.empty(cells, dtype=np.int64)
    first_rows[cell[::-1]] = np.arange(rows - 1, -1, -1)  # the earliest row of each cell wins
    labels = [_label(t) for t in data[keys].iloc[first_rows].itertuples(index=False, name=None)]

    def per_cell(counts: np.ndarray) -> dict[Label, int]:
        return {labels[i]: int(n) for i, n in enumerate(counts)}

    record_counts = np.bincount(cell, minlength=cells)
    records = per_cell(record_counts)
    if person is None:  # every record is its own person: no pairs to find
        person_code, width, dense = np.arange(rows), rows, False
        known = np.ones(rows, dtype=bool)
        persons = records
    else:
        person_code, person_uniques = pd.factorize(data[person])  # -1: a missing person id
        width = max(len(person_uniques), 1)
        known = person_code >= 0
        dense = cells * width <= _DENSE_PAIRS
        persons = per_cell(_distinct_persons(cell, person_code, known, cells, width, dense)[0])
    if values is None or func == "size":
        return _Facts(tuple(labels), records, persons, {}, {}, {}, {}, {})
    value = data[values].to_numpy(dtype=float, na_value=np.nan)
    present = ~np.isnan(value)
    contributing = present & known
    if person is None:
        contributors, split = _per_record(cell, value, present, cells)
    else:
        contributors, split = _contributions(
            cell, person_code, value, contributing, cells, width, dense
        )
    holders: dict[Label, int] = {}
    if func in MODE_FUNCS:
        statistic, holding = _modes(cell, value, present, person_code, known)
        holders = {labels[int(i)]: int(n) for i, n in zip(holding.index, holding, strict=True)}
    else:
        statistic = pd.Series(value).groupby(cell).agg(func).astype(float)  # index: cell codes
    return _Facts(
        tuple(labels),
        records,
        persons,
        per_cell(contributors),
        per_cell(np.bincount(cell[present], minlength=cells)),
        {labels[int(i)]: float(v) for i, v in zip(statistic.index, statistic, strict=True)},
        {labels[i]: part for i, part in enumerate(split)},
        holders,
    )


def _modes(
    cell: np.ndarray, value: np.ndarray, present: np.ndarray, person: np.ndarray, known: np.ndarray
) -> tuple[pd.Series, pd.Series]:
    """Each cell's mode over its records (as pandas counts it; ties: the smallest value) and the
    distinct persons holding it (persons with a missing id do not count), both by cell code."""
    rows = pd.DataFrame({"cell": cell, "value": value, "person": person})[present]
    frequency = rows.groupby(["cell", "value"]).size().rename("n").reset_index()
    frequency = frequency.sort_values(["cell", "n", "value"], ascending=[True, False, True])
    modes = frequency.drop_duplicates("cell").set_index("cell")["value"]
    holding = rows[known[present]].merge(modes.reset_index(), on=["cell", "value"])
    held = holding.groupby("cell")["person"].nunique().reindex(modes.index, fill_value=0)
    return modes.astype(float), held


def _ordered(labels: set[Label]) -> tuple[Label, ...]:
    try:
        return tuple(sorted(labels))
    except TypeError:
        raise TableSpecError("labels of mixed types cannot be ordered") from None
