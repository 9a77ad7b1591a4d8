"""Cox proportional hazards stratified by node, fitted exactly across nodes by Newton-Raphson.

Each node is its own stratum, so the partial likelihood is a sum over nodes: every round each
node returns, at the hub's coefficients beta, only the log partial likelihood of its stratum,
its gradient and its information matrix (minus the Hessian). The hub adds them and takes a
Newton step, halving it while the log-likelihood would fall, until the step is below ``tol``;
a singular or nearly singular information matrix is refused before it is solved, naming the
collinear covariates (``fivesafes.analyses.information``; a covariate constant within a stratum
contributes an exact 0 there, so one constant in every stratum is refused as carrying no
information).
Ties are handled by **Breslow's** method: every event at a time sees the whole risk set at that
time. With no tied event times this is also Efron's method, lifelines' only one, so the fit
equals ``CoxPHFitter().fit(df, strata=["node"])``; with ties it equals statsmodels'
``PHReg(..., ties="breslow", strata=node)``.

| quantity at beta (one stratum) | definition over the stratum's rows                      |
| ------------------------------ | ------------------------------------------------------- |
| log partial likelihood         | sum over events of x_i·beta - log S0(t_i)               |
| gradient                       | sum over events of x_i - S1(t_i)/S0(t_i)                 |
| information                    | sum over events of S2/S0 - (S1/S0)(S1/S0)ᵀ at t_i        |

where S0(t) = Σ_{j: t_j >= t} exp(x_j·beta), S1 and S2 its first and second moments in x.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from fivesafes.analyses.information import invert, solve
from fivesafes.analyses.model_node import GLMError

Array = npt.NDArray[np.float64]
TOL = 1e-10
MAX_ITERATIONS = 50
MAX_COEF = 30.0  # a hazard ratio of e^30 per unit: the likelihood has no maximum
MAX_SE = 1e3


@dataclass(frozen=True)
class SurvivalRows:
    """One node's (one stratum's) rows: covariates x (no intercept), times, event flags."""

    x: Array
    time: Array
    event: Array

    @classmethod
    def of(cls, x: Array, time: Array, event: Array) -> SurvivalRows:
        order = np.argsort(-np.asarray(time, dtype=float), kind="stable")  # latest first
        return cls(
            np.asarray(x, dtype=float)[order],
            np.asarray(time, dtype=float)[order],
            np.asarray(event, dtype=float)[order],
        )


@dataclass(frozen=True)
class CoxSums:
    """What a node returns for one round: its stratum's sums, nothing per row."""

    n: int
    events: int
    loglik: float
    gradient: Array
    information: Array

    def __add__(self, other: CoxSums) -> CoxSums:
        return CoxSums(
            self.n + other.n,
            self.events + other.events,
            self.loglik + other.loglik,
            self.gradient + other.gradient,
            self.information + other.information,
        )


def node_round(rows: SurvivalRows, beta: Sequence[float]) -> CoxSums:
    """The stratum's log partial likelihood, gradient and information at ``beta`` (Breslow)."""
    b = np.asarray(beta, dtype=float)
    p = rows.x.shape[1]
    if b.shape != (p,):
        raise ValueError("the coefficients do not fit the design")
    eta = rows.x @ b
    shift = float(eta.max()) if eta.size else 0.0  # for exp's range; cancels in every ratio
    risk = np.exp(eta - shift)
    # rows are sorted by time, latest first: cumulative sums give each time's risk set, and
    # all rows with the same time share the risk set of the last of them (Breslow)
    s0 = np.cumsum(risk)
    s1 = np.cumsum(risk[:, None] * rows.x, axis=0)
    events = np.flatnonzero(rows.event == 1.0)
    k = _last_of_each_time(rows.time)[events]
    inverse = 1.0 / s0[k]
    means = s1[k] * inverse[:, None]  # S1/S0 at each event
    # Σ_events S2/S0 = Σ_j risk_j x_j x_jᵀ · Σ_{events whose risk set holds j} 1/S0
    reach = np.zeros(len(risk))
    np.add.at(reach, k, inverse)
    weight = risk * np.cumsum(reach[::-1])[::-1]
    gradient = rows.x[events].sum(axis=0) - means.sum(axis=0)
    information = (rows.x.T * weight) @ rows.x - means.T @ means
    # a covariate constant over the stratum has none of its information (every risk set's
    # variance in it is 0): send the exact 0, not the rounding of x - mean, so that the hub
    # sees a covariate constant in every stratum as one that carries no information
    constant = np.ptp(rows.x, axis=0) == 0.0 if len(rows.time) else np.ones(p, dtype=bool)
    gradient[constant] = 0.0
    information[constant, :] = 0.0
    information[:, constant] = 0.0
    return CoxSums(
        n=len(rows.time),
        events=len(events),
        loglik=float(np.sum(eta[events] - shift) - np.sum(np.log(s0[k]))),
        gradient=gradient,
        information=information,
    )


