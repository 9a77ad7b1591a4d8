"""Kaplan-Meier survival tables, coarsened so that each shown step hides at least a threshold.

A step (time, number at risk, events, censored, survival) is shown only once at least
``threshold`` persons have left the risk set (by an event or by censoring) since the last shown
step; the steps in between are merged into it. Steps after the last shown one (fewer than
``threshold`` persons) are not shown. Survival at a shown time is the exact Kaplan-Meier
estimate, which merging does not change; counts are rounded to ``rounding_base``.

| time | event |     | shown (threshold 3) | at risk | events | censored | survival |
| ---- | ----- | --- | ------------------- | ------- | ------ | -------- | -------- |
| 1    | 1     |     |                     |         |        |          |          |
| 2    | 1     |     |                     |         |        |          |          |
| 3    | 0     |     | 3                   | 7       | 2      | 1        | 5/7      |
| 4    | 1     |     |                     |         |        |          |          |
| 5    | 1     |     |                     |         |        |          |          |
| 6    | 1     |     | 6                   | 4       | 3      | 0        | 5/28     |
| 7    | 0     |     | — (one person left) |         |        |          |          |

Fewer than ``threshold`` persons in all is a `threshold` finding: the output fails, nothing shown.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from fivesafes.sdc.counts import round_half_up
from fivesafes.sdc.output import CellFinding, Output
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Finding, Outcome
from fivesafes.sdc.tables import TableSpecError

logger = logging.getLogger(__name__)
COLUMNS = ("time", "at_risk", "events", "censored", "survival")


def km_steps(times: np.ndarray, events: np.ndarray) -> pd.DataFrame:
    """One row per distinct time: at risk just before it, events, censored, survival after."""
    frame = pd.DataFrame({"time": times, "event": events.astype(int)})
    steps = frame.groupby("time", sort=True)["event"].agg(["size", "sum"])
    left = steps["size"].to_numpy()
    died = steps["sum"].to_numpy()
    at_risk = len(frame) - np.concatenate([[0], np.cumsum(left)[:-1]])
    survival = np.cumprod(1.0 - died / at_risk)
    return pd.DataFrame(
        {
            "time": steps.index.to_numpy(),
            "at_risk": at_risk,
            "events": died,
            "censored": left - died,
            "survival": survival,
        }
    )


def coarsen(steps: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """Merge steps until at least ``threshold`` persons have left since the last shown step."""
    times = steps["time"].to_numpy(dtype=float)
    at_risk = steps["at_risk"].to_numpy(dtype=int)
    died = steps["events"].to_numpy(dtype=int)
    censored = steps["censored"].to_numpy(dtype=int)
    survival = steps["survival"].to_numpy(dtype=float)
    shown: list[tuple[float, int, int, int, float]] = []
    start = 0
    for k in range(len(times)):
        events, cens = int(died[start : k + 1].sum()), int(censored[start : k + 1].sum())
        if events + cens >= threshold:
            shown.append((float(times[k]), int(at_risk[start]), events, cens, float(survival[k])))
            start = k + 1
    return pd.DataFrame(shown, columns=list(COLUMNS))


def released(shown: pd.DataFrame, profile: Profile) -> pd.DataFrame:
    out = shown.copy()
    for name in ("at_risk", "events", "censored"):
        out[name] = pd.array(
            [round_half_up(int(v), profile.rounding_base) for v in shown[name]], dtype="Int64"
        )
    out["survival"] = out["survival"].astype("Float64")
    return out


def check_survival(
    df: pd.DataFrame, time: str, event: str, person: str | None, profile: Profile
) -> Output:
    """A coarsened Kaplan-Meier table of ``time`` and ``event`` (1/True = event, 0 = censored)."""
    for name in (time, event, person):
        if name is not None and name not in df.columns:
            raise TableSpecError(f"columns not in the data: [{name!r}]")
    if not pd.api.types.is_numeric_dtype(df[time]):
        raise TableSpecError(f"time column {time!r} is not numeric")
    data = df.dropna(subset=[time, event])
    if person is not None and data[person].duplicated().any():
        raise TableSpecError("a survival table needs one row per person")
    if not data[event].isin([0, 1, True, False]).all():
        raise TableSpecError(f"event column {event!r} must hold 0/1 or booleans")
    statistic = (
        f"{time} (Kaplan-Meier; steps merged until {profile.threshold} persons "
        "have left the risk set)"
    )
    unit = f"distinct persons in {person!r}" if person else "records"
    try:
        if len(data) < profile.threshold:
            finding = Finding(
                "threshold", Outcome.SUPPRESS, f"fewer than {profile.threshold} distinct persons"
            )
            cell = CellFinding(("all",), ("at_risk",), finding)
            empty = pd.DataFrame(columns=list(COLUMNS))
            return Output("survival", statistic, profile, unit, empty, empty.copy(), (cell,))
        steps = km_steps(data[time].to_numpy(dtype=float), data[event].to_numpy())
        table = released(coarsen(steps, profile.threshold), profile)
        reasons = pd.DataFrame("", index=table.index, columns=table.columns, dtype=object)
        return Output(
            "survival",
            statistic,
            profile,
            unit,
            table,
            reasons,
            rounding_base=profile.rounding_base,
        )
    except Exception as exc:  # noqa: BLE001 - fail closed: nothing of this table leaves
        logger.error("sdc survival table raised %s", type(exc).__name__)
        error = f"check-error: survival raised {type(exc).__name__}"
        empty = pd.DataFrame(columns=list(COLUMNS))
        return Output("survival", statistic, profile, unit, empty, empty.copy(), errors=(error,))
