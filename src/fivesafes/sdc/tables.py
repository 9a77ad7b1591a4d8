"""Building a crosstab or pivot table with, per cell, what the rules need to judge it.

Each cell carries its records, its distinct persons (the counting unit named by ``person=``;
without one, each record counts as a person), its non-missing contributors, and for magnitude
statistics each contributor's total (their values summed within the cell) for dominance rules.
The grid is every observed row label x every observed column label, so empty cells are present.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

Kind = Literal["count", "magnitude", "extreme"]
Label = tuple[Hashable, ...]

COUNT_FUNCS = frozenset({"count", "size"})
MAGNITUDE_FUNCS = frozenset({"sum", "mean", "median", "std", "var"})
EXTREME_FUNCS = frozenset({"min", "max"})
ALL_LABEL = "All"


class TableSpecError(ValueError):
    """The table asked for cannot be built (unknown column, unsupported statistic, …)."""


@dataclass(frozen=True)
class Cell:
    """One cell: the facts about its contributors. Never put into messages or logs."""

    row: Label
    column: Label
    records: int
    persons: int
    contributors: int
    missing: int
    contributions: tuple[float, ...]  # per-person totals, largest first (magnitude only)
    statistic: float  # NaN when the cell has nothing to compute from

    @property
    def units(self) -> int:
        """What the threshold counts: distinct persons, or non-missing contributors when the
        statistic is computed from a values column (all but ``size``)."""
        return self.contributors


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
    row_labels = _observed(data, index_names)
    column_labels = _observed(data, column_names) if column_names else ((func,),)
    groups = {
        (key if isinstance(key, tuple) else (key,)): part
        for key, part in data.groupby(keys, sort=False, observed=True)
    }
    cells = tuple(
        tuple(
            _cell(groups.get(r + (c if column_names else ())), r, c, values, func, person)
            for c in column_labels
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


def _observed(data: pd.DataFrame, names: tuple[str, ...]) -> tuple[Label, ...]:
    unique = data[list(names)].drop_duplicates()
    labels = [tuple(row) for row in unique.itertuples(index=False, name=None)]
    try:
        return tuple(sorted(labels))
    except TypeError:
        raise TableSpecError("labels of mixed types cannot be ordered") from None


def _cell(
    part: pd.DataFrame | None,
    row: Label,
    column: Label,
    values: str | None,
    func: str,
    person: str | None,
) -> Cell:
    if part is None or part.empty:
        stat = 0.0 if values is None or func in COUNT_FUNCS else float("nan")
        return Cell(row, column, 0, 0, 0, 0, (), stat)
    ids = part[person] if person else pd.Series(np.arange(len(part)), index=part.index)
    persons = int(ids.nunique(dropna=True))
    if values is None or func == "size":
        return Cell(row, column, len(part), persons, persons, 0, (), float(len(part)))
    present = part[values].notna()
    contributors = int(ids[present].nunique(dropna=True))
    totals = part.loc[present, values].groupby(ids[present], sort=False).sum()
    contributions = tuple(sorted((float(v) for v in totals), reverse=True))
    stat = float(part[values].agg(func)) if present.any() else float("nan")
    if func == "count":
        stat = float(present.sum())
    return Cell(
        row, column, len(part), persons, contributors, int((~present).sum()), contributions, stat
    )
