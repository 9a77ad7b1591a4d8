"""Hypothesis on the check the GLM and the Cox model make before solving their pooled
information (``fivesafes.analyses.information``), over random designs in random units:

- a term that is an exact combination of two others is refused, and exactly those three terms
  are named, however the terms are scaled;
- an identifiable design is fitted whatever its units: rescaling a term by 10^k only divides
  its coefficient by 10^k (to 1e-7 of each coefficient, or of the largest one for a
  coefficient near zero: norm-wise, as a solver's accuracy is stated), as the equilibrated rule
  promises. (For the Cox model k stays at -1 or above: its separation trap, a coefficient
  beyond 30 or a standard error beyond 1000, is in the covariates' units and would refuse a
  covariate in tiny units first.)
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fivesafes.analyses.cox import SurvivalRows
from fivesafes.analyses.cox import fit_local as cox_fit
from fivesafes.analyses.glm import GLMError, Rows
from fivesafes.analyses.glm import fit_local as glm_fit

NAMES = ["x0", "x1", "x2", "x3"]


def design(seed: int, n: int, powers: list[int]) -> tuple[np.ndarray, np.random.Generator]:
    """Four covariates, each in units of 10^power, with means up to three sds from zero."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 4)) + rng.uniform(-3, 3, 4)
    return z * 10.0 ** np.array(powers, dtype=float), rng


def glm_parts(x: np.ndarray, rng: np.random.Generator, cuts: int) -> list[Rows]:
    n = len(x)
    xi = np.column_stack([np.ones(n), x])
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    y = 0.3 * z[:, 0] - 0.2 * z[:, 1] + 0.5 * z[:, 2] + rng.normal(size=n)
    edges = [0, cuts, n]
    return [Rows.of(xi[a:b], y[a:b]) for a, b in pairwise(edges)]


def cox_parts(x: np.ndarray, rng: np.random.Generator, cuts: int) -> list[SurvivalRows]:
    n = len(x)
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    time = rng.exponential(1 / np.exp(0.4 * z[:, 0] - 0.3 * z[:, 1]))
    censor = rng.exponential(2.0, n)
    event = (time <= censor).astype(float)
    edges = [0, cuts, n]
    return [
        SurvivalRows.of(x[a:b], np.minimum(time, censor)[a:b], event[a:b])
        for a, b in pairwise(edges)
    ]


def fitted(model: str, x: np.ndarray, rng: np.random.Generator, cuts: int) -> np.ndarray:
    """The covariates' coefficients of ``model`` fitted over ``x`` split at ``cuts``."""
    if model == "glm":
        return glm_fit(glm_parts(x, rng, cuts), "gaussian", ["Intercept", *NAMES]).params[1:]
    return cox_fit(cox_parts(x, rng, cuts), NAMES).params


MODELS = st.sampled_from(["glm", "cox"])
POWERS = st.lists(st.integers(-4, 4), min_size=4, max_size=4)
PAIRS = st.lists(st.integers(0, 2), min_size=2, max_size=2, unique=True)


@settings(max_examples=30, deadline=None)
@given(
    model=MODELS,
    seed=st.integers(0, 2**32 - 1),
    powers=POWERS,
    pair=PAIRS,
    weights=st.tuples(st.floats(0.5, 2.0), st.floats(-2.0, -0.5)),
    cuts=st.integers(60, 240),
)
def test_a_term_combining_two_others_is_refused_naming_exactly_the_three(
    model, seed, powers, pair, weights, cuts
):
    x, rng = design(seed, 300, powers)
    j, k = sorted(pair)
    # x3 = u x_j + v x_k, each part on x3's own scale so that all three weigh in the dependency
    u, v = weights
    x[:, 3] = 10.0 ** powers[3] * (u * x[:, j] / x[:, j].std() + v * x[:, k] / x[:, k].std())
    with pytest.raises(GLMError) as error:
        fitted(model, x, rng, cuts)
    assert f"the terms {NAMES[j]}, {NAMES[k]} and x3 are collinear" in str(error.value)


@settings(max_examples=30, deadline=None)
@given(
    model=MODELS,
    seed=st.integers(0, 2**32 - 1),
    powers=POWERS,
    cuts=st.integers(60, 240),
)
def test_an_identifiable_design_is_fitted_in_any_units(model, seed, powers, cuts):
    if model == "cox":
        powers = [max(power, -1) for power in powers]
    x, rng = design(seed, 300, [0, 0, 0, 0])
    state = rng.bit_generator.state
    units = 10.0 ** np.array(powers, dtype=float)
    plain = fitted(model, x, rng, cuts)
    rng.bit_generator.state = state  # the same outcomes for both fits
    # norm-wise: a coefficient near zero carries the solve's rounding of the largest one
    scale = np.abs(plain).max()
    np.testing.assert_allclose(
        fitted(model, x * units, rng, cuts) * units, plain, rtol=1e-7, atol=1e-7 * scale
    )
