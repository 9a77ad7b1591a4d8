"""Histograms: bin counts judged as a one-column count table, with edges that reveal no value.

Counting follows numpy: every bin is half-open ``[a, b)`` except the last, which is closed
``[a, b]``, so a value equal to the top edge is counted (ACRO 1.0.2 undercounted it).

| edges asked for           | `allow_min_max` | edges used                                     |
| ------------------------- | --------------- | ---------------------------------------------- |
| ``bins=int``              | False           | widened to multiples of a 1/2/5 x 10^k step,   |
|                           |                 | strictly outside the data's min and max        |
| ``bins=int``              | True            | numpy's own (the data's min and max)           |
| explicit, outer = min/max | False           | refused: `min-max` finding, the output fails   |
| explicit, others          | either          | as given; records outside give a `review`      |

Empty bins before the first and after the last non-empty bin are released as 0 (the widened
edges make them common and they say nothing the edges do not); every other bin is a cell of
``TABLE_RULES`` (threshold in distinct persons, zeros, rounding, secondary suppression).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from numbers import Integral
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fivesafes.sdc.cells import NO_CONTRIBUTIONS, Cell
from fivesafes.sdc.output import CellFinding, Output
from fivesafes.sdc.rules.base import Finding, Outcome
from fivesafes.sdc.rules.min_max import MinMaxRule
from fivesafes.sdc.tables import Table, TableSpecError

if TYPE_CHECKING:
    from fivesafes.sdc.checker import Checker

logger = logging.getLogger(__name__)
OUTSIDE = Finding(
    "outside-edges", Outcome.REVIEW, "records outside the outer edges are not counted"
)


def nice_step(width: float) -> float:
    """The smallest 1, 2 or 5 x 10^k at or above ``width`` (> 0)."""
    power = 10.0 ** math.floor(math.log10(width))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= width * (1 - 1e-12))


def widened_edges(low: float, high: float, bins: int) -> np.ndarray:
    """Edges on multiples of a rounded step with ``edges[0] < low`` and ``edges[-1] > high``."""
    scale = max(abs(low), abs(high), 1e-300)
    step = nice_step(max((high - low) / bins, 1e-9 * scale))  # 1e-9: well above float spacing
    digits = max(0, 1 - math.floor(math.log10(step)))

    def edge(k: int) -> float:
        return round(k * step, digits)  # 0.30000000000000004 -> 0.3

    k_lo, k_hi = math.floor(low / step), math.ceil(high / step)
    k_lo -= 1 if edge(k_lo) >= low else 0
    k_lo -= 1 if edge(k_lo) >= low else 0
    k_hi += 1 if edge(k_hi) <= high else 0
    k_hi += 1 if edge(k_hi) <= high else 0
    edges = np.array([edge(k) for k in range(k_lo, k_hi + 1)])
    if not (edges[0] < low and edges[-1] > high and np.all(np.diff(edges) > 0)):
        raise ArithmeticError("widened edges do not enclose the data")
    return edges


def bin_edges(values: np.ndarray, bins: int | Sequence[float], allow_min_max: bool) -> np.ndarray:
    if isinstance(bins, bool) or (isinstance(bins, Integral) and int(bins) < 1):
        raise TableSpecError("bins= must be a positive number of bins or a list of edges")
    if isinstance(bins, Integral):
        if allow_min_max:
            return np.histogram_bin_edges(values, bins=int(bins))
        return widened_edges(float(values.min()), float(values.max()), int(bins))
    edges = np.asarray(bins, dtype=float)
    if edges.ndim != 1 or len(edges) < 2 or not np.all(np.diff(edges) > 0):
        raise TableSpecError("bin edges must be at least two strictly increasing numbers")
    if not np.all(np.isfinite(edges)):
        raise TableSpecError("bin edges must be finite")
    return edges


def bin_labels(edges: np.ndarray) -> list[str]:
    last = len(edges) - 2
    return [f"[{edges[i]:g}, {edges[i + 1]:g}{']' if i == last else ')'}" for i in range(last + 1)]


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Each value's bin (numpy's convention: last bin closed), -1 outside the edges."""
    idx = np.searchsorted(edges, values, side="right") - 1
    idx[values == edges[-1]] = len(edges) - 2
    idx[(values < edges[0]) | (values > edges[-1])] = -1
    return idx