def _last_of_each_time(time: Array) -> npt.NDArray[np.intp]:
    """For each row (sorted by time, descending), the index of the last row with its time."""
    n = len(time)
    if n == 0:
        return np.empty(0, dtype=np.intp)
    ends = np.flatnonzero(np.r_[time[1:] != time[:-1], True])
    return ends[np.searchsorted(ends, np.arange(n))]


@dataclass(frozen=True)
class CoxFit:
    names: tuple[str, ...]
    params: Array
    bse: Array
    z: Array
    pvalues: Array
    conf_int: Array
    loglik: float
    n: int
    events: int
    iterations: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "params": self.params.tolist(),
            "hazard_ratios": np.exp(self.params).tolist(),
            "bse": self.bse.tolist(),
            "z": self.z.tolist(),
            "pvalues": self.pvalues.tolist(),
            "conf_int": self.conf_int.tolist(),
            "loglik": self.loglik,
            "n": self.n,
            "events": self.events,
            "iterations": self.iterations,
            "ties": "breslow",
        }


@dataclass
class Newton:
    """The hub's side: pooled sums in, the next coefficients out, until converged."""

    names: tuple[str, ...]
    tol: float = TOL
    max_iterations: int = MAX_ITERATIONS
    beta: Array = field(default_factory=lambda: np.zeros(0))
    step: Array | None = None  # the last full Newton step, for halving
    last: CoxSums | None = None
    iterations: int = 0
    fit: CoxFit | None = None

    def __post_init__(self) -> None:
        if self.beta.size == 0:
            self.beta = np.zeros(len(self.names))

    def first(self) -> tuple[float, ...]:
        return tuple(float(b) for b in self.beta)

    def advance(self, sums: CoxSums) -> tuple[float, ...] | None:
        """Take the pooled sums at the current coefficients; return the next coefficients,
        or None when converged (``fit`` set). Raises GLMError."""
        if not np.all(np.isfinite(sums.information)) or not math.isfinite(sums.loglik):
            raise GLMError("the fit diverged (perfect separation?)")
        if (
            self.last is not None
            and sums.loglik < self.last.loglik - 1e-12
            and self.step is not None
        ):
            # the full step overshot: go back half way from where it started
            self.step = self.step / 2.0
            if float(np.max(np.abs(self.step))) < self.tol:
                raise GLMError("the fit did not converge (step halving failed)")
            self.beta = self.beta - self.step
            return tuple(float(b) for b in self.beta)
        self.last = sums
        delta = solve(sums.information, sums.gradient, self.names)
        if float(np.max(np.abs(delta))) < self.tol:
            self.fit = self._finish(sums)
            return None
        self.iterations += 1
        if self.iterations > self.max_iterations:
            raise GLMError(
                f"the fit did not converge in {self.max_iterations} iterations "
                "(perfect separation or too few events?)"
            )
        self.step = np.asarray(delta, dtype=np.float64)
        self.beta = self.beta + delta
        return tuple(float(b) for b in self.beta)

    def _finish(self, sums: CoxSums) -> CoxFit:
        covariance = invert(sums.information, self.names)
        bse = np.sqrt(np.diag(covariance))
        if (
            not np.all(np.isfinite(bse))
            or np.any(bse > MAX_SE)
            or np.any(np.abs(self.beta) > MAX_COEF)
        ):
            raise GLMError(
                "perfect separation (a monotone likelihood): a covariate predicts who has the "
                "event first; remove or merge it"
            )
        z = self.beta / bse
        pvalues = np.array([math.erfc(abs(float(v)) / math.sqrt(2.0)) for v in z])
        q = 1.959963984540054
        return CoxFit(
            names=self.names,
            params=self.beta.copy(),
            bse=bse,
            z=z,
            pvalues=pvalues,
            conf_int=np.column_stack([self.beta - q * bse, self.beta + q * bse]),
            loglik=sums.loglik,
            n=sums.n,
            events=sums.events,
            iterations=self.iterations,
        )

    def state(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "beta": self.beta.tolist(),
            "step": None if self.step is None else self.step.tolist(),
            "last_loglik": None if self.last is None else self.last.loglik,
            "iterations": self.iterations,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Newton:
        newton = cls(tuple(state["names"]), beta=np.asarray(state["beta"], dtype=float))
        if state["step"] is not None:
            newton.step = np.asarray(state["step"], dtype=float)
        if state["last_loglik"] is not None:
            p = len(newton.names)
            newton.last = CoxSums(0, 0, float(state["last_loglik"]), np.zeros(p), np.zeros((p, p)))
        newton.iterations = int(state["iterations"])
        return newton


def fit_local(parts: Sequence[SurvivalRows], names: Sequence[str]) -> CoxFit:
    """The federated fit in one process, one stratum per part (tests and benchmarks)."""
    newton = Newton(tuple(names))
    beta: tuple[float, ...] | None = newton.first()
    while beta is not None:
        sums = [node_round(rows, beta) for rows in parts]
        total = sums[0]
        for s in sums[1:]:
            total = total + s
        beta = newton.advance(total)
    assert newton.fit is not None
    return newton.fit
