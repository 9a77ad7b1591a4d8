"""Kaplan-Meier with few events (issue 13): counts rounded cumulatively, so the curve falls
where events accumulate, and each node's figure of how far its released curve is from the
exact one (``fivesafes.analyses.km.accuracy``).

The planted case is the issue's: 42 lung cancers among 1,390 persons at three nodes (threshold
10, rounding base 10), 1-4 events per one-year block at each node. Rounding each block on its
own released 0 events up to 5 years and left the pooled curve at 1; rounding running totals
releases a curve that falls, within the nodes' stated figure of lifelines on the pooled rows.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import KaplanMeierFitter

from fivesafes.analyses.km import (
    Block,
    KaplanMeierGroup,
    KaplanMeierOutput,
    SurvivalBlock,
    blocks,
    combine,
    edges,
    exact_survival,
    judged_group,
    life_table,
    measured_accuracy,
    pooled_curve,
    regate,
    rounded,
)
from fivesafes.analyses.km.accuracy import rounding_floor
from fivesafes.protocol.models import GateRecord
from fivesafes.sdc.counts import round_half_up
from fivesafes.sdc.profiles import ACRO, DEFAULT, Profile

HORIZON = 10.0


def issue_case() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """1,390 persons at three nodes; 42 events within 10 years; heavy censoring."""
    rng = np.random.default_rng(26)
    nodes = {}
    for k, n in enumerate((440, 490, 460)):
        event_time, censor = rng.exponential(200.0, n), rng.exponential(8.0, n)
        nodes[f"n{k}"] = (np.minimum(event_time, censor), (event_time <= censor).astype(float))
    return nodes


def output(times, events, profile: Profile, horizon: float = HORIZON) -> KaplanMeierOutput:
    """A node's output as its node part builds it (one level, ``all``)."""
    group = judged_group("all", times, events, edges(1.0, horizon), profile)
    return KaplanMeierOutput(
        time="time_to_lung_cancer",
        by=None,
        interval=1.0,
        horizon=horizon,
        groups=[group],
        gate=GateRecord(verdict="pass", profile=profile.name, rules=["survival"]),
    )


def lifelines(nodes) -> KaplanMeierFitter:
    times = np.concatenate([t for t, _ in nodes.values()])
    events = np.concatenate([e for _, e in nodes.values()])
    return KaplanMeierFitter().fit(times, events)


def each_block_rounded(times, events, base: int) -> list[Block]:
    """The blocks as they were released before issue 13: every count rounded on its own."""
    grid = edges(1.0, HORIZON)
    return [
        Block(b.start, b.end, *(round_half_up(v, base) for v in (b.at_risk, b.events, b.censored)))
        for b in blocks(life_table(times, events, grid), grid, 10)
    ]


def test_the_issue_case_falls_within_the_stated_accuracy():
    nodes = issue_case()
    exact = lifelines(nodes)
    assert sum(int(e[t <= HORIZON].sum()) for t, e in nodes.values()) == 42
    assert sum(len(t) for t, _ in nodes.values()) == 1390
    assert exact.predict(5.0) == pytest.approx(0.9738, abs=1e-4)
    # before: 1-4 events per block, each rounded to 0; the curve stayed at 1 up to 5 years
    before = {n: each_block_rounded(t, e, 10) for n, (t, e) in nodes.items()}
    assert all(b.events == 0 for shown in before.values() for b in shown if b.end <= 5.0)
    old = {p.time: p.survival for p in pooled_curve(before)}
    assert old[5.0] == 1.0
    # now: running totals rounded; the curve falls, within the nodes' figure of the truth
    combined = combine({n: output(t, e, DEFAULT) for n, (t, e) in nodes.items()}, [], DEFAULT)
    group = combined["groups"]["all"]
    stated = group["accuracy"]
    assert stated == max(group["nodes_accuracy"].values()) == 0.04
    curve = {p["time"]: p["survival"] for p in group["curve"]}
    assert curve[5.0] == pytest.approx(0.9722, abs=1e-4) and curve[5.0] < 1.0
    assert abs(curve[5.0] - exact.predict(5.0)) <= stated
    new_error = max(abs(s - exact.predict(t)) for t, s in curve.items())
    old_error = max(abs(s - exact.predict(t)) for t, s in old.items())
    assert new_error <= stated
    assert (round(new_error, 4), round(old_error, 4)) == (0.0236, 0.0558)
    assert abs(curve[5.0] - exact.predict(5.0)) < abs(old[5.0] - exact.predict(5.0)) / 10


