"""Kaplan-Meier survival by group: the coarsened life table a node releases and the hub part
(the pooled estimate on the intervals every node showed). The node part is ``node.py``.

The task fixes the intervals before anyone counts: edges ``0, w, 2w, ...`` up to the horizon
(``interval`` w and ``horizon`` in years). A person's time is clipped to the horizon (censored
there if later), and an event or censoring at time t belongs to the interval ``(e[k], e[k+1]]``
that holds t. Kaplan-Meier on times coarsened this way is

    S(e[k]) = prod over intervals j <= k of (1 - d_j / n_j)

with n_j the persons at risk at the start of interval j and d_j the events in it: sums of
counts, so a node's share is its counts and the pooled estimate is exact.

**Node.** Per level of the ``by`` factor, consecutive intervals are merged until at least the
profile's threshold of persons has left the risk set (events plus censorings) since the last
shown boundary: the survival rule of the gate (``fivesafes.sdc.survival``). Leavers after the
last such boundary (fewer than the threshold) join the last block, which therefore ends at the
horizon: every person is in a shown block, and no count below the threshold can be had by
subtracting one released count from another. Each block releases its start and end, the
persons at risk at its start (rounded to the profile's base), and its events and censorings
rounded *cumulatively* (``rounded``): the running totals are rounded, and a block shows the
difference. Rounding each block's few events on its own rounds them all to 0 (42 events over
10 one-year blocks at three nodes, 1-4 each, left the curve at 1); rounded running totals
cross a rounding point where events accumulate, so the curve falls where they do, and the
events up to any boundary are off by at most half the base. The node also states how far
the curve of its released blocks is from Kaplan-Meier on its rows (``accuracy.py``). A level
with fewer than threshold persons is suppressed.

**Hub.** Each node's blocks are merged again under the hub's threshold (a no-op unless the hub
is stricter). The pooled curve uses the *common* boundaries, those every contributing node
shows. On each common block (a, b] the pooled hazard is (sum of the nodes' events in (a, b]) /
(sum of their persons at risk at a). With rounding base 1 this is exactly Kaplan-Meier on the
pooled rows with times coarsened up to the common boundaries (``tests/unit/test_km.py``
against lifelines' ``KaplanMeierFitter``); with rounding it is computed from the rounded counts
the nodes released. The standard error is Greenwood's; the 95 % interval uses the log(-log)
transform, as lifelines does. The pooled result carries each node's figure and the largest of
them (docs/analyses.md says what that does and does not bound).

| time (years)      | event | interval (w = 1) | block (threshold 3)                             |
| ----------------- | ----- | ---------------- | ----------------------------------------------- |
| 0.4               | 1     | (0, 1]           | (0, 2]: at risk 7, events 2, censored 1         |
| 1.5               | 0     | (1, 2]           |                                                 |
| 1.7               | 1     | (1, 2]           |                                                 |
| 2.2               | 1     | (2, 3]           | (2, 4] would have 3 leavers, but the tail of    |
| 2.8               | 0     | (2, 3]           | one (censored at 10) joins it: (2, 10]: at risk |
| 3.9               | 1     | (3, 4]           | 4, events 2, censored 2                         |
| 12 (> horizon 10) | 0     | censored at 10   |                                                 |
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fivesafes.analyses.km.models import KaplanMeierGroup, KaplanMeierOutput, SurvivalBlock
from fivesafes.sdc.counts import round_half_up
from fivesafes.sdc.profiles import Profile

Z975 = 1.959963984540054
ALL = "all"


def edges(interval: float, horizon: float) -> npt.NDArray[np.float64]:
    """The agreed interval edges: 0, w, 2w, ... with the last one exactly the horizon."""
    count = math.ceil(horizon / interval - 1e-9)
    grid = interval * np.arange(count + 1, dtype=float)
    grid[-1] = horizon
    return grid


@dataclass(frozen=True)
class LifeTable:
    """Per agreed interval: persons at risk at its start, events and censorings in it."""

    at_risk: npt.NDArray[np.int64]
    events: npt.NDArray[np.int64]
    censored: npt.NDArray[np.int64]


def life_table(
    times: npt.NDArray[np.float64], events: npt.NDArray[np.float64], grid: npt.NDArray[np.float64]
) -> LifeTable:
    """Counts per interval ``(grid[k], grid[k+1]]`` of times clipped to the last edge (a time
    beyond it is censored there). Times must be positive."""
    horizon = grid[-1]
    late = times > horizon
    clipped = np.where(late, horizon, times)
    happened = (events > 0) & ~late
    slot = np.searchsorted(grid, clipped, side="left") - 1
    intervals = len(grid) - 1
    died = np.bincount(slot[happened], minlength=intervals)
    left = np.bincount(slot, minlength=intervals)
    at_risk = len(times) - np.concatenate([[0], np.cumsum(left)[:-1]])
    return LifeTable(
        at_risk.astype(np.int64), died.astype(np.int64), (left - died).astype(np.int64)
    )


@dataclass(frozen=True)
class Block:
    """Consecutive intervals shown as one step: (start, end], counts as in ``LifeTable``."""

    start: float
    end: float
    at_risk: int
    events: int
    censored: int


def blocks(table: LifeTable, grid: npt.NDArray[np.float64], threshold: int) -> list[Block]:
    """Merge intervals until at least ``threshold`` persons have left since the last shown
    boundary; a tail with fewer joins the last block, so every person is in a shown block and
    no count below the threshold can be found by subtraction."""
    return merge(
        [
            Block(float(grid[k]), float(grid[k + 1]), int(n), int(d), int(c))
            for k, (n, d, c) in enumerate(
                zip(table.at_risk, table.events, table.censored, strict=True)
            )
        ],
        threshold,
    )


def merge(shown: list[Block], threshold: int) -> list[Block]:
    """Consecutive blocks merged until each has at least ``threshold`` leavers; a tail with
    fewer joins the last merged block. A run's leavers are the drop in persons at risk from
    its start to the next block's start (to none after the last block: everyone still at risk
    leaves by the horizon), which on a node's own counts is its events plus censorings. On
    released counts the drop is the difference of two directly rounded counts, so a block a
    node showed still has the threshold when the threshold is a multiple of the base (its
    cumulatively rounded events and censorings may not); the hub can merge a node's released
    blocks again under a stricter threshold."""
    merged: list[Block] = []
    pending: list[Block] = []
    for k, block in enumerate(shown):
        pending.append(block)
        after = shown[k + 1].at_risk if k + 1 < len(shown) else 0
        if pending[0].at_risk - after >= threshold:
            merged.append(_joined(pending))
            pending = []
    if pending and merged:
        merged[-1] = _joined([merged[-1], *pending])
    return merged


def _joined(run: list[Block]) -> Block:
    return Block(
        run[0].start,
        run[-1].end,
        run[0].at_risk,
        sum(b.events for b in run),
        sum(b.censored for b in run),
    )


def rounded(shown: list[Block], base: int) -> list[Block]:
    """Blocks in their released form: persons at risk rounded half up to ``base``; events and
    censorings *cumulatively*, each block's count the difference of the rounded running totals
    at its end and start. A run of blocks with few events each is not rounded to nothing (the
    running total crosses a rounding point where its events accumulate), and the rounding
    error of the events up to any boundary is at most half the base, not half the base per
    block. Rounding blocks already released on a divisor of ``base`` again changes only what
    the coarser base must (on the same base, nothing)."""
    out: list[Block] = []
    events = censored = 0
    for b in shown:
        shown_events, shown_censored = round_half_up(events, base), round_half_up(censored, base)
        events, censored = events + b.events, censored + b.censored
        out.append(
            Block(
                b.start,
                b.end,
                round_half_up(b.at_risk, base),
                round_half_up(events, base) - shown_events,
                round_half_up(censored, base) - shown_censored,
            )
        )
    return out


def to_wire(shown: list[Block]) -> list[SurvivalBlock]:
    return [SurvivalBlock(**vars(b)) for b in shown]


def from_wire(group: KaplanMeierGroup) -> list[Block]:
    return [Block(b.start, b.end, b.at_risk, b.events, b.censored) for b in group.blocks]


# ---- hub ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurvePoint:
    time: float
    at_risk: int
    events: int
    survival: float
    se: float
    lower: float
    upper: float


def pooled_curve(per_node: dict[str, list[Block]]) -> list[CurvePoint]:
    """Kaplan-Meier on the common boundaries of the nodes' blocks (see the module's text)."""
    ends = {node: {b.end: b for b in shown} for node, shown in per_node.items() if shown}
    starts = {node: {b.start: b for b in shown} for node, shown in per_node.items() if shown}
    last = {node: max(e) for node, e in ends.items()}
    points: list[CurvePoint] = []
    survival, greenwood, previous = 1.0, 0.0, 0.0
    for end in sorted({e for node_ends in ends.values() for e in node_ends}):
        active = [n for n in ends if end <= last[n]]
        if any(end not in ends[n] for n in active):
            continue  # some node still contributing shows no boundary here
        # a node active at ``end`` showed the common boundary ``previous``, so a block starts
        at_risk = sum(starts[n][previous].at_risk for n in active)
        died = sum(b.events for n in active for e, b in ends[n].items() if previous < e <= end)
        previous = end
        if at_risk <= 0:
            break
        died = min(died, at_risk)  # rounded counts can disagree
        survival *= 1.0 - died / at_risk
        if at_risk > died:
            greenwood += died / (at_risk * (at_risk - died))
        lower, upper = _loglog_interval(survival, greenwood)
        se = survival * math.sqrt(greenwood)
        points.append(CurvePoint(end, at_risk, died, survival, se, lower, upper))
    return points


def _loglog_interval(survival: float, greenwood: float) -> tuple[float, float]:
    """lifelines' default interval: exp(-exp(log(-log S) ± z·sqrt(V)/log S))."""
    if survival <= 0.0 or survival >= 1.0 or greenwood <= 0.0:
        return survival, survival
    spread = Z975 * math.sqrt(greenwood) / math.log(survival)
    centre = math.log(-math.log(survival))
    a, b = math.exp(-math.exp(centre - spread)), math.exp(-math.exp(centre + spread))
    return min(a, b), max(a, b)


