"""Quantiles from released bins, never from raw order statistics.

A summary's node part counts its persons in bins agreed in the task (the catalogue's edges for
the variable, or the researcher's), and the table checker judges the bins like any table of
counts. The outer bins are open: a value below the first edge is counted in the first bin and a
value above the last edge in the last, so every contributor is in a bin and no released count
tells how many lie beyond the edges. Quantiles interpolate linearly within the released bins
(an open outer bin is read as if it ended at its edge):

| bins (released counts) | [0, 20) | [20, 40) | [40, 60) | [60, 80) | [80, 100] | median |
| ---------------------- | ------- | -------- | -------- | -------- | --------- | ------ |
| counts                 | 0       | 100      | 300      | 100      | 0         | 50     |

A suppressed bin counts nothing, so with suppression the quantiles are approximate; when the
released bins hold less than ``MIN_COVERAGE`` of the released n (a small group spread over many
narrow bins, most of them suppressed), no quantile is given: wider bins are needed.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

STANDARD = (0.05, 0.25, 0.5, 0.75, 0.95)
MIN_COVERAGE = 0.8


class TooFewBinsError(ValueError):
    """The released bins hold too few of the persons for quantiles to mean anything."""


def check_coverage(bins: Sequence[tuple[float, float, int]], n: int | None) -> None:
    """Raise ``TooFewBinsError`` if the released bins hold under ``MIN_COVERAGE`` of ``n``."""
    if n is None or n <= 0:
        return
    held = sum(count for _, _, count in bins)
    if held < MIN_COVERAGE * n:
        raise TooFewBinsError(
            f"the released bins hold {held} of {n} persons (most bins were too small to "
            "release): ask again with wider bins (edges=...)"
        )


def bin_labels(edges: Sequence[float]) -> tuple[str, ...]:
    """``[a, b)`` per bin, the last one closed ``[a, b]``: the rows every node sends."""
    last = len(edges) - 2
    return tuple(
        f"[{_edge(a)}, {_edge(b)}{']' if k == last else ')'}"
        for k, (a, b) in enumerate(itertools.pairwise(edges))
    )


def _edge(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def bin_codes(values: npt.NDArray[np.float64], edges: Sequence[float]) -> npt.NDArray[np.int64]:
    """The bin of each value, outer bins open: below the first edge is bin 0, at or above the
    last edge the last bin."""
    inner = np.asarray(edges[1:-1], dtype=float)
    return np.searchsorted(inner, values, side="right").astype(np.int64)


def label_edges(label: str) -> tuple[float, float]:
    """The edges of a bin label made by ``bin_labels``."""
    low, high = (float(v) for v in label.strip("[]()").split(","))
    return low, high


def interpolate(
    bins: Sequence[tuple[float, float, int]], probabilities: Sequence[float]
) -> dict[float, float]:
    """Quantiles of released ``(low, high, count)`` bins by linear interpolation within a
    bin. Raises ``ValueError`` if no bin holds anyone or a probability is outside [0, 1]."""
    total = sum(n for _, _, n in bins)
    if total <= 0:
        raise ValueError("no bin was released, so there is nothing to take quantiles of")
    result = {}
    for p in probabilities:
        if not 0.0 <= p <= 1.0:
            raise ValueError("probabilities must be between 0 and 1")
        target, seen = p * total, 0.0
        for low, high, n in bins:
            if n and seen + n >= target:
                result[p] = low + (high - low) * (target - seen) / n
                break
            seen += n
    return result


def bin_quantiles(
    cells: list[dict[str, Any]],
    probabilities: Sequence[float] = STANDARD,
    n: int | None = None,
) -> dict[float, float]:
    """Quantiles of released bins (cells with a ``row`` label and a ``count``); raises
    ``ValueError`` when no bin was released, or when they hold too few of the ``n`` persons
    summarised (``MIN_COVERAGE``)."""
    bins = [(*label_edges(str(c["row"])), c["count"]["value"] or 0) for c in cells]
    check_coverage(bins, n)
    return interpolate(bins, probabilities)
