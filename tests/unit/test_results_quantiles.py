"""Quantiles from a combined histogram's released bins (never from raw values)."""

from __future__ import annotations

import numpy as np
import pytest

from fivesafes.client.results import CrosstabResult


def histogram(counts, edges):
    cells = []
    for i, n in enumerate(counts):
        close = "]" if i == len(counts) - 1 else ")"
        label = f"[{edges[i]}, {edges[i + 1]}{close}"
        value = None if n is None else n
        cells.append(
            {
                "row": label,
                "column": "count",
                "count": {"value": value, "suppressed": value is None, "rule": ""},
                "nodes_suppressed": [],
            }
        )
    return CrosstabResult("t", True, "age", None, cells, {}, {})


def test_quantiles_interpolate_within_the_released_bins():
    result = histogram([0, 100, 300, 100, 0], [0, 20, 40, 60, 80, 100])
    q = result.quantiles([0.1, 0.5, 0.9])
    assert q[0.5] == pytest.approx(50.0)  # the middle of the symmetric centre bin
    assert q[0.1] == pytest.approx(20 + 20 * 50 / 100)
    assert q[0.9] == pytest.approx(60 + 20 * 50 / 100)


def test_quantiles_are_close_to_the_data_they_summarise():
    rng = np.random.default_rng(0)
    ages = rng.normal(55, 12, 20_000)
    edges = list(range(0, 121, 5))
    counts, _ = np.histogram(ages, bins=edges)
    result = histogram([int(c) for c in counts], edges)
    q = result.quantiles([0.25, 0.5, 0.75])
    for p, value in q.items():
        assert abs(value - np.quantile(ages, p)) < 0.5  # within a tenth of a bin width


def test_nothing_released_is_an_error():
    with pytest.raises(ValueError, match="nothing"):
        histogram([None, None], [0, 1, 2]).quantiles([0.5])
