"""Meta-analysis against statsmodels' combine_effects (fixed effect, DerSimonian-Laird).

statsmodels 0.15 does not truncate the DerSimonian-Laird tau² at zero: when Q < k - 1 it
returns a negative tau² (and with two identical estimates a NaN random effect). DerSimonian and
Laird define tau² = max(0, ...), as we do; there the random effect equals the fixed one, and
the comparison with statsmodels is made only where Q >= k - 1."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.meta_analysis import combine_effects

from fivesafes.analyses.meta import combine

# statsmodels divides by zero for degenerate inputs (Q = 0) while computing what we do not use
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def reference(b, se):
    res = combine_effects(np.asarray(b), np.asarray(se) ** 2, method_re="dl")
    frame = res.summary_frame()
    return res, frame


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.tuples(st.floats(-3, 3), st.floats(0.01, 2.0)), min_size=2, max_size=12))
def test_combination_equals_statsmodels(rows):
    b = [r[0] for r in rows]
    se = [r[1] for r in rows]
    ours = combine("x", b, se).as_dict()
    res, frame = reference(b, se)
    assert ours["fixed"] == pytest.approx(frame.loc["fixed effect", "eff"], rel=1e-10, abs=1e-12)
    assert ours["fixed_se"] == pytest.approx(frame.loc["fixed effect", "sd_eff"], rel=1e-10)
    # statsmodels computes Q as Σwb² - (Σwb)²/Σw, which cancels: allow for its rounding
    scale = sum(b_i**2 / s_i**2 for b_i, s_i in rows)
    assert ours["q"] == pytest.approx(res.q, rel=1e-9, abs=1e-12 * (1 + scale))
    if res.q < len(rows) - 1:  # DL truncates tau² at 0: random effects = fixed effect
        assert ours["tau2"] == 0.0 and ours["i2"] == 0.0
        assert (ours["random"], ours["random_se"]) == (ours["fixed"], ours["fixed_se"])
        return
    assert ours["random"] == pytest.approx(frame.loc["random effect", "eff"], rel=1e-10, abs=1e-12)
    assert ours["random_se"] == pytest.approx(frame.loc["random effect", "sd_eff"], rel=1e-10)
    assert ours["random_ci"][0] == pytest.approx(
        frame.loc["random effect", "ci_low"], rel=1e-10, abs=1e-12
    )
    assert ours["tau2"] == pytest.approx(res.tau2, rel=1e-9, abs=1e-12)
    assert ours["i2"] == pytest.approx(res.i2, rel=1e-9, abs=1e-12)


def test_one_node_is_its_own_combination():
    one = combine("x", [0.4], [0.2])
    assert one.fixed == pytest.approx(0.4) and one.random == pytest.approx(0.4)
    assert (one.tau2, one.i2, one.fixed_se) == (0.0, 0.0, pytest.approx(0.2))


@pytest.mark.parametrize(("b", "se"), [([], []), ([1.0], [0.0]), ([1.0, 2.0], [0.1])])
def test_bad_input_is_refused(b, se):
    with pytest.raises(ValueError, match="standard error"):
        combine("x", b, se)
