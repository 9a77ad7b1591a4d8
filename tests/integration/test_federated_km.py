"""Federated Kaplan-Meier over real processes: each node's released blocks are what the node
part builds from that node's own rows, and the pooled curve (profile ``acro``: no rounding)
equals lifelines' ``KaplanMeierFitter`` on the pooled rows coarsened to the common boundaries."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines import KaplanMeierFitter

from fivesafes.analyses.km import Block, blocks, edges, life_table
from fivesafes.analyses.variables import analysis_frame
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource

EVERYONE = {"name": "everyone", "index": {"type": "fixed", "date": "2015-01-01"}}
INTERVAL, HORIZON = 0.5, 8.0


def duck(path) -> dict:
    return {"engine": "duckdb", "path": str(path)}


def rows(path, by="sex"):
    with open_omop(DuckDBSource(engine="duckdb", path=path)) as db:
        frame = analysis_frame(db, Cohort.model_validate(EVERYONE), ["time_to_lung_cancer", by])
    time = frame.columns["time_to_lung_cancer"]
    event = frame.columns["time_to_lung_cancer_event"]
    keep = ~np.isnan(time) & (time > 0) & (frame.columns[by] >= 0)
    return time[keep], event[keep], frame.columns[by][keep].astype(int)


def test_kaplan_meier_by_sex_per_node_and_pooled(harness, site_data):
    harness.start_hub(profile="acro")
    for name, path in site_data.items():
        harness.add_node(name, duck(path), profile="acro")
    token = harness.researcher()
    project = harness.project(["alice"], list(site_data))
    with harness.federation(token, project) as fed:
        result = fed.kaplan_meier(EVERYONE, by="sex", interval=INTERVAL, horizon=HORIZON)
    assert result.complete and not result.nodes_missing
    assert set(result.groups) == {"female", "male"}
    grid = edges(INTERVAL, HORIZON)
    for code, level in enumerate(("female", "male")):
        group = result.groups[level]
        assert group["nodes_contributing"] == sorted(site_data)
        expected = {}
        for node, path in site_data.items():
            time, event, sex = rows(path)
            member = sex == code
            expected[node] = blocks(life_table(time[member], event[member], grid), grid, 10)
            released = [Block(**b) for b in group["nodes_blocks"][node]]
            assert released == expected[node]
        # lifelines on the pooled rows, coarsened up to the boundaries every node showed
        common = sorted(set.intersection(*({b.end for b in e} for e in expected.values())))
        pooled = [rows(p) for p in site_data.values()]
        time = np.concatenate([t[s == code] for t, _, s in pooled])
        event = np.concatenate([e[s == code] for _, e, s in pooled])
        event = np.where(time > HORIZON, 0.0, event)
        coarse = np.asarray(common)[np.searchsorted(common, np.minimum(time, HORIZON))]
        fitter = KaplanMeierFitter().fit(coarse, event)
        curve = result.curve(level)
        assert [p["time"] for p in curve] == common
        want = fitter.survival_function_.loc[common].iloc[:, 0].to_numpy()
        np.testing.assert_allclose([p["survival"] for p in curve], want, rtol=1e-10)
    frame = result.to_frame()
    assert list(frame.columns[:4]) == ["level", "time", "at_risk", "events"]
    assert "female" in str(result)


def test_a_node_that_refuses_is_named_and_the_others_stand(harness, site_data):
    """riverside's custodian has not approved the project: it refuses; the curve pools the
    other two and says so."""
    harness.start_hub()
    for name, path in site_data.items():
        harness.add_node(name, duck(path))
    token = harness.researcher()
    project = harness.project(["alice"], list(site_data), approve=False)
    for name in ("northfield", "lakeside"):
        harness.approve(name, project)
    with harness.federation(token, project) as fed:
        result = fed.kaplan_meier(EVERYONE, interval=1.0, horizon=8.0, timeout=120)
    assert result.groups["all"]["nodes_contributing"] == ["lakeside", "northfield"]
    assert set(result.nodes_missing) == {"riverside"}
    assert "custodian" in result.nodes_missing["riverside"]
    assert "riverside" in str(result)
    curve = result.curve()
    assert curve and all(p["at_risk"] % 10 == 0 for p in curve)  # the default profile rounds
    survival = [p["survival"] for p in curve]
    assert survival == sorted(survival, reverse=True)


def test_bad_parameters_are_a_clear_422(harness, site_data):
    from fivesafes.client import FederationError

    bad = [
        {"time": "age"},  # not a time to event
        {"by": "bmi"},  # not a factor
        {"interval": 0.01},  # 1000 intervals
    ]
    with harness.every_site({"northfield": site_data["northfield"]}) as fed:
        for change in bad:
            arguments = {"time": "time_to_lung_cancer", "by": None, "interval": 1.0, **change}
            with pytest.raises(FederationError) as caught:
                fed.kaplan_meier(EVERYONE, **arguments)
            assert caught.value.code == "invalid_request", change
