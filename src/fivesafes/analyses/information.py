"""The pooled information matrix of a model (the GLM's ΣXᵀWX, the Cox model's minus Hessian),
judged before the hub solves it, so that a model the data cannot identify is the same clear
error on every machine.

**Why not let the solver decide.** ``np.linalg.solve`` raises only when LU factorisation meets
a pivot of exactly zero. An exactly collinear design gives, after summing products over the
rows, a pivot that is exactly zero or of rounding size depending on the order in which the BLAS
kernel added (OpenBLAS chooses the kernel by CPU): the same design was refused on one machine
and "fitted" on another, the effect split arbitrarily between the collinear terms and their
standard errors in the millions (issue 13).

**The rule.** The matrix A is first equilibrated, ``S = D^-½ A D^-½`` with D its diagonal, so
that a term's units do not matter (S has a unit diagonal and holds the cosines between the
weighted columns of the design). A is refused when

- a diagonal entry is not positive: that term carries no information (a column of zeros; in a
  Cox model, a covariate that is constant within every stratum), or
- ``λmin(S) <= RCOND · λmax(S)``: its reciprocal condition number is at most ``RCOND``.

**Why RCOND = 1e-10.** numpy's ``matrix_rank`` counts an eigenvalue as zero below
``λmax · p · ε`` (about 1e-15): that tells rounding from zero only in a matrix stored exactly,
and ours is a sum of products over many rows; an exactly singular design measured at about
1e-16 here, but that rounding grows with the rows and the kernel's order (to about √n · ε,
1e-12 for ten million rows), so a bound at ε's scale is the same coin toss as the solver's.
1e-10 is two orders above that rounding, so the verdict on a singular design does not depend on
the kernel, and far from any design worth fitting: λmin(S) = 1e-10 means a term's weighted
column lies within 1e-5 (relative) of a combination of the others (a variance inflation
factor of about 1e10), where the solve keeps fewer than six of the sixteen digits (its relative
error can reach cond · ε ≈ 2e-6). For comparison, survival's ``coxph`` calls a Cholesky pivot
below ε^¾ ≈ 2e-12 of the largest diagonal singular, and R's ``glm`` aliases a column whose QR
residual is below 1e-11 of its norm (1e-22 in these squared terms, which a hub holding only
XᵀWX cannot resolve). Error text names the terms, never a number from the data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from fivesafes.analyses.model_node import GLMError

Array = npt.NDArray[np.float64]

RCOND = 1e-10  # smallest reciprocal condition number of the equilibrated information solved
INVOLVED = 1e-3  # a term's weight in the near-null space from which it is named as collinear


def check_identifiable(information: Array, names: Sequence[str]) -> None:
    """Raise ``GLMError`` unless ``information`` can be solved for the coefficients of
    ``names`` (see the module's rule), naming the terms that cannot be told apart."""
    a = np.asarray(information, dtype=np.float64)
    if a.shape != (len(names), len(names)):
        raise GLMError("a node's sums do not fit the model's design")
    if not np.all(np.isfinite(a)):
        raise GLMError("the fit diverged (perfect separation?)")
    diagonal = np.diag(a)
    empty = [name for name, d in zip(names, diagonal, strict=True) if d <= 0.0]
    if empty:
        verb, it = ("carries", "it") if len(empty) == 1 else ("carry", "them")
        raise GLMError(
            f"the design is singular: {_listed(empty)} {verb} no information (zero in every "
            f"row, or in a Cox model constant within every node); remove {it}"
        )
    scale = 1.0 / np.sqrt(diagonal)
    s = a * scale[:, None] * scale[None, :]
    values, vectors = np.linalg.eigh((s + s.T) / 2.0)
    near_null = values <= RCOND * values[-1]
    if not near_null.any():
        return
    weight = np.sqrt(np.sum(vectors[:, near_null] ** 2, axis=1))
    collinear = [name for name, w in zip(names, weight, strict=True) if w >= INVOLVED]
    raise GLMError(
        f"the design is singular or nearly so: {_listed(collinear)} are collinear (one is, "
        "or almost is, a combination of the others); remove one of them"
    )


def solve(information: Array, right: Array, names: Sequence[str]) -> Array:
    """``information⁻¹ · right``, once ``check_identifiable`` has passed."""
    check_identifiable(information, names)
    return np.asarray(np.linalg.solve(information, right), dtype=np.float64)


def invert(information: Array, names: Sequence[str]) -> Array:
    """``information⁻¹`` (a covariance up to scale), once ``check_identifiable`` has passed."""
    check_identifiable(information, names)
    return np.asarray(np.linalg.inv(information), dtype=np.float64)


def _listed(names: Sequence[str]) -> str:
    if len(names) == 1:
        return f"the term {names[0]}"
    return "the terms " + ", ".join(names[:-1]) + " and " + names[-1]