def test_the_module_table():
    """``km.accuracy``'s table: one interval (0, 1], its released counts and figure."""
    rows = [  # times, events, base, released (at risk, events, censored), R(1), S(1), φ, figure
        ([0.2, 0.4, 0.6] + [1.0] * 197, [1] * 3 + [0] * 197, 10, (200, 0, 200), 1.0, 0.985,
         0.026, 0.03),
        ([0.5] * 8 + [1.0] * 192, [1] * 8 + [0] * 192, 10, (200, 10, 190), 0.95, 0.96, 0.027,
         0.03),
        ([0.1] * 10 + [0.5] * 5 + [1.0] * 5, [0] * 10 + [1] * 5 + [0] * 5, 1, (20, 5, 15), 0.75,
         0.5, 0.032, 0.25),
    ]  # fmt: skip
    for times, events, base, counts, r1, s1, floor, figure in rows:
        t, e = np.array(times, dtype=float), np.array(events, dtype=float)
        profile = DEFAULT if base == 10 else ACRO
        group = judged_group("all", t, e, edges(1.0, 1.0), profile)
        (block,) = group.blocks
        assert (block.at_risk, block.events, block.censored) == counts
        released = [Block(0.0, 1.0, *counts)]
        assert pooled_curve({"n": released})[0].survival == pytest.approx(r1)
        assert exact_survival(t, e, [1.0])[0] == pytest.approx(s1)
        assert rounding_floor(released, base) == pytest.approx(floor, abs=5e-4)
        assert group.accuracy == figure


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.01, 12.0), st.booleans()), min_size=1, max_size=80),
    st.lists(st.floats(0.0, 12.0), min_size=1, max_size=5),
)
def test_exact_survival_is_lifelines(rows, at):
    times = np.array([t for t, _ in rows])
    events = np.array([float(e) for _, e in rows])
    fitter = KaplanMeierFitter().fit(times, events)
    expected = [float(fitter.predict(a)) for a in at]
    np.testing.assert_allclose(exact_survival(times, events, at), expected, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30)), min_size=1, max_size=20),
    st.sampled_from([1, 3, 5, 10]),
)
def test_running_totals_are_within_half_the_base(counts, base):
    at_risk = sum(d + c for d, c in counts)
    shown = []
    for k, (d, c) in enumerate(counts):
        shown.append(Block(float(k), float(k + 1), at_risk, d, c))
        at_risk -= d + c
    released = rounded(shown, base)
    for k in range(len(shown)):
        for field in ("events", "censored"):
            true = sum(getattr(b, field) for b in shown[: k + 1])
            total = sum(getattr(b, field) for b in released[: k + 1])
            assert total == round_half_up(true, base)  # so within half the base
            assert getattr(released[k], field) % base == 0 and getattr(released[k], field) >= 0
    assert [b.at_risk for b in released] == [round_half_up(b.at_risk, base) for b in shown]
    assert rounded(released, base) == released  # on the same base: nothing changes


def test_few_events_per_block_are_not_rounded_away():
    shown = [Block(float(k), float(k + 1), 400 - 40 * k, 3, 37) for k in range(10)]
    # running totals 3, 6, 9, ..., 30 round to 0, 10, 10, 10, 20, 20, 20, 20, 30, 30
    assert [b.events for b in rounded(shown, 10)] == [0, 10, 0, 0, 10, 0, 0, 0, 10, 0]
    assert sum(round_half_up(b.events, 10) for b in shown) == 0  # each block on its own


