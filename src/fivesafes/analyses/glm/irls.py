"""Generalised linear models fitted across nodes by iteratively reweighted least squares, giving
exactly the fit of statsmodels' ``GLM(...).fit()`` on the pooled rows.

Each round the hub sends an *instruction*; every node answers with sums over its own rows only:

| round      | hub sends         | each node returns (over its rows)                          |
| ---------- | ----------------- | ---------------------------------------------------------- |
| ``mean``   | nothing           | n, sum of y (only for families that start from the mean)   |
| ``start``  | pooled mean of y  | at mu0 = starting mu: deviance, XᵀWX, XᵀWz                 |
| ``step``   | coefficients beta | at mu(beta): deviance, XᵀWX, XᵀWz, Pearson X², llf terms   |

The hub adds the nodes' sums, solves ``(ΣXᵀWX) beta = ΣXᵀWz`` for the next coefficients (a
singular or nearly singular ΣXᵀWX is refused first, naming the collinear terms: see
``fivesafes.analyses.information``), and stops when two successive deviances agree within
``tol`` (1e-8, absolute), as statsmodels does (for the Gaussian each deviance divided by the
scale estimated the round before, again as statsmodels does, so the iteration counts agree).
The final covariance is ``scale · (ΣXᵀWX)⁻¹`` from the weights that produced the final
coefficients; scale is 1 for binomial and Poisson, Pearson X² / (n - p) for Gaussian.
Standard errors, z, p and confidence intervals use the normal distribution (statsmodels'
default for GLM). AIC is ``-2 llf + 2p``; the Gaussian identity llf is the concentrated one.

Weights are variance weights (statsmodels ``var_weights``). Links are the canonical ones:
identity (gaussian), logit (binomial), log (poisson, with an optional offset).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from fivesafes.analyses.information import invert, solve
from fivesafes.analyses.model_node import GLMError

Family = Literal["gaussian", "binomial", "poisson"]
FAMILIES: tuple[Family, ...] = ("gaussian", "binomial", "poisson")
Step = Literal["mean", "start", "step"]
Array = npt.NDArray[np.float64]

TOL = 1e-8
BOUNDARY = 1e-10
MAX_ITERATIONS = 100


# ---- the families (canonical links) --------------------------------------------------------


def inverse_link(family: Family, eta: Array) -> Array:
    if family == "gaussian":
        return eta
    if family == "binomial":
        out: Array = 1.0 / (1.0 + np.exp(-eta))
        return out
    return np.exp(eta)


def link(family: Family, mu: Array) -> Array:
    if family == "gaussian":
        return mu
    if family == "binomial":
        out: Array = np.log(mu / (1.0 - mu))
        return out
    return np.log(mu)


def variance(family: Family, mu: Array) -> Array:
    if family == "gaussian":
        return np.ones_like(mu)
    if family == "binomial":
        return mu * (1.0 - mu)
    return mu


def link_derivative(family: Family, mu: Array) -> Array:
    """d eta / d mu."""
    if family == "gaussian":
        return np.ones_like(mu)
    if family == "binomial":
        return 1.0 / (mu * (1.0 - mu))
    return 1.0 / mu


def clip_mu(family: Family, mu: Array) -> Array:
    """Keep fitted means inside the family's domain, as statsmodels' links do."""
    if family == "binomial":
        eps = np.finfo(float).eps
        return np.clip(mu, eps, 1.0 - eps)
    if family == "poisson":
        return np.maximum(mu, np.finfo(float).tiny)
    return mu


def deviance(family: Family, y: Array, mu: Array, w: Array) -> float:
    if family == "gaussian":
        return float(np.sum(w * (y - mu) ** 2))
    if family == "binomial":
        ll = y * np.log(mu) + (1.0 - y) * np.log(1.0 - mu)
        return float(-2.0 * np.sum(w * ll))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(y > 0, y * np.log(y / mu), 0.0)
    return float(2.0 * np.sum(w * (ratio - (y - mu))))


def loglike_terms(family: Family, y: Array, mu: Array, w: Array) -> float:
    """The part of the log-likelihood that adds up over rows at scale 1 (see ``llf``)."""
    if family == "gaussian":
        return float(np.sum(np.log(w)))  # the Gaussian llf is finished at the hub
    if family == "binomial":
        return float(np.sum(w * (y * np.log(mu / (1.0 - mu)) + np.log(1.0 - mu))))
    lgamma = np.vectorize(math.lgamma, otypes=[float])
    return float(np.sum(w * (y * np.log(mu) - mu - lgamma(y + 1.0))))


# ---- the node part ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rows:
    """One node's analysis frame as numbers: design X (n rows, p columns), outcome y,
    variance weights w, offset o. It never leaves the node."""

    x: Array
    y: Array
    w: Array
    offset: Array

    @classmethod
    def of(cls, x: Array, y: Array, w: Array | None = None, offset: Array | None = None) -> Rows:
        n = len(y)
        return cls(
            np.asarray(x, dtype=float),
            np.asarray(y, dtype=float),
            np.ones(n) if w is None else np.asarray(w, dtype=float),
            np.zeros(n) if offset is None else np.asarray(offset, dtype=float),
        )


@dataclass(frozen=True)
class RoundSums:
    """What a node returns for one round: sums over its rows, nothing per row."""

    n: int
    sum_y: float = 0.0
    deviance: float = 0.0
    xtwx: Array = field(default_factory=lambda: np.zeros((0, 0)))
    xtwz: Array = field(default_factory=lambda: np.zeros(0))
    pearson: float = 0.0
    loglike: float = 0.0
    at_boundary: int = 0  # binomial rows fitted as numerically 0 or 1 (separation)

    def __add__(self, other: RoundSums) -> RoundSums:
        def add(a: Array, b: Array) -> Array:
            if a.size == 0:
                return b
            if b.size == 0:
                return a
            return a + b

        return RoundSums(
            self.n + other.n,
            self.sum_y + other.sum_y,
            self.deviance + other.deviance,
            add(self.xtwx, other.xtwx),
            add(self.xtwz, other.xtwz),
            self.pearson + other.pearson,
            self.loglike + other.loglike,
            self.at_boundary + other.at_boundary,
        )


def node_round(
    rows: Rows, family: Family, step: Step, *, ybar: float | None = None, beta: Sequence[float] = ()
) -> RoundSums:
    """One node's sums for one round of the fit (see the module's table)."""
    n = len(rows.y)
    if step == "mean":
        return RoundSums(n=n, sum_y=float(rows.y.sum()))
    if step == "start":
        if family == "binomial":
            mu = (rows.y + 0.5) / 2.0
        else:
            if ybar is None:
                raise ValueError("the start round needs the pooled mean of y")
            mu = (rows.y + ybar) / 2.0
        eta = link(family, mu)
    else:
        coefficients = np.asarray(beta, dtype=float)
        if coefficients.shape != (rows.x.shape[1],):
            raise ValueError("the coefficients do not fit the design")
        eta = rows.x @ coefficients + rows.offset
        with np.errstate(over="ignore"):
            mu = clip_mu(family, inverse_link(family, eta))
    weights = rows.w / (link_derivative(family, mu) ** 2 * variance(family, mu))
    z = eta - rows.offset + link_derivative(family, mu) * (rows.y - mu)
    xw = rows.x * weights[:, None]
    return RoundSums(
        n=n,
        deviance=deviance(family, rows.y, mu, rows.w),
        xtwx=rows.x.T @ xw,
        xtwz=xw.T @ z,
        pearson=float(np.sum(rows.w * (rows.y - mu) ** 2 / variance(family, mu))),
        loglike=loglike_terms(family, rows.y, mu, rows.w),
        at_boundary=separated(family, mu),
    )


def separated(family: Family, mu: Array) -> int:
    """Rows whose fitted probability is numerically 0 or 1: the model (quasi-)separates the
    outcome there, which both breaks the fit and reveals those persons' outcomes."""
    if family != "binomial":
        return 0
    return int(np.sum((mu < BOUNDARY) | (mu > 1.0 - BOUNDARY)))


