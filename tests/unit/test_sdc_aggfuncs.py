"""Spec: ``aggfunc`` as a list of statistics, and ``mode`` (unit).

A list gives one table with a column level per statistic; each statistic's part is judged cell
by cell under its own rules. ACRO's own test panel (AI-SDC/ACRO data/test_data.dta) is the
case the issue named: ``pivot_table(index="grant_type", values="inc_grants",
aggfunc=["mean", "sum"])`` used to fail closed with a TypeError.
"""

from __future__ import annotations

import pandas as pd
import pytest

from fivesafes.sdc import Checker, Profile, TableSpecError
from shared_data import shared

TEST_PANEL = shared("output-checking-data/test_data.dta")
needs_panel = pytest.mark.skipif(not TEST_PANEL.is_file(), reason=f"{TEST_PANEL} not present")


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return pd.read_stata(TEST_PANEL)


@needs_panel
def test_acro_panel_mean_and_sum_per_charity(panel: pd.DataFrame) -> None:
    """R/G holds 8 charities: below the threshold in both parts; G is its complement."""
    checker = Checker("acro")
    out = checker.pivot_table(
        panel, index="grant_type", values="inc_grants", aggfunc=["mean", "sum"], person="charity"
    )
    assert out.errors == ()
    assert out.verdict == "fail"
    assert list(out.table.columns) == ["mean", "sum"]
    assert out.statistic == "mean, sum of inc_grants"
    assert out.reasons.to_dict() == {
        "mean": {"G": "secondary", "N": "", "R": "", "R/G": "threshold"},
        "sum": {"G": "secondary", "N": "", "R": "", "R/G": "threshold"},
    }
    assert {(f.row, f.column, f.finding.rule) for f in out.findings} == {
        (("R/G",), ("mean",), "threshold"),
        (("G",), ("mean",), "secondary"),
        (("R/G",), ("sum",), "threshold"),
        (("G",), ("sum",), "secondary"),
    }
    for func in ("mean", "sum"):  # each part is what the single statistic gives
        alone = checker.pivot_table(
            panel, index="grant_type", values="inc_grants", aggfunc=func, person="charity"
        )
        pd.testing.assert_series_equal(out.table[func], alone.table[func])


@needs_panel
def test_acro_panel_mean_and_sum_per_record_pass_as_in_acro(panel: pd.DataFrame) -> None:
    """Counting records, as ACRO does, every grant type passes (ACRO 1.0.2 says pass too)."""
    out = Checker("acro").pivot_table(
        panel, index="grant_type", values="inc_grants", aggfunc=["mean", "sum"], person=None
    )
    assert out.verdict == "pass"
    means = panel["inc_grants"].astype(float).groupby(panel["grant_type"]).mean()
    assert out.table["mean"].astype(float).round(6).to_dict() == means.round(6).to_dict()


@needs_panel
def test_acro_panel_crosstab_puts_the_statistic_on_top(panel: pd.DataFrame) -> None:
    out = Checker("acro").crosstab(
        panel,
        index="year",
        columns="grant_type",
        values="inc_grants",
        aggfunc=["mean", "sum"],
        person="charity",
    )
    assert out.table.columns.nlevels == 2
    assert out.table.columns.get_level_values(0).unique().tolist() == ["mean", "sum"]
    assert out.table.columns.names[1] == "grant_type"
    assert out.reasons.loc[2011, ("sum", "R/G")] == "threshold"
    assert out.reasons.loc[2010, ("sum", "R/G")] == "threshold; nk-dominance; p-percent"
    assert any(f.column == ("mean", "R/G") for f in out.findings)
    assert "[2010, sum, R/G] threshold" in out.report()


def people(cells: dict[str, list[float]]) -> pd.DataFrame:
    rows = [
        {"region": region, "person_id": f"{region}{i}", "cost": value}
        for region, values in cells.items()
        for i, value in enumerate(values)
    ]
    return pd.DataFrame(rows)


def test_each_statistic_is_judged_under_its_own_rules() -> None:
    """A refused ``max`` blanks the max column, not the mean beside it."""
    df = people({"a": [10.0 + i for i in range(12)], "b": [20.0 + i for i in range(15)]})
    out = Checker("default").pivot_table(df, index="region", values="cost", aggfunc=["mean", "max"])
    assert out.verdict == "fail"
    assert out.table["mean"].notna().all()
    assert out.table["max"].isna().all()
    assert set(out.reasons["max"]) == {"min-max"}
    assert set(out.reasons["mean"]) == {""}
    assert out.disposition().done() == "suppressed 2 of 4 cells (min-max 2)"


def test_a_list_of_counts_takes_margins_and_a_magnitude_does_not() -> None:
    df = people({"a": [1.0] * 12, "b": [2.0] * 15})
    out = Checker("datashield").pivot_table(
        df, index="region", values="cost", aggfunc=["count", "size"], margins=True
    )
    assert out.verdict == "pass"
    assert out.table.loc["All", "count"] == 27
    with pytest.raises(TableSpecError, match="margins"):
        Checker().pivot_table(
            df, index="region", values="cost", aggfunc=["count", "mean"], margins=True
        )


def test_a_part_that_raises_withholds_the_whole_table(monkeypatch) -> None:
    from fivesafes.sdc.rules.nk_dominance import NKRule

    original = NKRule.check

    def broken(self, cell, kind, aggfunc, profile):
        if aggfunc == "sum":
            raise RuntimeError("boom")
        return original(self, cell, kind, aggfunc, profile)

    monkeypatch.setattr(NKRule, "check", broken)
    df = people({"a": [1.0] * 12, "b": [2.0] * 15})
    out = Checker("default").pivot_table(
        df, index="region", values="cost", aggfunc=["count", "sum"]
    )
    assert out.verdict == "fail"
    assert out.errors == ("sum: check-error: nk-dominance raised RuntimeError",)
    assert out.table.isna().all().all()  # the count part too: nothing of the table leaves
    assert out.disposition().state == "withheld"


def test_a_list_of_one_is_the_single_statistic() -> None:
    df = people({"a": [1.0] * 12, "b": [2.0] * 15})
    listed = Checker().pivot_table(df, index="region", values="cost", aggfunc=["sum"])
    single = Checker().pivot_table(df, index="region", values="cost", aggfunc="sum")
    pd.testing.assert_frame_equal(listed.table, single.table)


MODE_ONLY = Profile(name="mode", threshold=10, zeros_are_disclosive=False)
MODE_SPEC = [
    # values per person (a list: that person's records), the mode released, finding
    ([[3.0]] * 12 + [[5.0]] * 8, 3.0, ""),
    ([[float(v)] for v in range(20)], None, "mode"),  # all different: one holder
    ([[7.0] * 15] + [[float(v)] for v in range(9)], None, "mode"),  # one person's 15 records
    ([[3.0]] * 10 + [[5.0]] * 10, 3.0, ""),  # a tie: the smaller value, held by 10
]


@pytest.mark.parametrize(("persons", "released", "reasons"), MODE_SPEC)
def test_mode_is_released_only_when_enough_persons_hold_it(persons, released, reasons) -> None:
    rows = [
        {"region": "a", "person_id": f"p{i}", "cost": value}
        for i, records in enumerate(persons)
        for value in records
    ]
    out = Checker(MODE_ONLY).pivot_table(
        pd.DataFrame(rows), index="region", values="cost", aggfunc="mode"
    )
    assert out.reasons.loc["a", "mode"] == reasons
    value = out.table.loc["a", "mode"]
    assert pd.isna(value) if released is None else value == released, value