def test_the_figure_says_nothing_a_rounded_count_hides():
    """15 persons, 0 to 4 events before 1 (all released as 0 events): one figure for all."""
    figures = set()
    for died in range(5):
        times = np.array([0.5] * died + [1.0] * (15 - died))
        events = np.array([1.0] * died + [0.0] * (15 - died))
        group = judged_group("all", times, events, edges(1.0, 1.0), DEFAULT)
        assert group.blocks[0].events == 0
        figures.add(group.accuracy)
    # released at risk 20: φ = 5 / 15, the most 4 events among 15 could be; ε on a 0.01 grid
    # alone would be 0, 0.07, 0.14, 0.2, 0.27
    assert figures == {0.34}


def test_the_hub_keeps_a_figure_only_for_the_blocks_the_node_measured():
    t, e = issue_case()["n0"]
    node = output(t, e, DEFAULT)
    assert regate(node, DEFAULT) == node  # the same profile: nothing changes, figure kept
    stricter = regate(node, DEFAULT.at_least(threshold=100))
    assert stricter.groups[0].accuracy is None
    combined = combine({"n0": stricter, "n1": node}, [], DEFAULT)["groups"]["all"]
    assert combined["accuracy"] is None and combined["nodes_accuracy"]["n1"] == 0.04


def test_the_pooled_figure_is_each_nodes_not_a_bound_on_the_pooled_curve():
    """docs/analyses.md: three small nodes, no rounding. Each node's curve is within its
    figure at its own boundaries, but the pooled curve uses the common ones, coarser, and
    counts persons censored inside them as at risk for all of it: it is further off."""
    rng = np.random.default_rng(4)  # 3-5 blocks at each node, one common boundary: 10
    nodes = {}
    for k, n in enumerate((40, 60, 30)):
        event_time, censor = rng.exponential(10.0, n), rng.exponential(8.0, n)
        nodes[f"n{k}"] = (np.minimum(event_time, censor), (event_time <= censor).astype(float))
    outputs = {n: output(t, e, ACRO) for n, (t, e) in nodes.items()}
    for name, (t, e) in nodes.items():
        shown = [Block(**b.model_dump()) for b in outputs[name].groups[0].blocks]
        own = pooled_curve({name: shown})
        exact = exact_survival(t, e, [p.time for p in own])
        figure = outputs[name].groups[0].accuracy
        assert figure is not None
        assert max(abs(p.survival - s) for p, s in zip(own, exact, strict=True)) <= figure
    group = combine(outputs, [], ACRO)["groups"]["all"]
    fitter = lifelines(nodes)
    error = max(abs(p["survival"] - fitter.predict(p["time"])) for p in group["curve"])
    assert [p["time"] for p in group["curve"]] == [10.0]
    assert group["accuracy"] == 0.14 and error == pytest.approx(0.2835, abs=1e-4)


def test_a_level_without_persons_at_risk_claims_nothing():
    assert measured_accuracy(np.array([0.5]), np.array([1.0]), [Block(0.0, 1.0, 0, 0, 0)], 10) == 1


def test_the_wire_form_keeps_the_figure_coarse_and_only_for_released_levels():
    block = SurvivalBlock(start=0.0, end=1.0, at_risk=20, events=10, censored=10)
    KaplanMeierGroup(level="all", blocks=[block], suppressed=False, rule="", accuracy=0.04)
    with pytest.raises(ValueError, match=r"multiple of 0\.01"):
        KaplanMeierGroup(level="all", blocks=[block], suppressed=False, rule="", accuracy=0.0123)
    with pytest.raises(ValueError, match=r"multiple of 0\.01"):
        KaplanMeierGroup(level="all", blocks=[], suppressed=True, rule="", accuracy=0.05)
