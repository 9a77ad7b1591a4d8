"""Figures in the tables a result prints for a person are rounded to what they support
(``fivesafes.analyses.results.figures``); the result's fields, its ``to_frame()`` and so its
JSON keep every digit."""

from __future__ import annotations

import dataclasses
import math

import pytest

from fivesafes.analyses.correlation.result import CorrelationResult
from fivesafes.analyses.cox.result import CoxResult
from fivesafes.analyses.meta.result import MetaResult
from fivesafes.analyses.results import figures as fig
from fivesafes.analyses.results.page import number
from fivesafes.analyses.summary.result import NodeSummary, SummaryResult
from fivesafes.client.results import GLMResult

# | value        | estimate   | statistic | correlation |
FIGURES = [
    (0.0523456, "0.0523", "0.05", "0.052"),
    (1.23456, "1.23", "1.23", "1.235"),
    (-3.14159, "-3.14", "-3.14", "-3.142"),
    (9.996, "10.0", "10.00", "9.996"),
    (67.4531, "67.5", "67.45", "67.453"),
    (1234.56, "1235", "1234.56", "1234.560"),
    (0.00041234, "0.000412", "0.00", "0.000"),
    (1.2345e-12, "1.23e-12", "0.00", "0.000"),
    (0.0, "0", "0.00", "0.000"),
    (None, "—", "—", "—"),
    (math.nan, "—", "—", "—"),
]


@pytest.mark.parametrize(("value", "estimate", "statistic", "r"), FIGURES)
def test_each_kind_of_figure_is_printed_to_its_precision(value, estimate, statistic, r):
    assert fig.estimate(value) == estimate
    assert fig.statistic(value) == statistic
    assert fig.correlation(value) == r


def test_a_p_value_is_printed_to_three_decimals_or_as_under_one_in_a_thousand():
    shown = [fig.p_value(p) for p in (0.0234, 0.001, 0.00099, 1e-300, 0.0, 1.0, None)]
    assert shown == ["0.023", "0.001", "<0.001", "<0.001", "<0.001", "1.000", "—"]


def glm() -> GLMResult:
    return GLMResult(
        task_id="t",
        complete=True,
        formula="lung_cancer ~ age + smoker",
        family="binomial",
        names=["Intercept", "age", "smoker[T.current]"],
        params=[-5.123456789, 0.0523456789, 1.98765432],
        bse=[0.31234567, 0.0041234567, 0.123456789],
        z=[-16.4032, 12.6947, 16.1],
        pvalues=[1.9e-60, 6.3e-37, 0.0234567],
        conf_int=[[-5.7356, -4.5113], [0.04426, 0.06042], [1.7457, 2.2296]],
        deviance=4321.123456,
        llf=-2160.56,
        aic=4329.123456,
        nobs=12345,
        df_resid=12341,
        iterations=6,
        rounds=7,
        error=None,
        nodes_contributing=["lakeside", "northfield"],
        nodes_left_out={},
    )


def rows(text: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.strip()}


def test_a_glm_table_rounds_its_figures_and_its_fields_keep_them():
    result = glm()
    text = str(result)
    assert rows(text)["age"] == ["0.0523", "0.00412", "12.69", "<0.001", "0.0443", "0.0604"]
    assert rows(text)["smoker[T.current]"] == ["1.99", "0.123", "16.10", "0.023", "1.75", "2.23"]
    assert "deviance: 4321; AIC: 4329" in text
    assert "0.0000" not in text and "0.000 " not in text  # no tiny p read as zero
    frame = result.to_frame()
    assert frame.loc["age", "coef"] == 0.0523456789  # the frame (and JSON) keep every digit
    assert frame.loc["age", "P>|z|"] == 6.3e-37
    assert dataclasses.asdict(result)["params"][1] == 0.0523456789


def test_a_cox_table_rounds_hazard_ratios_and_their_interval():
    result = CoxResult(
        task_id="t",
        complete=True,
        formula="time_to_lung_cancer ~ age + smoker",
        names=["age", "smoker[T.current]"],
        params=[0.0312345, 0.9876543],
        hazard_ratios=[math.exp(0.0312345), math.exp(0.9876543)],
        bse=[0.00512345, 0.1123456],
        z=[6.0964, 8.7912],
        pvalues=[1.1e-9, 0.0004999],
        conf_int=[[0.0211926, 0.0412764], [0.7674612, 1.2078474]],
        loglik=-10234.56789,
        n=5000,
        events=321,
        iterations=5,
        rounds=6,
        error=None,
        nodes_contributing=["lakeside", "northfield"],
        nodes_left_out={},
    )
    text = str(result)
    assert rows(text)["age"] == ["0.0312", "1.03", "0.00512", "6.10", "<0.001", "1.02-1.04"]
    smoker = ["0.988", "2.68", "0.112", "8.79", "<0.001", "2.15-3.35"]
    assert rows(text)["smoker[T.current]"] == smoker
    assert "log partial likelihood: -10235" in text
    assert result.to_frame().loc["age", "coef"] == 0.0312345


def test_a_meta_analysis_table_rounds_its_figures():
    term = {
        "term": "smoker",
        "fixed": 0.8523456,
        "fixed_se": 0.0712345,
        "random": 0.8612345,
        "random_se": 0.1023456,
        "tau2": 0.0123456,
        "i2": 0.4567,
    }
    result = MetaResult("t", True, ["smoker"], [term], {"a": {}, "b": {}}, {}, None)
    assert rows(str(result))["smoker"] == ["0.852", "0.0712", "0.861", "0.102", "0.0123", "46%"]
    assert result.to_frame().loc["smoker", "fixed"] == 0.8523456


def test_a_correlation_prints_r_to_three_decimals():
    pair = {"row": "age", "column": "bmi", "r": 0.41234567, "n": 12345}
    result = CorrelationResult("t", True, ["age", "bmi"], "pairwise", [pair], ["a"], {})
    assert "age ~ bmi:  0.412  (n=12,345)" in str(result)
    assert result.r("age", "bmi") == 0.41234567


def test_a_summary_prints_its_mean_and_sd_to_three_significant_figures():
    node = NodeSummary("a", "succeeded", 240, 67.45312, 11.81234, "pass", [], None, None, 20)
    result = SummaryResult("t", True, "age", [node], 240, 67.45312, 11.81234, missing=20)
    assert rows(str(result))["POOLED"][:4] == ["240", "20", "67.5", "11.8"]
    assert rows(str(result))["a"][:4] == ["240", "20", "67.5", "11.8"]
    assert result.to_frame().iloc[-1]["mean"] == 67.45312


def test_the_pages_figures_are_as_before():
    """The portal's page (and so its CSV) keeps its own figures: four decimals."""
    assert number(0.0523456789) == "0.0523" and number(1.98765432) == "1.9877"
    assert number(6.3e-37) == "6.30e-37"
