"""Kaplan-Meier by node and pooled (``fivesafes.analyses.km``).

With rounding base 1, the pooled curve on the boundaries every node shows is Kaplan-Meier on
the pooled rows with each time coarsened up to the next common boundary (and clipped to the
horizon): compared with lifelines' ``KaplanMeierFitter`` to 1e-10 (survival and its log(-log)
95 % interval).
"""

from __future__ import annotations

import itertools

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
    judged_group,
    life_table,
    merge,
    pooled_curve,
    regate,
)
from fivesafes.protocol.models import GateRecord
from fivesafes.sdc.profiles import ACRO, DEFAULT

# the module's own worked example
TIMES = np.array([0.4, 1.5, 1.7, 2.2, 2.8, 3.9, 12.0])
EVENTS = np.array([1, 0, 1, 1, 0, 1, 0], dtype=float)


def node_blocks(times, events, interval, horizon, threshold):
    grid = edges(interval, horizon)
    return blocks(life_table(times, events, grid), grid, threshold)


def test_the_worked_example():
    grid = edges(1.0, 10.0)
    table = life_table(TIMES, EVENTS, grid)
    assert table.at_risk[:5].tolist() == [7, 6, 4, 2, 1]
    assert table.events[:4].tolist() == [1, 1, 1, 1]
    assert table.censored.tolist() == [0, 1, 1, 0, 0, 0, 0, 0, 0, 1]  # 12 is censored at 10
    assert node_blocks(TIMES, EVENTS, 1.0, 10.0, 3) == [
        Block(0.0, 2.0, 7, 2, 1),
        Block(2.0, 10.0, 4, 2, 2),
    ]


def test_edges_end_exactly_at_the_horizon():
    assert edges(1.0, 3.0).tolist() == [0.0, 1.0, 2.0, 3.0]
    assert edges(0.75, 2.0).tolist() == [0.0, 0.75, 1.5, 2.0]
    assert edges(0.1, 0.3)[-1] == 0.3  # no float drift past the horizon


def test_an_event_on_a_boundary_belongs_to_the_interval_it_closes():
    grid = edges(1.0, 3.0)
    table = life_table(np.array([1.0, 2.0, 2.5]), np.array([1.0, 1.0, 0.0]), grid)
    assert table.events.tolist() == [1, 1, 0]
    assert table.censored.tolist() == [0, 0, 1]


@given(
    st.lists(st.floats(0.01, 15.0), min_size=1, max_size=120),
    st.integers(0, 2**32 - 1),
    st.integers(1, 12),
)
def test_every_block_hides_a_threshold_and_accounts_for_everyone(times, seed, threshold):
    times_ = np.array(times)
    events = np.random.default_rng(seed).integers(0, 2, len(times_)).astype(float)
    shown = node_blocks(times_, events, 1.0, 10.0, threshold)
    if len(times_) < threshold:
        return  # the node suppresses the level before blocks are built
    assert shown, "a level of threshold persons always shows a block"
    assert shown[0].start == 0.0 and shown[0].at_risk == len(times_)
    assert shown[-1].end == 10.0
    for a, b in itertools.pairwise(shown):
        assert a.end == b.start  # contiguous
        assert b.at_risk == a.at_risk - a.events - a.censored  # no one unaccounted for
    assert all(b.events + b.censored >= threshold for b in shown)
    assert shown[-1].at_risk == shown[-1].events + shown[-1].censored  # nothing left over


def simulate(sizes, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    nodes = {}
    for k, n in enumerate(sizes):
        event_time = rng.exponential(4.0 + k + shift, n)
        censor = rng.exponential(6.0, n)
        nodes[f"n{k}"] = (np.minimum(event_time, censor), (event_time <= censor).astype(float))
    return nodes


def reference(nodes, per_node, horizon):
    """lifelines on the pooled rows, times coarsened up to the common boundaries."""
    common = sorted(set.intersection(*({b.end for b in shown} for shown in per_node.values())))
    times = np.concatenate([t for t, _ in nodes.values()])
    events = np.concatenate([e for _, e in nodes.values()])
    events = np.where(times > horizon, 0.0, events)
    clipped = np.minimum(times, horizon)
    coarse = np.asarray(common)[np.searchsorted(common, clipped, side="left")]
    fitter = KaplanMeierFitter().fit(coarse, events)
    return common, fitter


@pytest.mark.parametrize("thresholds", [(1, 1, 1), (10, 3, 25)])
def test_pooled_curve_equals_lifelines_on_the_pooled_rows(thresholds):
    nodes = simulate([150, 1500, 600], seed=4)
    per_node = {
        name: node_blocks(t, e, 0.5, 10.0, threshold)
        for (name, (t, e)), threshold in zip(nodes.items(), thresholds, strict=True)
    }
    curve = pooled_curve(per_node)
    common, fitter = reference(nodes, per_node, 10.0)
    assert [p.time for p in curve] == common
    expected = fitter.survival_function_.loc[common].iloc[:, 0].to_numpy()
    np.testing.assert_allclose([p.survival for p in curve], expected, rtol=1e-10)
    ci = fitter.confidence_interval_survival_function_.loc[common].to_numpy()
    usable = ~np.isnan(ci).any(axis=1) & (expected > 0) & (expected < 1)
    np.testing.assert_allclose(np.array([p.lower for p in curve])[usable], ci[usable, 0], 1e-10)
    np.testing.assert_allclose(np.array([p.upper for p in curve])[usable], ci[usable, 1], 1e-10)
    at_risk = fitter.event_table.loc[common, "at_risk"].to_numpy()
    assert [p.at_risk for p in curve] == at_risk.tolist()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 300), min_size=1, max_size=4),
    st.integers(0, 2**32 - 1),
    st.integers(1, 8),
    st.sampled_from([0.25, 0.5, 1.0, 2.5]),
)
def test_pooled_curve_equals_lifelines_for_any_split(sizes, seed, threshold, interval):
    nodes = simulate(sizes, seed)
    per_node = {
        name: node_blocks(t, e, interval, 10.0, threshold)
        for name, (t, e) in nodes.items()
        if len(t) >= threshold
    }
    if not per_node:
        return
    nodes = {name: nodes[name] for name in per_node}
    curve = pooled_curve(per_node)
    common, fitter = reference(nodes, per_node, 10.0)
    expected = fitter.survival_function_.loc[common].iloc[:, 0].to_numpy()
    np.testing.assert_allclose([p.survival for p in curve], expected, rtol=1e-10, atol=1e-15)


