"""Hypothesis differential tests the other property tests leave out.

- A summary by a factor: random values per node and level (levels are often rare or absent at a
  node), every node's gate, the hub's regate and pooling per level. Under profile ``acro`` (no
  rounding) each level's n, mean and sd equal numpy's on the pooled rows of the nodes that
  released the level (1e-9), and the others are named as having suppressed it.
- A GLM over a random number of unbalanced nodes (1 to 5), with variance weights and, for the
  Poisson family, an offset: statsmodels on the pooled rows (tests/unit/test_glm.py draws three
  nodes without weights).
"""

from __future__ import annotations

import warnings
from itertools import pairwise

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pyroaring import BitMap

from fivesafes.analyses.glm import Rows, fit_local
from fivesafes.analyses.registry import REGISTRY
from fivesafes.analyses.summary import Described, VariableValues
from fivesafes.node.person_sets import InMemoryPersonSetStore
from fivesafes.node.runner import Computed, gate
from fivesafes.sdc.differencing import person_set
from fivesafes.sdc.profiles import ACRO
from in_process import combine, regate

LEVELS = ("never", "former", "current")
EDGES = [10.0 + 5.0 * k for k in range(9)]


def grouped_output(groups: dict[str, np.ndarray], first_id: int) -> dict:
    """A node's released summary by smoker of ``groups`` (level -> values), as the runner
    builds it from ``grouped_values``: each level judged on its own."""
    found = []
    for level, values in groups.items():
        ids = np.arange(first_id, first_id + len(values), dtype=np.int64)
        first_id += len(values)
        found.append((level, VariableValues(person_set(ids), ids, values, 0)))
    everyone = BitMap.union(*(v.contributors for _, v in found))
    computed = Computed(everyone, Described("bmi", EDGES, found, by="smoker"))
    outcome = gate("p", "k", REGISTRY["summary"], computed, ACRO, InMemoryPersonSetStore())
    assert outcome.status == "succeeded", outcome
    assert outcome.output is not None
    return outcome.output


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.tuples(*[st.integers(0, 40)] * 3), min_size=1, max_size=4),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_summary_by_a_factor_is_the_pooled_one_per_level(sizes, seed):
    rng = np.random.default_rng(seed)
    nodes = {
        f"n{k}": {
            level: np.abs(np.round(rng.normal(24 + 3 * j + k, 4, n), 1)) + 0.1
            for j, (level, n) in enumerate(zip(LEVELS, per_level, strict=True))
        }
        for k, per_level in enumerate(sizes)
    }
    outputs, first = {}, 1
    for name, groups in nodes.items():
        outputs[name] = regate("summary", grouped_output(groups, first), ACRO)
        first += sum(len(v) for v in groups.values())
    pooled = combine("summary", outputs, [], ACRO)
    assert pooled["nodes_contributing"] == sorted(nodes)
    for level in LEVELS:
        group = pooled["groups"][level]
        shown = sorted(n for n, g in nodes.items() if len(g[level]) >= ACRO.threshold)
        assert group["nodes_contributing"] == shown
        assert group["nodes_suppressed"] == sorted(set(nodes) - set(shown))
        if not shown:
            assert group["n"]["value"] is None and group["mean"] is None
            continue
        values = np.concatenate([nodes[n][level] for n in shown])
        assert group["n"]["value"] == len(values)
        assert group["mean"] == pytest.approx(values.mean(), rel=1e-9)
        assert group["sd"] == pytest.approx(values.std(ddof=1), rel=1e-9, abs=1e-12)


FAMILIES = {
    "gaussian": sm.families.Gaussian(),
    "binomial": sm.families.Binomial(),
    "poisson": sm.families.Poisson(),
}


@settings(max_examples=40, deadline=None)
@given(
    family=st.sampled_from(sorted(FAMILIES)),
    sizes=st.lists(st.integers(15, 400), min_size=1, max_size=5),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_weighted_glm_over_any_number_of_nodes_agrees_with_statsmodels(family, sizes, seed):
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n)])
    eta = x @ np.array([-0.5, 0.6, 0.8])
    offset = rng.normal(0, 0.2, n) if family == "poisson" else None
    if family == "gaussian":
        y = eta + rng.normal(size=n)
    elif family == "binomial":
        y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    else:
        y = rng.poisson(np.exp(eta + offset)).astype(float)
    assume(family != "binomial" or 10 < y.sum() < n - 10)
    assume(0 < x[:, 2].sum() < n)
    w = rng.uniform(0.5, 2.0, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sm.GLM(y, x, family=FAMILIES[family], var_weights=w, offset=offset).fit()
    cuts = np.cumsum([0, *sizes])
    parts = [
        Rows.of(x[a:b], y[a:b], w[a:b], None if offset is None else offset[a:b])
        for a, b in pairwise(cuts)
    ]
    fit = fit_local(parts, family, ["Intercept", "x", "b"])
    np.testing.assert_allclose(fit.params, ref.params, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(fit.bse, ref.bse, rtol=1e-7)
    assert fit.iterations == ref.fit_history["iteration"]
    assert fit.nobs == n