# ---- the hub part ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    """What the hub asks every node for next."""

    step: Step
    ybar: float | None = None
    beta: tuple[float, ...] = ()


@dataclass(frozen=True)
class Fit:
    """A fitted GLM, with statsmodels' names."""

    family: Family
    names: tuple[str, ...]
    params: Array
    bse: Array
    tvalues: Array
    pvalues: Array
    conf_int: Array  # p rows: lower, upper (95 %)
    deviance: float
    pearson_chi2: float
    scale: float
    llf: float
    aic: float
    nobs: int
    df_resid: int
    iterations: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, as the hub stores and returns it."""
        return {
            "family": self.family,
            "names": list(self.names),
            "params": self.params.tolist(),
            "bse": self.bse.tolist(),
            "z": self.tvalues.tolist(),
            "pvalues": self.pvalues.tolist(),
            "conf_int": self.conf_int.tolist(),
            "deviance": self.deviance,
            "pearson_chi2": self.pearson_chi2,
            "scale": self.scale,
            "llf": self.llf,
            "aic": self.aic,
            "nobs": self.nobs,
            "df_resid": self.df_resid,
            "iterations": self.iterations,
        }


@dataclass
class IRLS:
    """The hub's side of the fit: feed it each round's pooled sums; it answers with the next
    instruction until the fit is done (``fit`` set)."""

    family: Family
    names: tuple[str, ...]
    tol: float = TOL
    max_iterations: int = MAX_ITERATIONS
    deviances: list[float] = field(default_factory=lambda: [math.inf])
    previous: RoundSums | None = None
    beta: Array | None = None
    fit: Fit | None = None
    scale: float = 1.0

    def _scale(self, sums: RoundSums) -> float:
        if self.family != "gaussian":
            return 1.0
        df_resid = sums.n - len(self.names)
        if df_resid <= 0:
            raise GLMError("the model has no residual degrees of freedom")
        return sums.pearson / df_resid

    def state(self) -> dict[str, object]:
        """What the hub keeps between rounds (JSON-ready)."""
        return {
            "family": self.family,
            "names": list(self.names),
            "deviances": [None if math.isinf(d) else d for d in self.deviances],
            "xtwx": None if self.previous is None else self.previous.xtwx.tolist(),
            "beta": None if self.beta is None else self.beta.tolist(),
            "scale": self.scale,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> IRLS:
        irls = cls(state["family"], tuple(state["names"]))
        irls.deviances = [math.inf if d is None else float(d) for d in state["deviances"]]
        if state["xtwx"] is not None:
            irls.previous = RoundSums(n=0, xtwx=np.asarray(state["xtwx"], dtype=float))
        if state["beta"] is not None:
            irls.beta = np.asarray(state["beta"], dtype=float)
        irls.scale = float(state["scale"])
        return irls

    def first(self) -> Instruction:
        return Instruction("start") if self.family == "binomial" else Instruction("mean")

    def advance(self, step: Step, sums: RoundSums) -> Instruction | None:
        """Take the pooled sums of the round just finished; return the next instruction, or
        None when the fit is done (then ``self.fit`` holds it). Raises GLMError."""
        if step == "mean":
            if sums.n == 0:
                raise GLMError("no rows to fit")
            return Instruction("start", ybar=sums.sum_y / sums.n)
        # statsmodels' criterion: each deviance divided by the scale estimated one round
        # earlier (the start round by its own); only the Gaussian scale is not 1
        scale = self._scale(sums) if step == "start" else self.scale
        if sums.at_boundary:
            raise GLMError(
                "perfect separation: the model predicts some outcomes with certainty "
                "(fitted probabilities of 0 or 1); remove or merge the separating covariate"
            )
        self.deviances.append(sums.deviance / scale)
        self.scale = self._scale(sums)
        iteration = len(self.deviances) - 2  # 0 for the start round
        if step == "step" and math.isclose(
            self.deviances[-2], self.deviances[-1], rel_tol=0.0, abs_tol=self.tol
        ):
            assert self.previous is not None
            self.fit = self._finish(self.previous, sums, iteration)
            return None
        if iteration >= self.max_iterations:
            raise GLMError(
                f"the fit did not converge in {self.max_iterations} iterations "
                "(perfect separation or a model the data cannot identify)"
            )
        self.beta = _solve(sums.xtwx, sums.xtwz, self.names)
        self.previous = sums
        return Instruction("step", beta=tuple(float(b) for b in self.beta))

    def _finish(self, weights_round: RoundSums, final: RoundSums, iterations: int) -> Fit:
        assert self.beta is not None
        p = len(self.beta)
        nobs = final.n
        df_resid = nobs - p
        if df_resid <= 0:
            raise GLMError("the model has no residual degrees of freedom")
        scale = final.pearson / df_resid if self.family == "gaussian" else 1.0
        normalized = invert(weights_round.xtwx, self.names)
        bse = np.sqrt(np.diag(normalized) * scale)
        z = self.beta / bse
        normal = NormalDist()
        pvalues = np.array([math.erfc(abs(float(v)) / math.sqrt(2.0)) for v in z])
        q = normal.inv_cdf(0.975)
        conf_int = np.column_stack([self.beta - q * bse, self.beta + q * bse])
        llf = self._llf(final, nobs)
        return Fit(
            family=self.family,
            names=self.names,
            params=self.beta,
            bse=bse,
            tvalues=z,
            pvalues=pvalues,
            conf_int=conf_int,
            deviance=final.deviance,
            pearson_chi2=final.pearson,
            scale=scale,
            llf=llf,
            aic=-2.0 * llf + 2.0 * p,
            nobs=nobs,
            df_resid=df_resid,
            iterations=iterations,
        )

    def _llf(self, final: RoundSums, nobs: int) -> float:
        if self.family != "gaussian":
            return final.loglike
        scale = final.deviance / nobs  # the concentrated likelihood's scale
        sum_log_w = final.loglike
        return -0.5 * (final.deviance / scale + nobs * math.log(2.0 * math.pi * scale) - sum_log_w)


def _solve(xtwx: Array, xtwz: Array, names: Sequence[str]) -> Array:
    """The next coefficients; a design the data cannot identify is refused first
    (``information.check_identifiable``), whatever the BLAS kernel."""
    beta = solve(xtwx, xtwz, names)
    if not np.all(np.isfinite(beta)):
        raise GLMError("the fit diverged (perfect separation?)")
    return beta


def fit_local(parts: Sequence[Rows], family: Family, names: Sequence[str]) -> Fit:
    """Run the federated fit in one process over ``parts`` (one per node): for tests and
    benchmarks; the platform runs the same rounds over the network."""
    irls = IRLS(family, tuple(names))
    instruction: Instruction | None = irls.first()
    while instruction is not None:
        sums = [
            node_round(r, family, instruction.step, ybar=instruction.ybar, beta=instruction.beta)
            for r in parts
        ]
        total = sums[0]
        for s in sums[1:]:
            total = total + s
        instruction = irls.advance(instruction.step, total)
    assert irls.fit is not None
    return irls.fit