def check_histogram(
    checker: Checker,
    df: pd.DataFrame,
    column: str,
    bins: int | Sequence[float],
    person: str | None,
) -> Output:
    """Bin ``column``, judge the bins, and release them; usage errors raise TableSpecError."""
    profile = checker.profile
    for name in (column, person):
        if name is not None and name not in df.columns:
            raise TableSpecError(f"columns not in the data: [{name!r}]")
    if not pd.api.types.is_numeric_dtype(df[column]):
        raise TableSpecError(f"column {column!r} is not numeric")
    data = df[df[column].notna()]
    if data.empty:
        raise TableSpecError(f"column {column!r} has no values to bin")
    unit = f"distinct persons in {person!r}" if person else "records"
    statistic = f"records per bin of {column}"
    try:
        values = data[column].to_numpy(dtype=float)
        edges = bin_edges(values, bins, profile.allow_min_max)
        refused = _extreme_edges(values, edges, checker)
        if refused:
            return Output("hist", statistic, profile, unit, pd.DataFrame(), pd.DataFrame(), refused)
        ids = data[person].to_numpy() if person else np.arange(len(data))
        return _judge(checker, values, ids, edges, person, statistic, unit)
    except TableSpecError:
        raise
    except Exception as exc:  # noqa: BLE001 - fail closed: nothing of this histogram leaves
        logger.error("sdc histogram raised %s", type(exc).__name__)
        error = f"check-error: histogram raised {type(exc).__name__}"
        return Output(
            "hist", statistic, profile, unit, pd.DataFrame(), pd.DataFrame(), errors=(error,)
        )


def _extreme_edges(
    values: np.ndarray, edges: np.ndarray, checker: Checker
) -> tuple[CellFinding, ...]:
    """`min-max` findings for outer edges equal to the data's min or max (the reused rule)."""
    found = []
    for label, edge, extreme, func in (
        ("lower edge", edges[0], values.min(), "min"),
        ("upper edge", edges[-1], values.max(), "max"),
    ):
        if edge == extreme:
            cell = Cell((label,), ("edge",), 1, 1, 1, 0, NO_CONTRIBUTIONS, float("nan"))
            finding = MinMaxRule().check(cell, "extreme", func, checker.profile)
            if finding is not None:
                found.append(CellFinding((label,), ("edge",), finding))
    return tuple(found)


def _judge(
    checker: Checker,
    values: np.ndarray,
    ids: np.ndarray,
    edges: np.ndarray,
    person: str | None,
    statistic: str,
    unit: str,
) -> Output:
    idx = bin_index(values, edges)
    labels = bin_labels(edges)
    records = np.bincount(idx[idx >= 0], minlength=len(labels))
    filled = np.flatnonzero(records)
    first, last = (int(filled[0]), int(filled[-1])) if len(filled) else (0, -1)
    cells = []
    for b in range(first, last + 1):
        persons = len(set(ids[idx == b].tolist()))
        n = int(records[b])
        cells.append(
            (Cell((labels[b],), ("count",), n, persons, persons, 0, NO_CONTRIBUTIONS, float(n)),)
        )
    rows = tuple(c[0].row for c in cells)
    inner = Table("count", "size", None, person, ("bin",), ("",), rows, (("count",),), tuple(cells))
    judged = checker.evaluate(inner, "hist") if cells else None
    table = pd.DataFrame({"count": pd.array([0] * len(labels), dtype="Int64")}, index=labels)
    table.index.name = "bin"
    reasons = pd.DataFrame({"count": [""] * len(labels)}, index=table.index, dtype=object)
    findings: tuple[CellFinding, ...] = ()
    errors: tuple[str, ...] = ()
    if judged is not None:
        table.iloc[first : last + 1, 0] = judged.table["count"].to_numpy()
        reasons.iloc[first : last + 1, 0] = judged.reasons["count"].to_numpy()
        findings, errors = judged.findings, judged.errors
        if errors:
            table.iloc[:, 0] = pd.NA
    if (idx < 0).any():
        findings += (CellFinding(("outside",), ("count",), OUTSIDE),)
    base = checker.profile.rounding_base
    return Output("hist", statistic, checker.profile, unit, table, reasons, findings, errors, base)
