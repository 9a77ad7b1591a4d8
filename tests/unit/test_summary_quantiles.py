"""Summaries of any catalogue variable with missing counts and quantiles from released bins:
the node part on real DuckDB (expected values from plain SQL on the same file), the bins'
labels and open outer bins, and the hub's pooling of bins into quantiles."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from fivesafes.analyses.quantiles import (
    bin_codes,
    bin_labels,
    bin_quantiles,
    interpolate,
    label_edges,
)
from fivesafes.analyses.summary import SummaryOutput, SummaryParameters
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource
from fivesafes.data.synth import generate
from fivesafes.node.person_sets import InMemoryPersonSetStore
from fivesafes.node.runner import run_task
from fivesafes.sdc import Checker
from fivesafes.sdc.gate import release_count
from fivesafes.sdc.profiles import ACRO, DEFAULT
from in_process import pooled_summary, task_payload

AT_2020 = {"name": "everyone", "index": {"type": "fixed", "date": "2018-01-01"}}
BMI_SQL = """
    SELECT p.person_id, arg_max(m.value_as_number, m.measurement_date) AS bmi
    FROM person p LEFT JOIN measurement m
      ON m.person_id = p.person_id AND m.measurement_concept_id = 3038553
     AND m.value_as_number IS NOT NULL
     AND m.measurement_date <= DATE '2018-01-01'
     AND m.measurement_date > DATE '2018-01-01' - INTERVAL 1825 DAY
    GROUP BY p.person_id
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("summary-quantiles") / "cdm.duckdb"
    generate(path, 600, 31, "default")
    return path


def test_bins_are_labelled_like_histograms_with_open_outer_bins():
    edges = [10.0, 20.0, 30.0, 40.0]
    assert bin_labels(edges) == ("[10, 20)", "[20, 30)", "[30, 40]")
    assert bin_labels([0.5, 1.25, 2.0]) == ("[0.5, 1.25)", "[1.25, 2]")
    values = np.array([-5.0, 10.0, 19.99, 20.0, 39.0, 40.0, 400.0])
    assert bin_codes(values, edges).tolist() == [0, 0, 0, 1, 2, 2, 2]
    assert label_edges("[1.25, 2]") == (1.25, 2.0)


def test_the_default_bins_come_from_the_catalogue_and_can_be_replaced():
    assert SummaryParameters.model_validate(
        {"cohort": AT_2020, "variable": "age"}
    ).bin_edges == list(np.arange(0.0, 111.0, 5.0))
    own = SummaryParameters.model_validate({"cohort": AT_2020, "variable": "bmi", "edges": [0, 50]})
    assert own.bin_edges == [0.0, 50.0]
    with pytest.raises(ValueError, match="increase"):
        SummaryParameters.model_validate({"cohort": AT_2020, "variable": "bmi", "edges": [5, 5]})


def test_a_bmi_summary_releases_missing_and_bins_as_the_checker_does(site):
    with duckdb.connect(str(site), read_only=True) as con:
        frame = con.execute(BMI_SQL).df()
    present = frame.dropna()
    truth = present["bmi"].to_numpy(dtype=float)
    assert 0 < len(present) < len(frame)  # some persons have no BMI in the window
    with open_omop(DuckDBSource(engine="duckdb", path=site)) as db:
        outcome = run_task(
            task_payload("summary", {"cohort": AT_2020, "variable": "bmi"}),
            db,
            DEFAULT,
            InMemoryPersonSetStore(),
        )
    out = SummaryOutput.model_validate(outcome.output)
    assert out.gate.verdict == "pass"
    assert out.n.value == release_count(len(truth), DEFAULT).value
    assert out.missing.value == release_count(len(frame) - len(truth), DEFAULT).value
    assert out.mean == pytest.approx(truth.mean(), rel=1e-12)
    assert out.sd == pytest.approx(truth.std(ddof=1), rel=1e-12)
    edges = [10.0 + 2.5 * k for k in range(21)]
    labels = bin_labels(edges)
    data = pd.DataFrame(
        {
            "person_id": present["person_id"].to_numpy(),
            "bin": np.asarray(labels, dtype=object)[bin_codes(truth, edges)],
            "count": "count",
        }
    )
    table = Checker(DEFAULT).crosstab(data, index="bin", columns="count").table
    expected = {
        label: (
            None
            if label not in table.index or pd.isna(table.loc[label, "count"])
            else int(table.loc[label, "count"])
        )
        for label in labels
    }
    assert {c.row: c.count.value for c in out.bins} == expected
    assert [c.row for c in out.bins] == list(labels)
    released = sum(v for v in expected.values() if v)
    assert released <= len(truth) + 5 * len(labels)  # rounded counts of persons, no one twice
    # the median of the released bins is near the median of the values
    median = bin_quantiles([c.model_dump() for c in out.bins], [0.5])[0.5]
    assert abs(median - float(np.median(truth))) < 2.5


