"""Random values split across random nodes: the federated summary agrees with numpy on the
pooled rows of the nodes that released.

- Without rounding (profile ``acro``: threshold 10, base 1), n, mean and sd equal numpy's on
  the pooled rows to 1e-9 relative, and every combined bin no node suppressed holds exactly
  the pooled count of that bin (open outer bins).
- With rounding to 10 (profile ``default``), each node's n is off by at most 5, so the pooled
  mean is within max|node mean - pooled mean| x 5k / N of the exact one (k nodes, N persons).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fivesafes.analyses.quantiles import bin_codes
from fivesafes.sdc.profiles import ACRO, DEFAULT
from in_process import pooled_summary

EDGES = [float(e) for e in range(0, 111, 10)]

splits = st.lists(st.integers(0, 400), min_size=1, max_size=4)
shapes = st.tuples(st.floats(20, 90), st.floats(0.5, 25))


def draw(sizes: list[int], shape: tuple[float, float], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    centre, spread = shape
    return [
        np.abs(np.round(rng.normal(centre + 3 * k, spread, n), 1)) + 0.1
        for k, n in enumerate(sizes)
    ]


@settings(max_examples=80, deadline=None)
@given(splits, shapes, st.integers(0, 2**32 - 1))
def test_without_rounding_the_summary_is_the_pooled_one(sizes, shape, seed):
    parts = draw(sizes, shape, seed)
    pooled = pooled_summary(parts, EDGES, ACRO)
    released = [p for p in parts if len(p) >= ACRO.threshold]
    if not released:
        assert pooled["n"]["value"] is None and pooled["mean"] is None
        return
    everyone = np.concatenate(released)
    assert pooled["n"]["value"] == len(everyone)
    assert pooled["mean"] == pytest.approx(everyone.mean(), rel=1e-9, abs=1e-9)
    if len(everyone) > 1 and everyone.std() > 0:
        assert pooled["sd"] == pytest.approx(everyone.std(ddof=1), rel=1e-9)
    counts = np.bincount(bin_codes(everyone, EDGES), minlength=len(EDGES) - 1)
    for cell, count in zip(pooled["bins"], counts, strict=True):
        if not cell["nodes_suppressed"]:
            assert cell["count"]["value"] == count
        else:
            assert (cell["count"]["value"] or 0) <= count


@settings(max_examples=60, deadline=None)
@given(splits, shapes, st.integers(0, 2**32 - 1))
def test_with_rounding_the_pooled_mean_stays_within_its_bound(sizes, shape, seed):
    parts = draw(sizes, shape, seed)
    pooled = pooled_summary(parts, EDGES, DEFAULT)
    released = [p for p in parts if len(p) >= DEFAULT.threshold]
    if not released or pooled["mean"] is None:
        return
    everyone = np.concatenate(released)
    spread = max(abs(p.mean() - everyone.mean()) for p in released)
    bound = spread * 5 * len(released) / (len(everyone) - 5 * len(released)) + 1e-9
    assert abs(pooled["mean"] - everyone.mean()) <= bound
