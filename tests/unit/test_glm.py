"""The federated GLM against statsmodels on the pooled rows.

Tolerance: 1e-8 relative for coefficients, standard errors, z, confidence intervals, deviance,
log-likelihood and AIC (p-values 1e-8 relative too where they are above 1e-300); iteration
counts equal. The rows are split across three "nodes" in one process (``fit_local`` runs the
same rounds the hub and nodes run over the network)."""

from __future__ import annotations

import warnings
from itertools import pairwise

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fivesafes.analyses.glm import GLMError, Rows, fit_local

REL = 1e-8
FAMILIES = {
    "gaussian": sm.families.Gaussian(),
    "binomial": sm.families.Binomial(),
    "poisson": sm.families.Poisson(),
}


def simulate(family: str, n: int, seed: int, rare: bool = False):
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [np.ones(n), rng.normal(size=n), rng.integers(0, 2, n), rng.normal(50, 10, n)]
    )
    if rare:  # a category present in a handful of rows only
        x[:, 2] = 0
        x[rng.choice(n, 12, replace=False), 2] = 1
    eta = x @ np.array([-1.0, 0.4, 0.7, 0.01])
    if family == "gaussian":
        y = eta + rng.normal(size=n)
    elif family == "binomial":
        y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    else:
        y = rng.poisson(np.exp(0.5 * eta)).astype(float)
    return x, y, rng


def split(x, y, w=None, offset=None, cuts=(0.05, 0.7)):
    n = len(y)
    edges = [0, int(cuts[0] * n), int(cuts[1] * n), n]
    return [
        Rows.of(
            x[a:b],
            y[a:b],
            None if w is None else w[a:b],
            None if offset is None else offset[a:b],
        )
        for a, b in pairwise(edges)
    ]


def assert_matches(fit, ref):
    np.testing.assert_allclose(fit.params, ref.params, rtol=REL, atol=0)
    np.testing.assert_allclose(fit.bse, ref.bse, rtol=REL, atol=0)
    np.testing.assert_allclose(fit.tvalues, ref.tvalues, rtol=REL, atol=0)
    np.testing.assert_allclose(fit.conf_int, ref.conf_int(), rtol=REL, atol=0)
    above = ref.pvalues > 1e-300
    np.testing.assert_allclose(fit.pvalues[above], ref.pvalues[above], rtol=REL, atol=0)
    for name in ("deviance", "llf", "aic", "pearson_chi2", "scale"):
        assert getattr(fit, name) == pytest.approx(getattr(ref, name), rel=REL), name
    assert (fit.nobs, fit.df_resid) == (ref.nobs, ref.df_resid)
    assert fit.iterations == ref.fit_history["iteration"]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("weighted", [False, True])
def test_three_unbalanced_nodes_give_the_pooled_fit(family, weighted):
    x, y, rng = simulate(family, 4000, seed=7)
    w = rng.uniform(0.5, 2.0, len(y)) if weighted else None
    offset = rng.normal(0, 0.1, len(y)) if family == "poisson" else None
    ref = sm.GLM(y, x, family=FAMILIES[family], var_weights=w, offset=offset).fit()
    fit = fit_local(split(x, y, w, offset), family, ["Intercept", "a", "b", "c"])
    assert_matches(fit, ref)


def test_a_category_held_by_one_node_only_still_gives_the_pooled_fit():
    x, y, _ = simulate("binomial", 3000, seed=3, rare=True)
    order = np.argsort(-x[:, 2], kind="stable")  # every rare row at the first node
    x, y = x[order], y[order]
    ref = sm.GLM(y, x, family=FAMILIES["binomial"]).fit()
    assert_matches(fit_local(split(x, y), "binomial", list("abcd")), ref)


def test_a_singular_design_is_a_clear_error():
    x, y, _ = simulate("gaussian", 500, seed=1)
    x = np.column_stack([x, 2 * x[:, 1]])  # a column that is a multiple of another
    with pytest.raises(GLMError, match="singular"):
        fit_local(split(x, y), "gaussian", list("abcde"))


NAMES = ["Intercept", "x1", "b", "c"]


def test_an_exactly_collinear_design_is_refused_naming_the_collinear_terms():
    x, y, _ = simulate("gaussian", 500, seed=2)
    x = np.column_stack([x, 2 * x[:, 1]])  # x2 = 2 x1
    with pytest.raises(GLMError) as error:
        fit_local(split(x, y), "gaussian", [*NAMES, "x2"])
    assert str(error.value) == (
        "the design is singular or nearly so: the terms x1 and x2 are collinear (one is, or "
        "almost is, a combination of the others); remove one of them"
    )


@pytest.mark.parametrize("noise", [1e-12, 1e-6])
@pytest.mark.parametrize("family", FAMILIES)
def test_a_nearly_collinear_design_is_refused(family, noise):
    x, y, rng = simulate(family, 800, seed=4)
    x = np.column_stack([x, x[:, 1] + noise * rng.normal(size=len(y))])  # x2 = x1 + noise
    with pytest.raises(GLMError, match="singular or nearly so: the terms x1 and x2 are collinear"):
        fit_local(split(x, y), family, [*NAMES, "x2"])


def test_a_term_that_is_zero_in_every_row_is_refused_by_name():
    x, y, _ = simulate("binomial", 500, seed=6)
    x = np.column_stack([x, np.zeros(len(y))])  # a level nobody in the cohort has
    with pytest.raises(GLMError, match="the term never carries no information"):
        fit_local(split(x, y), "binomial", [*NAMES, "never"])


@pytest.mark.parametrize("family", FAMILIES)
def test_a_correlated_but_well_conditioned_design_is_still_the_pooled_fit(family):
    x, y, rng = simulate(family, 4000, seed=9)
    x2 = 0.95 * x[:, 1] + np.sqrt(1 - 0.95**2) * rng.normal(size=len(y))
    x = np.column_stack([x, x2])
    assert np.corrcoef(x[:, 1], x2)[0, 1] == pytest.approx(0.95, abs=0.01)
    ref = sm.GLM(y, x, family=FAMILIES[family]).fit()
    assert_matches(fit_local(split(x, y), family, [*NAMES, "x2"]), ref)


def test_perfect_separation_does_not_pass_as_a_fit():
    rng = np.random.default_rng(5)
    x = np.column_stack([np.ones(200), rng.normal(size=200)])
    y = (x[:, 1] > 0).astype(float)
    with pytest.raises(GLMError, match="perfect separation"):
        fit_local(split(x, y), "binomial", ["Intercept", "x"])


@settings(max_examples=40, deadline=None)
@given(
    family=st.sampled_from(sorted(FAMILIES)),
    n=st.integers(120, 600),
    seed=st.integers(0, 10_000),
    cuts=st.tuples(st.floats(0.05, 0.45), st.floats(0.55, 0.95)),
)
def test_random_data_random_splits_agree_with_statsmodels(family, n, seed, cuts):
    x, y, _ = simulate(family, n, seed)
    assume(family != "binomial" or 10 < y.sum() < n - 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sm.GLM(y, x, family=FAMILIES[family]).fit()
    fit = fit_local(split(x, y, cuts=cuts), family, list("abcd"))
    np.testing.assert_allclose(fit.params, ref.params, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(fit.bse, ref.bse, rtol=1e-7, atol=0)
    assert fit.iterations == ref.fit_history["iteration"]
