"""Histograms: numpy's bin counts, edges that reveal no value, tail zeros, fail closed."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fivesafes.sdc import Checker, TableSpecError
from fivesafes.sdc.histogram import bin_index, nice_step, widened_edges


def people(values: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"person_id": [f"p{i}" for i in range(len(values))], "age": values})


def allowing_min_max():
    return Checker("datashield").profile.model_copy(update={"allow_min_max": True})


def test_counts_match_numpy_and_the_last_edge_is_counted():
    # ACRO 1.0.2 undercounted the last bin: a value on the top edge must be in it.
    # Only possible when the top edge is the maximum, so under a profile allowing min/max.
    values = [0.0] * 12 + [5.0] * 11 + [10.0] * 13
    out = Checker(allowing_min_max()).hist(people(values), "age", bins=[0, 5, 10])
    expected, _ = np.histogram(values, bins=[0, 5, 10])
    assert list(out.table.index) == ["[0, 5)", "[5, 10]"]
    assert list(out.table["count"]) == list(expected) == [12, 24]
    assert out.table["count"].sum() == len(values)


def test_bin_index_follows_numpy_on_random_data():
    rng = np.random.default_rng(7)
    values = np.round(rng.normal(50, 10, 500))
    edges = np.array([20.0, 40.0, 45.0, 50.0, 60.0, values.max()])
    idx = bin_index(values, edges)
    counts = np.bincount(idx[idx >= 0], minlength=len(edges) - 1)
    assert list(counts) == list(np.histogram(values, bins=edges)[0])


@pytest.mark.parametrize(
    ("width", "step"), [(7.1, 10.0), (1.0, 1.0), (0.23, 0.5), (13.0, 20.0), (180.0, 200.0)]
)
def test_nice_steps(width, step):
    assert nice_step(width) == pytest.approx(step)


@pytest.mark.parametrize(("low", "high"), [(18.0, 89.0), (20.0, 90.0), (0.3, 0.7), (-5.0, 5.0)])
def test_widened_edges_are_strictly_outside_the_data(low, high):
    edges = widened_edges(low, high, 7)
    assert edges[0] < low and edges[-1] > high
    assert np.allclose(np.diff(edges), np.diff(edges)[0])


def test_integer_bins_never_put_an_edge_on_the_minimum_or_maximum():
    values = [18.0] + [30.0] * 20 + [50.0] * 20 + [89.0]
    out = Checker("datashield").hist(people(values), "age", bins=7)
    labels = " ".join(out.table.index)
    assert "18" not in labels and "89" not in labels
    # range 71 / 7 bins = 10.1 -> step 20: edges 0, 20, ..., 100
    assert list(out.table.index) == ["[0, 20)", "[20, 40)", "[40, 60)", "[60, 80)", "[80, 100]"]
    assert out.reasons["count"].tolist() == ["threshold", "", "", "", "threshold"]


def test_an_integer_minimum_on_a_multiple_of_the_step_gets_an_empty_bin_below_it():
    values = [20.0] * 15 + [90.0] * 15
    out = Checker("datashield").hist(people(values), "age", bins=7)
    assert out.table.index[0] == "[10, 20)"
    assert out.table["count"].iloc[0] == 0
    assert out.verdict == "pass"


def test_with_allow_min_max_integer_bins_are_numpy_s():
    values = [0.0] * 10 + [10.0] * 10
    out = Checker(allowing_min_max()).hist(people(values), "age", bins=2)
    assert list(out.table.index) == ["[0, 5)", "[5, 10]"]
    assert out.verdict == "pass"


def test_explicit_outer_edges_on_the_data_extremes_are_refused():
    values = [18.0] + [30.0] * 20 + [89.0]
    out = Checker("datashield").hist(people(values), "age", bins=[18, 50, 89])
    assert out.verdict == "fail"
    assert out.table.empty
    assert {f.finding.rule for f in out.findings} == {"min-max"}
    assert "[lower edge, edge] min-max → suppress" in out.report()


def test_empty_tail_bins_are_released_as_zero_and_do_not_fail():
    # acro: zeros are disclosive, yet empty tail bins are not a failure in themselves
    values = [25.0] * 12 + [35.0] * 15
    out = Checker("acro").hist(people(values), "age", bins=[0, 10, 20, 30, 40, 50, 60])
    assert out.verdict == "pass"
    assert list(out.table["count"]) == [0, 0, 12, 15, 0, 0]


def test_an_empty_inner_bin_follows_the_zeros_rule():
    values = [5.0] * 12 + [25.0] * 15
    out = Checker("acro").hist(people(values), "age", bins=[0, 10, 20, 30])
    assert out.verdict == "fail"
    assert out.reasons.loc["[10, 20)", "count"] == "zeros"


def test_a_small_bin_is_suppressed_with_a_secondary_and_no_true_value_leaks():
    values = [5.0] * 3 + [15.0] * 41 + [25.0] * 57
    out = Checker().hist(people(values), "age", bins=[0, 10, 20, 30])
    assert out.verdict == "fail"
    assert out.table["count"].isna().tolist() == [True, True, False]
    assert out.reasons["count"].tolist() == ["threshold", "secondary", ""]
    assert out.table.loc["[20, 30]", "count"] == 60  # rounded to 10
    text = out.report() + json.dumps(out.report_dict())
    for true_value in ("3", "41", "57"):
        assert true_value not in text


def test_threshold_counts_distinct_persons_not_records():
    df = pd.DataFrame({"person_id": ["a"] * 12 + [f"q{i}" for i in range(12)], "age": 25.0})
    df.loc[:11, "age"] = 5.0  # twelve records of one person in the first bin
    out = Checker("datashield").hist(df, "age", bins=[0, 10, 30])
    assert out.reasons.loc["[0, 10)", "count"] == "threshold"


def test_records_outside_explicit_edges_ask_for_review():
    values = [5.0] * 12 + [15.0] * 12 + [99.0] * 12
    out = Checker("datashield").hist(people(values), "age", bins=[0, 10, 20])
    assert out.verdict == "review"
    assert [f.finding.rule for f in out.findings] == ["outside-edges"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"column": "nope"},
        {"column": "age", "bins": 0},
        {"column": "age", "bins": True},
        {"column": "age", "bins": [0, float("inf")]},
        {"column": "age", "bins": [10]},
        {"column": "age", "bins": [10, 5]},
        {"column": "age", "person": "patient"},
    ],
)
def test_usage_errors_are_typed(kwargs):
    with pytest.raises(TableSpecError):
        Checker().hist(people([1.0] * 20), **kwargs)


def test_an_exception_inside_a_rule_fails_the_whole_histogram(monkeypatch):
    from fivesafes.sdc.rules.threshold import ThresholdRule

    def broken(self, cell, kind, aggfunc, profile):
        raise RuntimeError(f"patient value {cell.persons}")

    monkeypatch.setattr(ThresholdRule, "check", broken)
    out = Checker("acro").hist(people([25.0] * 30), "age", bins=[0, 10, 20, 30, 40])
    assert out.verdict == "fail"
    assert out.table["count"].isna().all()  # tail zeros are withheld too
    assert out.errors == ("check-error: threshold raised RuntimeError",)
    assert "patient value" not in out.report()


def test_an_exception_while_binning_fails_closed(monkeypatch):
    import fivesafes.sdc.histogram as histogram

    def broken(values, edges):
        raise IndexError("value 42")

    monkeypatch.setattr(histogram, "bin_index", broken)
    out = Checker().hist(people([25.0] * 30), "age", bins=3)
    assert out.verdict == "fail"
    assert out.table.empty
    assert out.errors == ("check-error: histogram raised IndexError",)
    assert "42" not in out.report()


def test_numpy_integers_are_a_number_of_bins():
    out = Checker("datashield").hist(people([25.0] * 30), "age", bins=np.int64(3))
    assert out.verdict == "pass"


def test_new_rules_are_documented():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "disclosure-control.md").read_text()
    for rule in ("outside-edges", "saturated", "dof", "separation", "glm-ratio", "min-max"):
        assert f"`{rule}`" in text, f"rule {rule} undocumented"
    for section in ("## Histograms", "## Survival tables", "## Regressions"):
        assert section in text


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@given(st.lists(finite, min_size=1, max_size=60), st.lists(finite, min_size=2, max_size=8))
def test_bin_counts_always_equal_numpy_s(values, edges):
    edges = np.unique(np.asarray(edges))
    if len(edges) < 2:
        return
    data = np.asarray(values)
    idx = bin_index(data, edges)
    counts = np.bincount(idx[idx >= 0], minlength=len(edges) - 1)
    assert list(counts) == list(np.histogram(data, bins=edges)[0])


@given(st.lists(finite, min_size=1, max_size=60), st.integers(1, 20))
def test_widened_edges_always_enclose_the_data_strictly(values, bins):
    low, high = min(values), max(values)
    edges = widened_edges(low, high, bins)
    assert edges[0] < low and edges[-1] > high
    assert np.all(np.diff(edges) > 0)
