"""Vectorised random draws shared by the generator's stages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fivesafes.data.synth.effects import NormalValue

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
Rows = dict[str, NDArray[Any]]  # an OMOP table's columns: name -> one value per row


def truncated_normal_int(
    rng: np.random.Generator, mean: float, sd: float, low: int, high: int, size: int
) -> IntArray:
    """Whole numbers from a normal distribution truncated to ``[low, high]``.

    Out-of-range draws are redrawn (a few rounds), so there is no pile-up at the bounds.
    """
    values = np.rint(rng.normal(mean, sd, size))
    for _ in range(50):
        bad = (values < low) | (values > high)
        if not bad.any():
            break
        values[bad] = np.rint(rng.normal(mean, sd, int(bad.sum())))
    return np.clip(values, low, high).astype(np.int64)


def choice(rng: np.random.Generator, weights: Mapping[int, float], size: int) -> IntArray:
    """Draw keys of ``weights`` with the given probabilities (which must sum to 1)."""
    keys = np.fromiter(weights.keys(), dtype=np.int64)
    cumulative = np.cumsum(np.fromiter(weights.values(), dtype=np.float64))
    index = np.searchsorted(cumulative / cumulative[-1], rng.random(size), side="right")
    result: IntArray = keys[np.minimum(index, len(keys) - 1)]
    return result


def uniform_days(rng: np.random.Generator, first: IntArray, last: IntArray) -> IntArray:
    """One day drawn uniformly from each inclusive range ``[first, last]``."""
    span = np.maximum(last - first + 1, 1)
    offset: IntArray = np.floor(rng.random(first.shape) * span).astype(np.int64)
    return first + offset


def normal_value(rng: np.random.Generator, spec: NormalValue, mean: FloatArray) -> FloatArray:
    """Measurement values around ``mean`` with ``spec``'s sd, rounding and limits."""
    values = rng.normal(mean, spec.sd)
    result: FloatArray = np.clip(np.round(values, spec.decimals), spec.low, spec.high)
    return result
