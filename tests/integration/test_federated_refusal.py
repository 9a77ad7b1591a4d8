"""A node that refuses, over real processes, for the analyses whose refusal no other test runs
over the network: summary, summary by a factor, crosstab (counts and magnitudes), histogram,
Cox and meta-analysis. (Counts: test_federated_count.py; GLM: test_federated_glm.py;
Kaplan-Meier: test_federated_km.py.)

One federation for all of them: riverside's custodian has not approved the project, so it
refuses every task; each result must name riverside as left out, with the custodian's reason,
and equal the reference on the other two nodes' pooled rows. Every service runs the ``acro``
profile (no rounding), so summaries and tables are exact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.stats.meta_analysis import combine_effects

from fivesafes.analyses.crosstab import levels
from fivesafes.analyses.formula import design, parse_formula
from fivesafes.analyses.variables import analysis_frame
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource

EVERYONE = {"name": "everyone", "index": {"type": "fixed", "date": "2020-01-01"}}
ANSWERING = ["lakeside", "northfield"]
COX = "time_to_lung_cancer ~ age + sex + smoker"
META = "lung_cancer ~ age + sex"
AGE_EDGES = [0.0, 30.0, 45.0, 60.0, 75.0, 90.0, 130.0]


def frame(path, names: list[str]) -> pd.DataFrame:
    """One node's analysis frame (the platform's variable builder, checked against plain SQL
    in tests/unit/test_formula_and_variables.py), categorical levels named."""
    with open_omop(DuckDBSource(engine="duckdb", path=path)) as db:
        built = analysis_frame(db, Cohort.model_validate(EVERYONE), names)
    data = pd.DataFrame({"person_id": built.person_ids})
    for name in names:
        values = built.columns[name]
        if name in ("sex", "smoker"):
            known = values >= 0
            named = np.asarray(levels(name), dtype=object)[np.where(known, values, 0).astype(int)]
            data[name] = np.where(known, named, None)
        else:
            data[name] = values
    return data


def fitted_rows(path, formula: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    parsed = parse_formula(formula)
    with open_omop(DuckDBSource(engine="duckdb", path=path)) as db:
        built = analysis_frame(db, Cohort.model_validate(EVERYONE), parsed.variables)
    rows = design(built.columns, parsed)
    event = built.columns.get(f"{parsed.outcome}_event")
    return rows.x, rows.y, (event[rows.used] if event is not None else rows.y), list(rows.columns)


def assert_left_out(reasons: dict[str, str]) -> None:
    assert list(reasons) == ["riverside"]
    assert "custodian" in reasons["riverside"]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # statsmodels' negative DL tau², see meta
def test_a_refusing_node_is_named_and_every_analysis_equals_the_reference_on_the_others(
    harness, site_data
):
    harness.start_hub(profile="acro")
    for name, path in site_data.items():
        harness.add_node(name, {"engine": "duckdb", "path": str(path)}, profile="acro")
    token = harness.researcher()
    project = harness.project(["alice"], list(site_data), approve=False)
    for name in ANSWERING:
        harness.approve(name, project)
    with harness.federation(token, project) as fed:
        summary = fed.summary(EVERYONE, "bmi")
        by_smoker = fed.summary_by(EVERYONE, "bmi", "smoker")
        table = fed.crosstab(EVERYONE, "smoker", "sex")
        sums = fed.crosstab(EVERYONE, "smoker", "sex", value="bmi", statistic="sum")
        histogram = fed.histogram(EVERYONE, "age", AGE_EDGES)
        cox = fed.coxph(COX, cohort=EVERYONE)
        meta = fed.meta_analysis(META, cohort=EVERYONE, family="binomial")

    data = {n: frame(site_data[n], ["age", "sex", "smoker", "bmi"]) for n in ANSWERING}
    pooled = pd.concat(data.values(), ignore_index=True)

    # summary: numpy on the pooled rows of the two nodes that answered
    assert summary.complete
    assert_left_out(summary.nodes_missing)
    assert {n.node: n.state for n in summary.nodes}["riverside"] == "refused"
    bmi = pooled["bmi"].dropna().to_numpy(dtype=float)
    assert summary.n == len(bmi)
    assert summary.mean == pytest.approx(bmi.mean(), rel=1e-12)
    assert summary.sd == pytest.approx(bmi.std(ddof=1), rel=1e-12)
    assert "riverside" in str(summary)

    # summary by smoker: each level over the nodes that answered (and released the level)
    assert by_smoker.complete and set(by_smoker.nodes) == set(ANSWERING)
    for level, group in by_smoker.groups.items():
        assert group["nodes_missing"] == ["riverside"]
        shown = group["nodes_contributing"]
        values = pd.concat([data[n] for n in shown]).query("smoker == @level")["bmi"].dropna()
        assert group["n"]["value"] == len(values), level
        assert group["mean"] == pytest.approx(values.mean(), rel=1e-12), level

    # crosstab: a cell no answering node suppressed is pandas' pooled count
    assert table.complete
    assert_left_out(table.nodes_missing)
    assert set(table.nodes) == set(ANSWERING)
    counts = pd.crosstab(pooled["smoker"], pooled["sex"])
    for cell in table.cells:
        if not cell["nodes_suppressed"]:
            assert cell["count"]["value"] == counts.loc[cell["row"], cell["column"]], cell
    assert any(not c["nodes_suppressed"] for c in table.cells)

    # magnitude crosstab: per cell the sum of bmi over the answering nodes that released it
    assert_left_out(sums.nodes_missing)
    with_bmi = {n: d.dropna(subset=["bmi", "smoker", "sex"]) for n, d in data.items()}
    for cell in sums.cells:
        shown = [n for n in ANSWERING if n not in cell["nodes_suppressed"]]
        if cell["value"] is None:
            continue
        rows = pd.concat([with_bmi[n] for n in shown])
        values = rows.loc[(rows["smoker"] == cell["row"]) & (rows["sex"] == cell["column"]), "bmi"]
        assert cell["value"] == pytest.approx(values.sum(), rel=1e-12), cell
        assert cell["count"]["value"] == len(values)

    # histogram: numpy's counts on the pooled ages
    assert_left_out(histogram.nodes_missing)
    ages = np.histogram(pooled["age"].to_numpy(dtype=float), bins=AGE_EDGES)[0]
    for cell, count in zip(histogram.cells, ages, strict=True):
        if not cell["nodes_suppressed"]:
            assert cell["count"]["value"] == count, cell

    # Cox stratified by node: statsmodels' Breslow fit on the two strata
    assert cox.ok, cox.error
    assert cox.nodes_contributing == ANSWERING
    assert_left_out(cox.nodes_left_out)
    parts = [fitted_rows(site_data[n], COX) for n in ANSWERING]
    ref = sm.PHReg(
        np.concatenate([p[1] for p in parts]),
        np.vstack([p[0][:, 1:] for p in parts]),
        status=np.concatenate([p[2] for p in parts]),
        strata=np.repeat(np.arange(len(parts)), [len(p[1]) for p in parts]),
        ties="breslow",
    ).fit()
    assert cox.names == parts[0][3][1:]
    np.testing.assert_allclose(cox.params, ref.params, rtol=1e-8)
    np.testing.assert_allclose(cox.bse, ref.bse, rtol=1e-8)

    # meta-analysis: each answering node's own statsmodels fit, combined by statsmodels
    assert meta.ok
    assert sorted(meta.nodes) == ANSWERING
    assert_left_out(meta.nodes_missing)
    own = []
    for n in ANSWERING:
        x, y, _, _ = fitted_rows(site_data[n], META)
        own.append(sm.GLM(y, x, family=sm.families.Binomial()).fit())
        np.testing.assert_allclose(meta.nodes[n]["params"], own[-1].params, rtol=1e-8)
    for j, term in enumerate(meta.terms):
        reference = combine_effects(
            np.array([o.params[j] for o in own]),
            np.array([o.bse[j] ** 2 for o in own]),
            method_re="dl",
        ).summary_frame()
        assert term["fixed"] == pytest.approx(reference.loc["fixed effect", "eff"], rel=1e-8)
    assert "riverside" in str(meta)