def regate(output: KaplanMeierOutput, profile: Profile) -> KaplanMeierOutput:
    """A node's released blocks as the hub passes them on: merged again under the hub's
    threshold and rounded to its base (both no-ops unless the hub is stricter). Blocks the hub
    changed are no longer the ones the node measured: their figure is dropped."""
    groups = []
    for group in output.groups:
        shown = from_wire(group)
        merged = merge(shown, profile.threshold)
        if group.suppressed or merged:
            released = rounded(merged, profile.rounding_base)
            accuracy = group.accuracy if released == shown else None
            groups.append(
                group.model_copy(update={"blocks": to_wire(released), "accuracy": accuracy})
            )
        else:
            groups.append(
                KaplanMeierGroup(
                    level=group.level, blocks=[], suppressed=True, rule="hub: threshold"
                )
            )
    gate = output.gate
    if gate.verdict == "pass" and all(g.suppressed for g in groups):
        gate = gate.model_copy(update={"verdict": "fail", "rules": [*gate.rules, "hub: threshold"]})
    return output.model_copy(update={"groups": groups, "gate": gate})


def combine(
    outputs: dict[str, KaplanMeierOutput], missing: list[str], profile: Profile
) -> dict[str, Any]:
    """The pooled curve per level, from the nodes' released blocks, with the nodes' figures
    and the largest of them (``accuracy``; None unless every contributing node stated one)."""
    first = next(iter(outputs.values()), None)
    levels: dict[str, dict[str, list[Block]]] = {}
    figures: dict[str, dict[str, float | None]] = {}
    suppressed: dict[str, list[str]] = {}
    for node, output in sorted(outputs.items()):
        for group in output.groups:
            label = group.level or ALL
            shown = from_wire(group)
            levels.setdefault(label, {})
            if shown:
                levels[label][node] = shown
                figures.setdefault(label, {})[node] = group.accuracy
            else:
                suppressed.setdefault(label, []).append(node)
    groups = {}
    for level, per_node in levels.items():
        stated = figures.get(level, {})
        curve = pooled_curve(per_node)
        known = [f for f in stated.values() if f is not None]
        groups[level] = {
            "curve": [vars(p) for p in curve],
            "accuracy": max(known) if known and len(known) == len(stated) else None,
            "nodes_contributing": sorted(per_node),
            "nodes_suppressed": sorted(suppressed.get(level, [])),
            "nodes_blocks": {
                node: [vars(b) for b in shown] for node, shown in sorted(per_node.items())
            },
            "nodes_accuracy": dict(sorted(stated.items())),
        }
    return {
        "analysis": "km",
        "time": first.time if first else None,
        "by": first.by if first else None,
        "interval": first.interval if first else None,
        "horizon": first.horizon if first else None,
        "groups": groups,
        "nodes_contributing": sorted(outputs),
        "nodes_missing": sorted(missing),
        "profile": profile.name,
    }