def test_with_rounding_the_curve_is_within_the_stated_accuracy():
    nodes = simulate([800, 1200, 500], seed=9)
    exact = pooled_curve({n: node_blocks(t, e, 1.0, 10.0, 10) for n, (t, e) in nodes.items()})
    rounded_output = {n: released(t, e, DEFAULT) for n, (t, e) in nodes.items()}
    group = combine(rounded_output, [], DEFAULT)["groups"]["all"]
    rounded = group["curve"]
    assert [p["time"] for p in rounded] == [p.time for p in exact]
    assert all(p["at_risk"] % 10 == 0 for p in rounded)
    # against lifelines on the pooled rows (not coarsened): within the nodes' largest figure
    times = np.concatenate([t for t, _ in nodes.values()])
    fitter = KaplanMeierFitter().fit(times, np.concatenate([e for _, e in nodes.values()]))
    error = max(abs(p["survival"] - fitter.predict(p["time"])) for p in rounded)
    assert error <= group["accuracy"] == max(group["nodes_accuracy"].values())


def released(times, events, profile):
    """A node's output as the node part builds it (rounded counts)."""
    group = judged_group("all", times, events, edges(1.0, 10.0), profile)
    return KaplanMeierOutput(
        time="time_to_lung_cancer",
        by=None,
        interval=1.0,
        horizon=10.0,
        groups=[group],
        gate=GateRecord(verdict="pass", profile=profile.name, rules=["survival"]),
    )


def test_a_level_below_the_threshold_is_suppressed_and_named():
    nodes = simulate([400, 6], seed=2)
    outputs = {n: released(t, e, ACRO) for n, (t, e) in nodes.items() if len(t) >= 10}
    small = KaplanMeierOutput(
        time="time_to_lung_cancer",
        by=None,
        interval=1.0,
        horizon=10.0,
        groups=[KaplanMeierGroup(level="all", blocks=[], suppressed=True, rule="fewer than 10")],
        gate=GateRecord(verdict="fail", profile="acro", rules=["threshold"]),
    )
    combined = combine({**outputs, "n1": small}, ["n2"], ACRO)
    group = combined["groups"]["all"]
    assert group["nodes_contributing"] == ["n0"]
    assert group["nodes_suppressed"] == ["n1"]
    assert combined["nodes_missing"] == ["n2"]
    alone = pooled_curve({"n0": node_blocks(*nodes["n0"], 1.0, 10.0, 10)})
    assert [p["survival"] for p in group["curve"]] == pytest.approx([p.survival for p in alone])


def test_a_stricter_hub_merges_blocks_again():
    t, e = simulate([300], seed=5)["n0"]
    output = released(t, e, ACRO)
    stricter = ACRO.at_least(threshold=40)
    again = regate(output, stricter)
    shown = again.groups[0].blocks
    assert all(b.events + b.censored >= 40 for b in shown)
    assert shown[-1].end == 10.0 and shown[0].at_risk == output.groups[0].blocks[0].at_risk
    original_ends = {b.end for b in output.groups[0].blocks}
    assert {b.end for b in shown} <= original_ends  # only ever coarser
    assert merge([Block(0.0, 1.0, 2, 1, 1)], 3) == []  # too few in all: nothing to show


def test_a_hub_threshold_above_every_level_fails_the_output():
    t, e = simulate([30], seed=1)["n0"]
    again = regate(released(t, e, ACRO), ACRO.at_least(threshold=1000))
    assert again.gate.verdict == "fail"
    assert all(g.suppressed and not g.blocks for g in again.groups)


def test_the_wire_form_refuses_gaps_and_values_without_a_pass():
    block = SurvivalBlock(start=0.0, end=1.0, at_risk=20, events=5, censored=5)
    later = SurvivalBlock(start=0.5, end=2.0, at_risk=10, events=5, censored=5)
    with pytest.raises(ValueError, match="follow one another"):
        KaplanMeierGroup(level="all", blocks=[block, later], suppressed=False, rule="")
    group = KaplanMeierGroup(level="all", blocks=[block], suppressed=False, rule="")
    with pytest.raises(ValueError, match="exactly when it passed"):
        KaplanMeierOutput(
            time="time_to_lung_cancer",
            by=None,
            interval=1.0,
            horizon=10.0,
            groups=[group],
            gate=GateRecord(verdict="fail", profile="default"),
        )
