"""Regression models: released only with enough residual degrees of freedom, never saturated
or perfectly separated. Duck-typed, so statsmodels (or anything else) is not needed.

``model_or_counts`` is either an object with attributes ``nobs``, ``df_model``, ``df_resid``,
``params`` (and optionally ``bse`` and ``separation``), as a fitted statsmodels result has, or a
dict ``{"n": int, "params": {name: value} | [values], "df_resid": int, "separation": bool}``
(``df_resid`` defaults to n - number of params, ``separation`` to False).

| model                                         | rule         | finding  |
| --------------------------------------------- | ------------ | -------- |
| df_resid <= 0                                 | `saturated`  | suppress |
| df_resid < `dof_threshold` (10 by default)    | `dof`        | suppress |
| separation flagged, or a non-finite estimate  | `separation` | suppress |
| params / n > `glm_ratio` (DataSHIELD 0.33)    | `glm-ratio`  | suppress |

A model-level finding suppresses every estimate: ``.table`` is then all NA.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from fivesafes.sdc.output import CellFinding, Output
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Finding
from fivesafes.sdc.rules.model import model_findings
from fivesafes.sdc.tables import TableSpecError

logger = logging.getLogger(__name__)
MODEL = ("model",)


def _series(params: Any) -> pd.Series:
    if isinstance(params, pd.Series):
        return params.astype(float)
    if isinstance(params, Mapping):
        return pd.Series({str(k): float(v) for k, v in params.items()}, dtype=float)
    values = np.asarray(params, dtype=float).ravel()
    return pd.Series(values, index=[f"x{i}" for i in range(len(values))], dtype=float)


def summary(model_or_counts: Any) -> tuple[int, float, pd.Series, pd.Series | None, bool]:
    """(n, df_resid, params, standard errors or None, separation) of either input form."""
    if isinstance(model_or_counts, Mapping):
        missing = [k for k in ("n", "params") if k not in model_or_counts]
        if missing:
            raise TableSpecError(f"regression dict is missing {missing}")
        params = _series(model_or_counts["params"])
        n = int(model_or_counts["n"])
        df_resid = float(model_or_counts.get("df_resid", n - len(params)))
        return n, df_resid, params, None, bool(model_or_counts.get("separation", False))
    needed = ("nobs", "df_model", "df_resid", "params")
    missing = [k for k in needed if not hasattr(model_or_counts, k)]
    if missing:
        raise TableSpecError(f"a fitted model needs attributes {missing}")
    params = _series(model_or_counts.params)
    bse = getattr(model_or_counts, "bse", None)
    errors = None if bse is None else pd.Series(np.asarray(bse, dtype=float), index=params.index)
    separation = bool(getattr(model_or_counts, "separation", False))
    return int(model_or_counts.nobs), float(model_or_counts.df_resid), params, errors, separation


def findings_of(
    n: int,
    df_resid: float,
    params: pd.Series,
    bse: pd.Series | None,
    separation: bool,
    profile: Profile,
) -> list[Finding]:
    """Every model-level finding (``fivesafes.sdc.rules.model``)."""
    estimates = params.to_numpy() if bse is None else np.r_[params.to_numpy(), bse.to_numpy()]
    finite = bool(np.all(np.isfinite(estimates)))
    return model_findings(n, df_resid, len(params), finite, separation, profile)


def check_regression(model_or_counts: Any, profile: Profile) -> Output:
    """Judge a fitted model (or its counts) and release its estimates if it is safe."""
    statistic, unit = "estimates", "observations"
    try:
        n, df_resid, params, bse, separation = summary(model_or_counts)
    except TableSpecError:
        raise
    except Exception as exc:  # noqa: BLE001 - fail closed: an unreadable model is a fail
        logger.error("sdc regression input raised %s", type(exc).__name__)
        error = f"check-error: regression raised {type(exc).__name__}"
        empty = pd.DataFrame()
        return Output("regression", statistic, profile, unit, empty, empty, errors=(error,))
    columns = ["coef"] if bse is None else ["coef", "std_err"]
    try:
        found = findings_of(n, df_resid, params, bse, separation, profile)
        table = pd.DataFrame(
            {"coef": params} if bse is None else {"coef": params, "std_err": bse}
        ).astype("Float64")
        table.index.name = "param"
        reasons = pd.DataFrame("", index=table.index, columns=columns, dtype=object)
        if found:
            table.loc[:, :] = pd.NA
            reasons.loc[:, :] = "; ".join(f.rule for f in found)
        cells = tuple(CellFinding(MODEL, ("all",), f) for f in found)
        return Output("regression", statistic, profile, unit, table, reasons, cells)
    except Exception as exc:  # noqa: BLE001 - fail closed: no estimate leaves
        logger.error("sdc regression check raised %s", type(exc).__name__)
        error = f"check-error: regression raised {type(exc).__name__}"
        empty = pd.DataFrame(
            np.full((len(params), len(columns)), pd.NA), index=params.index, columns=columns
        ).astype("Float64")
        return Output(
            "regression", statistic, profile, unit, empty, empty.astype(object), (), (error,)
        )
