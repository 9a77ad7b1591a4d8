"""A federated GLM across real hub and node processes, against statsmodels on the pooled rows.

The pooled rows are each node's analysis frame (built by the platform's variable builder,
which tests/unit/test_formula_and_variables.py checks against plain SQL) stacked in one
DataFrame; the fit over the network must equal statsmodels' to 1e-8."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from lifelines import CoxPHFitter
from statsmodels.stats.meta_analysis import combine_effects

from fivesafes.analyses.formula import design, parse_formula
from fivesafes.analyses.variables import analysis_frame
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource
from fivesafes.demo.processes import fivesafes_command

EVERYONE = {"name": "everyone", "index": {"type": "fixed", "date": "2020-01-01"}}
FORMULA = "lung_cancer ~ age + sex + smoker + bmi"


def duck(path) -> dict:
    return {"engine": "duckdb", "path": str(path)}


def pooled(site_paths, formula: str):
    parsed = parse_formula(formula)
    xs, ys = [], []
    for path in site_paths:
        with open_omop(DuckDBSource(engine="duckdb", path=path)) as db:
            frame = analysis_frame(db, Cohort.model_validate(EVERYONE), parsed.variables)
        built = design(frame.columns, parsed)
        xs.append(built.x)
        ys.append(built.y)
    return np.vstack(xs), np.concatenate(ys), built.columns


def test_logistic_regression_over_three_nodes_equals_the_pooled_statsmodels_fit(harness, site_data):
    with harness.every_site(site_data) as fed:
        result = fed.glm(FORMULA, cohort=EVERYONE, family="binomial", timeout=120)
    assert result.ok, result.error
    x, y, names = pooled([site_data[n] for n in sorted(site_data)], FORMULA)
    ref = sm.GLM(y, x, family=sm.families.Binomial()).fit()
    assert result.names == list(names)
    np.testing.assert_allclose(result.params, ref.params, rtol=1e-8)
    np.testing.assert_allclose(result.bse, ref.bse, rtol=1e-8)
    np.testing.assert_allclose(result.conf_int, ref.conf_int(), rtol=1e-8)
    assert result.aic == pytest.approx(ref.aic, rel=1e-8)
    assert result.iterations == ref.fit_history["iteration"]
    assert result.nobs == len(y)
    assert result.nodes_contributing == sorted(site_data)
    assert "smoker[T.current]" in str(result)


def test_a_node_that_refuses_is_left_out_and_named(harness, site_data):
    """riverside holds the fit to a stricter gate than its data allow (its own config), so it
    refuses at round 0; the fit goes on with the other two and says so."""
    harness.start_hub()
    names = sorted(site_data)
    for name in names:
        threshold = 100_000 if name == "riverside" else None
        harness.add_node(name, duck(site_data[name]), threshold=threshold)
    token = harness.researcher()
    project = harness.project(["alice"], names)
    with harness.federation(token, project) as fed:
        result = fed.glm(FORMULA, cohort=EVERYONE, family="binomial", timeout=120)
    assert result.ok, result.error
    assert result.nodes_contributing == ["lakeside", "northfield"]
    assert list(result.nodes_left_out) == ["riverside"]
    assert "disclosure check" in result.nodes_left_out["riverside"]
    x, y, _ = pooled([site_data["lakeside"], site_data["northfield"]], FORMULA)
    ref = sm.GLM(y, x, family=sm.families.Binomial()).fit()
    np.testing.assert_allclose(result.params, ref.params, rtol=1e-8)


def test_the_cli_fits_the_same_model(harness, site_data, tmp_path):
    harness.start_hub()
    for name, path in site_data.items():
        harness.add_node(name, duck(path))
    token = harness.researcher()
    project = harness.project(["alice"], list(site_data))
    connection = tmp_path / "connection.json"
    connection.write_text(
        json.dumps({"hub_url": harness.hub_url, "token": token, "project": project})
    )
    cohort = tmp_path / "everyone.json"
    cohort.write_text(json.dumps(EVERYONE))
    common = ["--cohort", str(cohort), "--connection", str(connection)]
    fitted = subprocess.run(
        fivesafes_command(
            "analyse", "glm", "--formula", FORMULA, "--family", "binomial", *common, "--json"
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert fitted.returncode == 0, fitted.stderr
    document = json.loads(fitted.stdout)
    x, y, _ = pooled([site_data[n] for n in sorted(site_data)], FORMULA)
    ref = sm.GLM(y, x, family=sm.families.Binomial()).fit()
    np.testing.assert_allclose(document["params"], ref.params, rtol=1e-8)
    bad = subprocess.run(
        fivesafes_command("analyse", "glm", "--formula", "outcome ~ age", *common),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "not a known variable" in bad.stderr
    assert "Traceback" not in bad.stderr


COX = "time_to_lung_cancer ~ age + sex + smoker"


def test_a_cox_model_stratified_by_node_equals_lifelines_on_the_pooled_rows(harness, site_data):
    with harness.every_site(site_data) as fed:
        result = fed.coxph(COX, cohort=EVERYONE, timeout=120)
    assert result.ok, result.error
    parsed = parse_formula(COX)
    frames = []
    for name in sorted(site_data):
        with open_omop(DuckDBSource(engine="duckdb", path=site_data[name])) as db:
            frame = analysis_frame(db, Cohort.model_validate(EVERYONE), parsed.variables)
        built = design(frame.columns, parsed)
        part = pd.DataFrame(built.x[:, 1:], columns=list(built.columns[1:]))
        part["T"] = built.y
        part["E"] = frame.columns["time_to_lung_cancer_event"][built.used]
        part["node"] = name
        frames.append(part)
    pooled_rows = pd.concat(frames, ignore_index=True)
    ref = CoxPHFitter().fit(
        pooled_rows, "T", "E", strata=["node"], fit_options={"precision": 1e-12}
    )
    if pooled_rows[pooled_rows["E"] == 1].duplicated(["T", "node"]).any():  # ties: Breslow
        ref_params = (
            sm.PHReg(
                pooled_rows["T"],
                pooled_rows[list(built.columns[1:])],
                status=pooled_rows["E"],
                strata=pooled_rows["node"],
                ties="breslow",
            )
            .fit()
            .params
        )
    else:
        ref_params = ref.params_.to_numpy()
    assert result.names == list(built.columns[1:])
    np.testing.assert_allclose(result.params, ref_params, rtol=1e-6)
    assert result.events == int(pooled_rows["E"].sum())
    assert "HR 95% CI" in str(result)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # statsmodels' negative DL tau², see meta
def test_a_meta_analysis_of_each_nodes_own_fit(harness, site_data):
    harness.start_hub()
    for name, path in site_data.items():
        harness.add_node(name, duck(path))
    token = harness.researcher()
    project = harness.project(["alice"], list(site_data))
    formula = "lung_cancer ~ age + smoker"
    with harness.federation(token, project) as fed:
        result = fed.meta_analysis(formula, cohort=EVERYONE, family="binomial", timeout=120)
    assert result.ok, result.error
    per_node = []
    for name in sorted(site_data):
        x, y, names = pooled([site_data[name]], formula)
        own = sm.GLM(y, x, family=sm.families.Binomial()).fit()
        np.testing.assert_allclose(result.nodes[name]["params"], own.params, rtol=1e-8)
        per_node.append(own)
    for j, name in enumerate(names):
        term = result.terms[j]
        reference = combine_effects(
            np.array([o.params[j] for o in per_node]),
            np.array([o.bse[j] ** 2 for o in per_node]),
            method_re="dl",
        )
        frame = reference.summary_frame()
        assert term["term"] == name
        assert term["fixed"] == pytest.approx(frame.loc["fixed effect", "eff"], rel=1e-8)
        if reference.q >= len(per_node) - 1:  # statsmodels does not truncate tau² at 0
            assert term["random"] == pytest.approx(frame.loc["random effect", "eff"], rel=1e-8)
        else:
            assert (term["tau2"], term["random"]) == (0.0, term["fixed"])
    assert "I²" in str(result)
