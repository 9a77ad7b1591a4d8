"""The Checker as a researcher uses it: verdicts, report, fail-closed behaviour, API errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from fivesafes.sdc import Checker, TableSpecError, get_profile
from fivesafes.sdc.rules.threshold import ThresholdRule

SECRET = 3  # the true count of the one small cell; it must never appear in any report


def cohort() -> pd.DataFrame:
    counts = {
        ("a", "f"): SECRET,
        ("a", "m"): 21,
        ("a", "x"): 33,
        ("b", "f"): 47,
        ("b", "m"): 52,
        ("b", "x"): 68,
    }
    return pd.DataFrame(
        [
            {"region": r, "sex": c, "person_id": f"{r}{c}{k}", "cost": 1000.0 + 7 * k}
            for (r, c), n in counts.items()
            for k in range(n)
        ]
    )


def test_a_clean_table_passes_and_is_released_rounded():
    df = cohort()
    df = df[~((df.region == "a") & (df.sex == "f"))]
    out = Checker().crosstab(df, index="region", columns="sex")
    assert out.verdict == "pass"
    assert out.table.loc["a", "m"] == 20
    assert (out.reasons == "").all().all()
    assert "no cell flagged" in out.report()


def test_report_names_cells_rules_and_reasons_but_no_true_values():
    out = Checker().crosstab(cohort(), index="region", columns="sex")
    text = out.report()
    assert out.verdict == "fail"
    assert "[a, f] threshold → suppress: fewer than 10 distinct persons" in text
    assert "[a, m] secondary → suppress" in text
    data = out.report_dict()
    assert data["verdict"] == "fail"
    assert {(c["row"][0], c["column"][0], c["rule"]) for c in data["cells"]} == {
        ("a", "f", "threshold"),
        ("a", "m", "secondary"),
        ("b", "f", "secondary"),
        ("b", "m", "secondary"),
    }
    for true_value in ("3", "21", "47", "52"):
        assert true_value not in json.dumps(data)
        assert true_value not in text


def test_magnitude_report_carries_no_values():
    out = Checker().pivot_table(
        cohort(), index="region", columns="sex", values="cost", aggfunc="sum"
    )
    text = out.report() + json.dumps(out.report_dict())
    assert "1000" not in text and "1007" not in text
    assert out.verdict == "fail"


def test_an_exception_inside_a_rule_fails_the_output(monkeypatch, caplog):
    def broken(self, cell, kind, aggfunc, profile):
        raise RuntimeError(f"boom with a patient value {cell.persons}")

    monkeypatch.setattr(ThresholdRule, "check", broken)
    df = cohort()
    df = df[df.region == "b"]  # a table that would otherwise pass
    out = Checker().crosstab(df, index="region", columns="sex")
    assert out.verdict == "fail"
    assert out.table.isna().all().all()
    assert out.errors == ("check-error: threshold raised RuntimeError",)
    assert "check-error: threshold raised RuntimeError" in out.report()
    assert "patient value" not in out.report()
    assert "patient value" not in caplog.text


def test_an_exception_in_secondary_suppression_also_fails(monkeypatch):
    import fivesafes.sdc.checker as checker_module

    def broken(primary, weights):
        raise ValueError("nope")

    monkeypatch.setattr(checker_module, "secondary_suppression", broken)
    out = Checker().crosstab(cohort(), index="region", columns="sex")
    assert out.verdict == "fail"
    assert out.errors == ("check-error: secondary raised ValueError",)
    assert out.table.isna().all().all()


def test_negative_values_give_review_with_the_table():
    df = cohort()
    df = df[df.region == "b"].assign(cost=lambda d: d.cost.where(d.index % 5 != 0, -10.0))
    out = Checker("datashield").pivot_table(
        df, index="region", columns="sex", values="cost", aggfunc="mean"
    )
    assert out.verdict == "review"
    assert set(out.reasons.to_numpy().ravel()) == {"negative"}
    assert not out.table.isna().any().any()


def test_pivot_table_without_columns_and_with_two_index_levels():
    df = cohort()
    out = Checker("datashield").pivot_table(
        df, index=["region", "sex"], values="cost", aggfunc="median"
    )
    assert out.verdict == "pass"
    assert list(out.table.columns) == ["median"]
    assert out.table.index.names == ["region", "sex"]
    assert out.table.loc[("a", "f"), "median"] == 1007.0


def test_multi_level_columns_with_margins():
    df = cohort().query("region == 'b'").assign(band=lambda d: d.index % 2)
    out = Checker("datashield").crosstab(df, index="region", columns=["sex", "band"], margins=True)
    assert out.verdict == "pass"
    assert out.table.loc["All", ("All", "")] == len(df)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"index": "nope", "columns": "sex"},
        {"index": "region", "columns": "sex", "values": "region", "aggfunc": "mean"},
        {"index": "region", "columns": "sex", "values": "cost", "aggfunc": "prod"},
        {"index": "region", "columns": "sex", "values": "cost", "aggfunc": ["mean", "prod"]},
        {"index": "region", "columns": "sex", "values": "cost", "aggfunc": ["mean", "mean"]},
        {"index": "region", "columns": "sex", "values": "cost", "aggfunc": []},
        {"index": "region", "columns": "sex", "values": "cost", "aggfunc": sum},
        {"index": "region", "columns": "sex", "values": "cost", "aggfunc": {"cost": "sum"}},
        {"index": "region", "columns": "sex", "values": "cost"},
        {"index": "region", "columns": "sex", "aggfunc": "mean"},
        {"index": "region", "columns": "sex", "values": "cost", "aggfunc": "mean", "margins": True},
        {"index": "region", "columns": "sex", "person": "patient"},
    ],
)
def test_usage_errors_are_typed_and_name_no_values(kwargs):
    with pytest.raises(TableSpecError) as err:
        Checker().crosstab(cohort(), **kwargs)
    assert "1000" not in str(err.value)


def test_an_exception_while_building_the_table_fails_the_output(monkeypatch):
    import fivesafes.sdc.checker as checker_module

    def broken(*args, **kwargs):
        raise KeyError("p17 has 3 visits")

    monkeypatch.setattr(checker_module, "build_table", broken)
    out = Checker().pivot_table(cohort(), index="region", values="cost", aggfunc="mean")
    assert out.verdict == "fail"
    assert out.table.empty
    assert out.errors == ("check-error: table raised KeyError",)
    assert "p17" not in out.report()


@pytest.mark.parametrize("aggfunc", ["mean", "sum", "median", "std", "count"])
def test_released_statistics_match_pandas_when_nothing_is_suppressed(aggfunc):
    df = cohort().query("region == 'b'")
    out = Checker("datashield").pivot_table(
        df, index="region", columns="sex", values="cost", aggfunc=aggfunc
    )
    expected = pd.pivot_table(df, index="region", columns="sex", values="cost", aggfunc=aggfunc)
    assert out.verdict == "pass"
    assert list(out.table.index) == list(expected.index)
    assert list(out.table.columns) == list(expected.columns)
    assert out.table.to_numpy(dtype=float) == pytest.approx(expected.to_numpy(dtype=float))


def test_disposition_says_what_was_done_and_what_remains():
    out = Checker().crosstab(cohort(), index="region", columns="sex")
    disposition = out.disposition()
    assert disposition.state == "suppressed"
    assert disposition.done() == (
        "suppressed 4 of 6 cells (threshold 1, secondary 3); rounded counts to base 10"
    )
    assert disposition.remains().startswith("no flagged cell is released")


def test_a_review_finding_on_a_suppressed_cell_does_not_remain():
    df = cohort()
    df["cost"] = df["cost"].where(~((df.region == "a") & (df.sex == "f")), -5.0)
    out = Checker("datashield").pivot_table(
        df, index="region", columns="sex", values="cost", aggfunc="sum"
    )
    assert "negative" in out.reasons.loc["a", "f"]  # 3 persons, threshold 3: kept, then…
    tight = Checker(get_profile("datashield").tightened(threshold=4)).pivot_table(
        df, index="region", columns="sex", values="cost", aggfunc="sum"
    )
    assert tight.reasons.loc["a", "f"] == "threshold; negative"
    assert tight.disposition().review == {}
    assert tight.disposition().state == "suppressed"
    assert out.disposition().state == "review"