def test_a_failed_summary_releases_no_bins(site):
    cohort = {**AT_2020, "age": {"max": 1}}
    with open_omop(DuckDBSource(engine="duckdb", path=site)) as db:
        outcome = run_task(
            task_payload("summary", {"cohort": cohort, "variable": "age"}),
            db,
            DEFAULT,
            InMemoryPersonSetStore(),
        )
    out = SummaryOutput.model_validate(outcome.output)
    assert out.gate.verdict == "fail" and out.bins == []


def test_the_hub_sums_released_bins_and_takes_quantiles_from_them():
    rng = np.random.default_rng(4)
    edges = [float(e) for e in range(0, 111, 5)]
    parts = [rng.normal(50 + 5 * k, 12, n) for k, n in enumerate((400, 1500, 900))]
    pooled = pooled_summary(parts, edges, ACRO, missing=[0, 7, 14])
    everyone = np.concatenate(parts)
    assert pooled["n"]["value"] == len(everyone)
    # a missing count under the threshold (0 and 7 here) is suppressed at its node
    assert (pooled["missing"], pooled["missing_suppressed"]) == (14, ["n0", "n1"])
    nobody = pooled_summary(parts, edges, ACRO, missing=[0, 7, 0])
    assert (nobody["missing"], nobody["missing_suppressed"]) == (None, ["n0", "n1", "n2"])
    assert pooled["mean"] == pytest.approx(everyone.mean(), rel=1e-12)
    assert pooled["sd"] == pytest.approx(everyone.std(ddof=1), rel=1e-12)
    counts = np.bincount(bin_codes(everyone, edges), minlength=len(edges) - 1)
    for cell, count in zip(pooled["bins"], counts, strict=True):
        if not cell["nodes_suppressed"]:
            assert cell["count"]["value"] == count  # acro: no rounding
        else:
            assert (cell["count"]["value"] or 0) <= count  # a lower bound
    bins = [(*label_edges(c["row"]), c["count"]["value"] or 0) for c in pooled["bins"]]
    expected = interpolate(bins, [0.05, 0.25, 0.5, 0.75, 0.95])
    assert {float(p): q for p, q in pooled["quantiles"].items()} == expected
    assert abs(expected[0.5] - np.median(everyone)) < 0.5


def test_no_quantiles_when_the_released_bins_hold_too_few_of_the_persons():
    """40 persons over 5-year bins: most bins are under the threshold and suppressed, so the
    released bins would give a median of the one bin that passed. None is given; the error
    says to ask with wider bins, and wider bins give them."""
    from fivesafes.analyses.quantiles import TooFewBinsError
    from fivesafes.analyses.summary.result import _iqr

    ages = np.repeat(np.arange(30.0, 90.0, 1.5), 1)  # 40 persons, ~3 per 5-year bin
    narrow = pooled_summary([ages], [float(e) for e in range(0, 111, 5)], DEFAULT)
    assert narrow["n"]["value"] == 40 and narrow["quantiles"] == {}
    with pytest.raises(TooFewBinsError, match="wider bins"):
        bin_quantiles(narrow["bins"], [0.5], narrow["n"]["value"])
    assert _iqr(narrow["bins"], 40) == "— (wider bins)"
    wide = pooled_summary([ages], [0.0, 60.0, 110.0], DEFAULT)
    assert wide["quantiles"]["0.5"] == pytest.approx(60.0, abs=2.0)
