"""A federated crosstab over real processes: each node's table is what the table checker
releases on that node's persons, on the catalogue's full grid; the combined table is the sum of
released cells, judged again."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fivesafes.analyses.crosstab import levels
from fivesafes.analyses.variables import analysis_frame
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource
from fivesafes.sdc import Checker
from fivesafes.sdc.gate import release_cell
from fivesafes.sdc.profiles import DEFAULT

EVERYONE = {"name": "everyone", "index": {"type": "fixed", "date": "2020-01-01"}}
LUNG = {
    "name": "lung cancer",
    "index": {"type": "fixed", "date": "2020-01-01"},
    "criteria": [{"domain": "condition", "concepts": [443388]}],
}


def duck(path) -> dict:
    return {"engine": "duckdb", "path": str(path)}


def expected_table(path, cohort, rows, columns):
    with open_omop(DuckDBSource(engine="duckdb", path=path)) as db:
        frame = analysis_frame(db, Cohort.model_validate(cohort), [rows, columns])
    data = pd.DataFrame({"person_id": frame.person_ids})
    for name in (rows, columns):
        codes = frame.columns[name]
        data[name] = np.asarray(levels(name), dtype=object)[codes.astype(int)]
    released = Checker(DEFAULT).crosstab(data, index=rows, columns=columns).table
    return {
        (r, c): (
            int(released.loc[r, c])
            if r in released.index and c in released.columns and not pd.isna(released.loc[r, c])
            else None
        )
        for r in levels(rows)
        for c in levels(columns)
    }


def test_crosstabs_per_node_and_combined(harness, site_data):
    with harness.every_site(site_data) as fed:
        wide = fed.crosstab(EVERYONE, "smoker", "sex")
        small = fed.crosstab(LUNG, "smoker", "sex")
    for result, cohort in ((wide, EVERYONE), (small, LUNG)):
        expected = {n: expected_table(p, cohort, "smoker", "sex") for n, p in site_data.items()}
        # a node whose every cell its gate suppressed is named as left out, never summed as 0
        withheld = {n for n, table in expected.items() if all(v is None for v in table.values())}
        assert result.complete and set(result.nodes_missing) == withheld
        assert all("withheld by its disclosure gate" in result.nodes_missing[n] for n in withheld)
        for node, cells in result.nodes.items():
            got = {(c["row"], c["column"]): c["count"]["value"] for c in cells}
            assert got == expected[node]
        contributing = sorted(set(site_data) - withheld)
        for cell in result.cells:
            values = [expected[n][(cell["row"], cell["column"])] for n in contributing]
            total = sum(v for v in values if v is not None)
            released_somewhere = any(v is not None for v in values)
            combined = release_cell(total, DEFAULT).value if released_somewhere else None
            assert cell["count"]["value"] == combined
            assert cell["nodes_suppressed"] == [
                n for n, v in zip(contributing, values, strict=True) if v is None
            ]
    assert wide.to_frame().shape == (3, 2)
    # the lung cancer cohort is small at every site: some cells are suppressed somewhere
    assert any(c["nodes_suppressed"] for c in small.cells)


def test_histograms_with_agreed_bins(harness, site_data):
    edges = [0, 30, 45, 60, 75, 90, 130]
    with harness.every_site(site_data) as fed:
        result = fed.histogram(EVERYONE, "age", edges)
    assert result.complete and not result.nodes_missing
    bins = [str(c["row"]) for c in result.cells]
    assert len(bins) == len(edges) - 1
    for node, cells in result.nodes.items():
        with open_omop(DuckDBSource(engine="duckdb", path=site_data[node])) as db:
            frame = analysis_frame(db, Cohort.model_validate(EVERYONE), ["age"])
        data = pd.DataFrame({"person_id": frame.person_ids, "value": frame.columns["age"]})
        expected = Checker(DEFAULT).hist(data, "value", bins=edges).table["count"]
        got = [c["count"]["value"] for c in cells]
        want = [None if pd.isna(v) else int(v) for v in expected]
        assert got == want
        # numpy's own counts, before the gate, agree with what passed it (rounded)
        counts, _ = np.histogram(frame.columns["age"], bins=edges)
        for g, c in zip(got, counts, strict=True):
            assert g is None or abs(g - c) <= 5
    totals = [c["count"]["value"] for c in result.cells]
    assert sum(v for v in totals if v) > 0


def test_a_magnitude_crosstab_per_node_and_pooled(harness, site_data):
    at_2018 = {"name": "everyone", "index": {"type": "fixed", "date": "2018-01-01"}}
    with harness.every_site(site_data) as fed:
        result = fed.crosstab(at_2018, "smoker", "sex", value="bmi")
    assert result.complete and (result.value, result.statistic) == ("bmi", "mean")
    for node, cells in result.nodes.items():
        with open_omop(DuckDBSource(engine="duckdb", path=site_data[node])) as db:
            frame = analysis_frame(db, Cohort.model_validate(at_2018), ["smoker", "sex", "bmi"])
        keep = ~np.isnan(frame.columns["bmi"]) & (frame.columns["smoker"] >= 0)
        keep &= frame.columns["sex"] >= 0
        data = pd.DataFrame(
            {"person_id": frame.person_ids[keep], "bmi": frame.columns["bmi"][keep]}
        )
        for name in ("smoker", "sex"):
            codes = frame.columns[name][keep].astype(int)
            data[name] = np.asarray(levels(name), dtype=object)[codes]
        expected = (
            Checker(DEFAULT)
            .crosstab(data, index="smoker", columns="sex", values="bmi", aggfunc="mean")
            .table
        )
        for cell in cells:
            want = expected.loc[cell["row"], cell["column"]]
            if pd.isna(want):
                assert cell["value"] is None
            else:
                assert cell["value"] == pytest.approx(float(want), rel=1e-12)
    for cell in result.cells:
        parts = [
            (c["count"]["value"], c["value"])
            for cells in result.nodes.values()
            for c in cells
            if (c["row"], c["column"]) == (cell["row"], cell["column"]) and c["value"] is not None
        ]
        if parts and cell["count"]["value"] is not None:
            n = sum(k for k, _ in parts)
            assert cell["value"] == pytest.approx(sum(k * v for k, v in parts) / n, rel=1e-12)
    assert "mean of bmi per cell" in str(result)
    assert result.to_frame(magnitude=True).shape == (3, 2)
