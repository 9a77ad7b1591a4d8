"""The check the GLM and the Cox model make on the pooled information matrix before solving it
(``fivesafes.analyses.information``): the rule as a table of small matrices and their verdicts,
and the same verdict whatever BLAS kernel numpy runs on (issue 13: the singular-design test did
not raise under ``OPENBLAS_CORETYPE=Haswell``)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fivesafes.analyses.information import RCOND, check_identifiable
from fivesafes.analyses.model_node import GLMError


def pair(rcond: float) -> np.ndarray:
    """Two terms whose information has reciprocal condition number ``rcond``:
    eigenvalues 1 ± c with (1 - c) / (1 + c) = rcond."""
    c = (1.0 - rcond) / (1.0 + rcond)
    return np.array([[1.0, c], [c, 1.0]])


UNITS = np.diag([1e6, 1e-6])  # the same terms in other units: raw condition number x 1e24

IDENTIFIABLE = {
    "independent terms": np.eye(2),
    "correlated 0.95": pair(0.05 / 1.95),
    "reciprocal condition twice RCOND": pair(2 * RCOND),
    "reciprocal condition 1e-8": pair(1e-8),
    "terms in wildly different units": UNITS @ pair(0.05 / 1.95) @ UNITS,
}

REFUSED = {
    "reciprocal condition half RCOND": (pair(RCOND / 2), "the terms x and y are collinear"),
    # rounding's size in a sum over ten million rows, far above numpy matrix_rank's p·ε
    "reciprocal condition 1e-12": (pair(1e-12), "the terms x and y are collinear"),
    "exactly collinear": (np.ones((2, 2)), "the terms x and y are collinear"),
    "collinear in other units": (UNITS @ np.ones((2, 2)) @ UNITS, "the terms x and y are"),
    "a term with no information": (np.diag([1.0, 0.0]), "the term y carries no information"),
    "rounding below zero": (np.diag([1.0, -1e-300]), "the term y carries no information"),
    "not finite": (np.diag([1.0, np.inf]), "the fit diverged"),
}


@pytest.mark.parametrize("information", IDENTIFIABLE.values(), ids=IDENTIFIABLE)
def test_an_identifiable_information_passes(information):
    check_identifiable(information, ["x", "y"])


@pytest.mark.parametrize(("information", "words"), REFUSED.values(), ids=REFUSED)
def test_an_unidentifiable_information_is_refused_in_words(information, words):
    with pytest.raises(GLMError, match=words):
        check_identifiable(information, ["x", "y"])


def test_the_tolerance_is_the_one_documented():
    docs = (Path(__file__).parents[2] / "docs" / "analyses.md").read_text()
    assert f"RCOND = {RCOND:g}" in docs


def test_only_the_terms_in_the_dependency_are_named():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 4)) * [1.0, 1e3, 1.0, 1e-3]  # terms in different units
    x = np.column_stack([x, x[:, 0] + x[:, 1] / 1e3])  # e = a + b / 1000; c, d independent
    with pytest.raises(GLMError, match=r"the terms a, b and e are collinear \(one is"):
        check_identifiable(x.T @ x, list("abcde"))


# The designs, solved at the hub of each model, in a fresh interpreter so that the BLAS
# kernel can be chosen before numpy loads.
SNIPPET = textwrap.dedent(
    """
    import json
    from itertools import pairwise

    import numpy as np

    from fivesafes.analyses import cox, glm

    def refusal(fit):
        try:
            fit()
        except glm.GLMError as error:
            return str(error)
        return "fitted"

    rng = np.random.default_rng(1)
    n = 500
    x = np.column_stack(
        [np.ones(n), rng.normal(size=n), rng.integers(0, 2, n), rng.normal(50, 10, n)]
    )
    y = x @ np.array([-1.0, 0.4, 0.7, 0.01]) + rng.normal(size=n)
    x = np.column_stack([x, 2 * x[:, 1]])
    edges = list(pairwise([0, 25, 350, n]))
    rows = [glm.Rows.of(x[a:b], y[a:b]) for a, b in edges]
    names = ["Intercept", "x1", "b", "c", "x2"]
    time, event = rng.exponential(1.0, n), (rng.random(n) < 0.7).astype(float)
    strata = [cox.SurvivalRows.of(x[a:b, 1:], time[a:b], event[a:b]) for a, b in edges]
    print(json.dumps({
        "glm": refusal(lambda: glm.fit_local(rows, "gaussian", names)),
        "cox": refusal(lambda: cox.fit_local(strata, names[1:])),
    }))
    """
)
COLLINEAR = (
    "the design is singular or nearly so: the terms x1 and x2 are collinear (one is, or almost "
    "is, a combination of the others); remove one of them"
)


def _has_avx2() -> bool:
    cpuinfo = Path("/proc/cpuinfo")
    return not cpuinfo.exists() or " avx2" in cpuinfo.read_text()


KERNELS = {
    "as installed": {},
    "one thread": {"OPENBLAS_NUM_THREADS": "1"},
    "Haswell": {"OPENBLAS_CORETYPE": "Haswell"},
    "Haswell, one thread": {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "1"},
    "Prescott, one thread": {"OPENBLAS_CORETYPE": "Prescott", "OPENBLAS_NUM_THREADS": "1"},
}


@pytest.mark.parametrize("kernel", KERNELS.values(), ids=KERNELS)
def test_a_singular_design_is_refused_whatever_the_blas_kernel(kernel):
    coretype = kernel.get("OPENBLAS_CORETYPE")
    if coretype and platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("OpenBLAS x86 kernels only")
    if coretype == "Haswell" and not _has_avx2():
        pytest.skip("the Haswell kernel needs AVX2")
    done = subprocess.run(
        [sys.executable, "-c", SNIPPET],
        env={**os.environ, **kernel},
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"glm": COLLINEAR, "cox": COLLINEAR}
