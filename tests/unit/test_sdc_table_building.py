"""Cells are built two ways (a dense cells x persons matrix, or sparse pair codes for large
tables); both give the same facts as a plain per-cell pandas computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fivesafes.sdc import tables


def frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 400
    df = pd.DataFrame(
        {
            "region": rng.choice(["n", "s", "e", "w"], n),
            "sex": rng.choice(["f", "m"], n),
            "person_id": rng.integers(0, 60, n).astype(float),
            "cost": rng.normal(100, 50, n),
        }
    )
    df.loc[rng.random(n) < 0.1, "cost"] = np.nan
    df.loc[rng.random(n) < 0.05, "person_id"] = np.nan
    return df


def reference(df: pd.DataFrame, region: str, sex: str) -> tuple[int, int, int, list[float]]:
    part = df[(df.region == region) & (df.sex == sex)]
    present = part[part.cost.notna()]
    totals = present.groupby("person_id").cost.sum()
    return (
        len(part),
        part.person_id.nunique(),
        present.person_id.nunique(),
        sorted(totals.tolist(), reverse=True),
    )


@pytest.mark.parametrize("dense_limit", [2**24, 0], ids=["dense", "sparse"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_both_ways_match_a_per_cell_reference(monkeypatch, dense_limit, seed):
    monkeypatch.setattr(tables, "_DENSE_PAIRS", dense_limit)
    df = frame(seed)
    table = tables.build_table(df, "region", "sex", "cost", "mean", "person_id")
    for row in table.cells:
        for cell in row:
            records, persons, contributors, totals = reference(df, cell.row[0], cell.column[0])
            assert (cell.records, cell.persons, cell.contributors) == (
                records,
                persons,
                contributors,
            )
            assert np.allclose(cell.contributions, totals)
            expected = df[(df.region == cell.row[0]) & (df.sex == cell.column[0])].cost.mean()
            assert cell.statistic == pytest.approx(expected)


@pytest.mark.parametrize("seed", [4, 5])
def test_without_a_person_column_every_record_is_a_contributor(seed):
    df = frame(seed)
    table = tables.build_table(df, "region", "sex", "cost", "sum", None)
    for row in table.cells:
        for cell in row:
            part = df[(df.region == cell.row[0]) & (df.sex == cell.column[0])]
            present = part.cost.dropna()
            assert (cell.records, cell.persons, cell.contributors) == (
                len(part),
                len(part),
                len(present),
            )
            assert np.allclose(cell.contributions, sorted(present, reverse=True))
            assert cell.statistic == pytest.approx(part.cost.sum())
