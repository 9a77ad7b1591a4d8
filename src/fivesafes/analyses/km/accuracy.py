"""How far a node's released Kaplan-Meier curve is from the exact one: measured by the node on
its own rows, released with its blocks as one coarse figure.

At every boundary a level shows, the node compares the survival the hub computes from the
released blocks alone (``pooled_curve`` of that one node: coarsened, merged, rounded) with
Kaplan-Meier on its rows (every event time; an event on a boundary belongs to the block it
closes, as lifelines counts it). Its largest absolute difference is ε. The node releases

    accuracy = max(ε, φ) rounded up to the next 0.01,
    φ = max over the shown blocks of R(start) · |e/n - d/m| at its worst,

where R(start) is the released survival at the block's start, e and n its released events
and persons at risk, and d and m any counts within half the base of them (d <= m). φ is what
the rounding hides anyway: how far the block's step could move were its counts anywhere the
rounding allows. It is computed from released numbers alone, so a figure at or above it says
nothing about a count its rounding hides, where a finer figure would (at 15 persons, one
person moves the curve by 0.067: ε on a 0.01 grid would tell 0 events from 1). With rounding
base 1, φ is half a person, and ε measures only the coarsening: persons censored inside a
block counted at risk for all of it.

One interval (0, 1], horizon 1; "c." are censored at 1 unless a time is given; released is
at risk, events, censored:

| rows                              | base | released     | R(1)  | S(1)  | ε     | φ     | figure |
| --------------------------------- | ---- | ------------ | ----- | ----- | ----- | ----- | ------ |
| 200: 3 events, 197 c.             | 10   | 200, 0, 200  | 1.000 | 0.985 | 0.015 | 0.026 | 0.03   |
| 200: 8 events, 192 c.             | 10   | 200, 10, 190 | 0.950 | 0.960 | 0.010 | 0.027 | 0.03   |
| 20: 10 c. at 0.1, 5 events, 5 c.  | 1    | 20, 5, 15    | 0.750 | 0.500 | 0.250 | 0.032 | 0.25   |

``tests/unit/test_km_accuracy.py`` checks each row.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from fivesafes.analyses.km.curves import Block, pooled_curve

GRID = 100  # the figure is released on a grid of 1 / GRID, rounded up


def exact_survival(
    times: npt.NDArray[np.float64], events: npt.NDArray[np.float64], at: list[float]
) -> npt.NDArray[np.float64]:
    """Kaplan-Meier on the rows at each time in ``at``: the product over event times u <= t
    of (1 - d(u) / n(u)), n(u) the persons with a time >= u (lifelines' convention)."""
    ordered = np.sort(times)
    happened, counts = np.unique(times[events > 0], return_counts=True)
    at_risk = len(ordered) - np.searchsorted(ordered, happened, side="left")
    survival = np.cumprod(1.0 - counts / at_risk)
    steps = np.searchsorted(happened, np.asarray(at, dtype=float), side="right")
    return np.concatenate([[1.0], survival])[steps]


def rounding_floor(released: list[Block], base: int) -> float:
    """φ: the most a shown block's step could move were its counts anywhere within half the
    base of the released ones, in survival (computed from the released blocks alone)."""
    points = pooled_curve({"node": released})  # a point for each block with persons at risk
    before = [1.0] + [p.survival for p in points]
    return max(
        (
            s * _hidden(b.events, b.at_risk, base / 2)
            for b, s in zip(released, before[:-1], strict=False)
        ),
        default=1.0,
    )


def _hidden(events: int, at_risk: int, half: float) -> float:
    """The largest |events / at_risk - d / m| for d, m within ``half`` of them, d <= m."""
    shown = min(events, at_risk) / at_risk
    fewest = max(0.0, events - half) / (at_risk + half)
    most = min(1.0, (events + half) / max(1.0, at_risk - half))
    return max(shown - fewest, most - shown)


def on_grid(value: float) -> float:
    """``value`` rounded up to the next 1 / GRID, at most 1."""
    return min(1.0, math.ceil(value * GRID - 1e-9) / GRID)


def measured_accuracy(
    times: npt.NDArray[np.float64],
    events: npt.NDArray[np.float64],
    released: list[Block],
    base: int,
) -> float:
    """The node's released figure for one level: max(ε, φ) rounded up to the 0.01 grid (the
    module's text). ``times`` are the level's times (positive), ``released`` its blocks as
    the node releases them."""
    points = pooled_curve({"node": released})
    if not points:  # nothing the hub would show: no claim below 1
        return 1.0
    exact = exact_survival(times, events, [p.time for p in points])
    measured = max(abs(p.survival - s) for p, s in zip(points, exact, strict=True))
    return on_grid(max(measured, rounding_floor(released, base)))
