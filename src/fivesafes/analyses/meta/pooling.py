"""Meta-analysis of per-node estimates: the alternative to a pooled fit when one is not wanted.

Each node fits the model on its own rows (``fivesafes.analyses.glm`` with one part) and
releases, after its model traps, its coefficients and standard errors. Per term the hub then
combines the nodes' estimates:

| quantity          | definition (k nodes, estimates b_i, variances v_i = se_i²)                 |
| ----------------- | --------------------------------------------------------------------------- |
| fixed effect      | b_F = Σ w_i b_i / Σ w_i with w_i = 1/v_i; se = 1/√Σ w_i                      |
| Cochran's Q       | Σ w_i (b_i - b_F)²                                                           |
| tau² (DL)         | max(0, (Q - (k - 1)) / (Σ w_i - Σ w_i² / Σ w_i))                            |
| random effects    | b_R = Σ w*_i b_i / Σ w*_i with w*_i = 1/(v_i + tau²); se = 1/√Σ w*_i         |
| I²                | max(0, (Q - (k - 1)) / Q), 0 when Q is 0                                     |

Intervals are b ± 1.96 se and p-values normal-theory, as statsmodels'
``combine_effects(..., method_re="dl")`` computes them (checked to 1e-10 in the tests).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Z975 = 1.959963984540054


@dataclass(frozen=True)
class Combined:
    """One term's meta-analysis over k nodes."""

    term: str
    k: int
    fixed: float
    fixed_se: float
    random: float
    random_se: float
    tau2: float
    q: float
    i2: float

    def as_dict(self) -> dict[str, Any]:
        def interval(b: float, se: float) -> list[float]:
            return [b - Z975 * se, b + Z975 * se]

        def p(b: float, se: float) -> float:
            return math.erfc(abs(b / se) / math.sqrt(2.0)) if se > 0 else float("nan")

        return {
            "term": self.term,
            "k": self.k,
            "fixed": self.fixed,
            "fixed_se": self.fixed_se,
            "fixed_ci": interval(self.fixed, self.fixed_se),
            "fixed_p": p(self.fixed, self.fixed_se),
            "random": self.random,
            "random_se": self.random_se,
            "random_ci": interval(self.random, self.random_se),
            "random_p": p(self.random, self.random_se),
            "tau2": self.tau2,
            "q": self.q,
            "i2": self.i2,
        }


def combine(term: str, estimates: Sequence[float], standard_errors: Sequence[float]) -> Combined:
    """Fixed-effect and DerSimonian-Laird random-effects combination of one term."""
    b = np.asarray(estimates, dtype=float)
    v = np.asarray(standard_errors, dtype=float) ** 2
    if b.size == 0 or b.shape != v.shape or np.any(~np.isfinite(v)) or np.any(v <= 0):
        raise ValueError("every node needs a finite estimate and a positive standard error")
    w = 1.0 / v
    fixed = float(np.sum(w * b) / np.sum(w))
    q = float(np.sum(w * (b - fixed) ** 2))
    k = int(b.size)
    denominator = float(np.sum(w) - np.sum(w**2) / np.sum(w))
    tau2 = max(0.0, (q - (k - 1)) / denominator) if k > 1 and denominator > 0 else 0.0
    w_star = 1.0 / (v + tau2)
    random = float(np.sum(w_star * b) / np.sum(w_star))
    i2 = max(0.0, (q - (k - 1)) / q) if q > 0 and k > 1 else 0.0
    return Combined(
        term=term,
        k=k,
        fixed=fixed,
        fixed_se=float(1.0 / math.sqrt(np.sum(w))),
        random=random,
        random_se=float(1.0 / math.sqrt(np.sum(w_star))),
        tau2=tau2,
        q=q,
        i2=i2,
    )
