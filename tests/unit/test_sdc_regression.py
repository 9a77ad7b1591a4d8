"""Regressions (duck-typed, no statsmodels), and the Checker's record of outputs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fivesafes.sdc import Checker, TableSpecError


@dataclass
class FittedModel:
    """What a fitted statsmodels result offers, as far as the checker looks."""

    nobs: float
    df_model: float
    df_resid: float
    params: pd.Series
    bse: pd.Series | None = None
    extra: dict[str, object] = field(default_factory=dict)


def ols(n: int, k: int) -> FittedModel:
    """Least squares on synthetic data with an intercept and k - 1 covariates."""
    rng = np.random.default_rng(n)
    x = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1))])
    y = x @ np.arange(1, k + 1) + rng.normal(size=n)
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    names = ["const"] + [f"x{i}" for i in range(1, k)]
    resid = y - x @ beta
    sigma2 = resid @ resid / max(n - k, 1)
    bse = np.sqrt(np.diag(sigma2 * np.linalg.pinv(x.T @ x)))
    return FittedModel(n, k - 1, n - k, pd.Series(beta, index=names), pd.Series(bse, index=names))


@pytest.mark.parametrize(
    ("n", "params", "df_resid", "separation", "verdict", "rules"),
    [
        (100, {"a": 1.0, "b": 2.0}, None, False, "pass", []),
        (12, {"a": 1.0, "b": 2.0}, None, False, "pass", []),  # df_resid 10, not < 10
        (11, {"a": 1.0, "b": 2.0}, None, False, "fail", ["dof"]),  # df_resid 9
        (2, {"a": 1.0, "b": 2.0}, None, False, "fail", ["saturated"]),
        (100, {"a": 1.0, "b": 2.0}, 5, False, "fail", ["dof"]),
        (100, {"a": 1.0, "b": 2.0}, None, True, "fail", ["separation"]),
        (100, {"a": 1.0, "b": float("inf")}, None, False, "fail", ["separation"]),
    ],
)
def test_counts_dict_spec(n, params, df_resid, separation, verdict, rules):
    counts = {"n": n, "params": params, "separation": separation}
    if df_resid is not None:
        counts["df_resid"] = df_resid
    out = Checker().regression(counts)
    assert out.verdict == verdict
    assert [f.finding.rule for f in out.findings] == rules
    assert out.table.isna().all().all() == bool(rules)


def test_a_fitted_model_passes_and_releases_its_estimates():
    model = ols(200, 3)
    out = Checker().regression(model)
    assert out.verdict == "pass"
    assert list(out.table.columns) == ["coef", "std_err"]
    assert out.table["coef"].to_numpy(dtype=float) == pytest.approx(model.params.to_numpy())


def test_a_model_short_of_residual_dof_is_refused_and_carries_no_estimate():
    model = ols(12, 4)  # df_resid 8 < 10
    out = Checker().regression(model)
    assert out.verdict == "fail"
    assert out.table.isna().all().all()
    assert (out.reasons == "dof").all().all()
    text = out.report() + json.dumps(out.report_dict()) + out.table.to_csv()
    for value in model.params:
        assert f"{value:.4f}"[:6] not in text


def test_a_saturated_model_is_refused():
    model = ols(4, 4)
    out = Checker().regression(model)
    assert [f.finding.rule for f in out.findings] == ["saturated"]
    assert out.verdict == "fail"


def test_separation_flag_on_a_model_object_is_refused():
    model = ols(200, 3)
    flagged = types.SimpleNamespace(**vars(model), separation=True)
    assert Checker().regression(flagged).verdict == "fail"


def test_glm_ratio_of_datashield():
    # 0.33: 4 parameters need at least 13 observations (4 / 12 = 0.333 > 0.33)
    assert Checker("datashield").regression({"n": 12, "params": [1, 2, 3, 4]}).verdict == "fail"
    assert Checker("datashield").regression({"n": 13, "params": [1, 2, 3, 4]}).verdict == "pass"


def test_no_statsmodels_is_imported():
    """In a fresh interpreter: checking a model never needs statsmodels (other tests in this
    process import it as their reference)."""
    code = (
        "import sys\n"
        "from fivesafes.sdc import Checker\n"
        "Checker().regression({'n': 50, 'params': [1.0, 2.0]})\n"
        "assert 'statsmodels' not in sys.modules, 'statsmodels was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "bad", [{"params": [1.0]}, {"n": 10}, object(), types.SimpleNamespace(nobs=10, params=[1])]
)
def test_usage_errors_are_typed(bad):
    with pytest.raises(TableSpecError):
        Checker().regression(bad)


def test_an_unreadable_model_fails_closed():
    weird = types.SimpleNamespace(nobs="many", df_model=1, df_resid=20, params=[1.0])
    out = Checker().regression(weird)
    assert out.verdict == "fail"
    assert out.errors == ("check-error: regression raised ValueError",)


def test_an_exception_inside_the_check_fails_closed(monkeypatch):
    import fivesafes.sdc.regression as regression

    def broken(*args):
        raise RuntimeError("coef 3.14159")

    monkeypatch.setattr(regression, "findings_of", broken)
    out = Checker().regression(ols(200, 3))
    assert out.verdict == "fail"
    assert out.table.isna().all().all()
    assert out.errors == ("check-error: regression raised RuntimeError",)
    assert "3.14" not in out.report()


# The Checker's record of what it returned, and finalise.


def test_every_output_is_recorded_with_a_name():
    checker = Checker("datashield")
    df = pd.DataFrame({"person_id": range(30), "age": [25.0] * 30, "g": ["a", "b"] * 15})
    first = checker.crosstab(df, index="g", columns="age")
    checker.pivot_table(df, index="g", values="age", aggfunc="mean", name="ages")
    checker.hist(df, "age", bins=3)
    checker.regression({"n": 30, "params": [1.0]}, name="model")
    assert [name for name, _ in checker.outputs] == ["output_0", "ages", "output_2", "model"]
    assert checker.outputs[0][1] is first
    assert isinstance(checker.outputs, tuple)
    with pytest.raises(TableSpecError, match="already recorded"):
        checker.regression({"n": 30, "params": [1.0]}, name="model")


def test_two_checkers_keep_separate_records():
    a, b = Checker(), Checker()
    a.regression({"n": 30, "params": [1.0]})
    assert len(a.outputs) == 1 and b.outputs == ()


def test_finalise_hands_every_output_to_write_results(monkeypatch, tmp_path):
    seen = {}

    def write_results(outputs, path):
        seen["outputs"], seen["path"] = outputs, path
        return path / "results.json"

    module = types.ModuleType("fivesafes.sdc.results")
    module.write_results = write_results  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fivesafes.sdc.results", module)
    checker = Checker()
    checker.regression({"n": 30, "params": [1.0]}, name="m")
    assert checker.finalise(str(tmp_path)) == tmp_path / "results.json"
    assert seen["path"] == Path(tmp_path)
    assert [name for name, _ in seen["outputs"]] == ["m"]


def test_finalise_writes_every_output_type_without_a_suppressed_value(tmp_path):
    pytest.importorskip("fivesafes.sdc.results")
    checker = Checker()
    ages = [5.0] * 3 + [15.0] * 41 + [25.0] * 57  # 3, 41 and 57 are suppressed below
    df = pd.DataFrame({"person_id": range(len(ages)), "age": ages})
    df["t"], df["died"] = range(1, len(ages) + 1), 1
    checker.hist(df, "age", bins=[0, 10, 20, 30], name="ages")
    checker.survival_table(df, time="t", event="died", name="survival")
    checker.regression(ols(12, 4), name="small_model")
    results = checker.finalise(tmp_path / "out")
    document = json.loads(results.read_text())
    assert set(document["results"]) == {"ages", "survival", "small_model"}
    assert document["results"]["ages"]["status"] == "fail"
    assert document["results"]["survival"]["status"] == "pass"
    ages_csv = (tmp_path / "out" / "ages_0.csv").read_text()
    assert "41" not in ages_csv and ",3\n" not in ages_csv
    model_csv = (tmp_path / "out" / "small_model_0.csv").read_text()
    assert not re.search(r"\d\.\d", model_csv)  # no estimate, only the parameter names
