"""Spec: primary plus secondary suppression, so no suppressed cell is recovered from margins.

The attacker knows the true row and column totals and the released cells, and repeatedly
solves any row or column with one unknown cell left. It recovers the primary cell when only
primary suppression is applied, and nothing once secondary suppression is.

| region | x | y  | z  |        | x    | y    | z  |
| ------ | - | -- | -- | -----> | ---- | ---- | -- |
| a      | 3 | 20 | 30 |        | NA   | NA   | 30 |
| b      | 40| 50 | 60 |        | NA   | NA   | 60 |
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fivesafes.sdc import Checker, Profile
from fivesafes.sdc.rules.suppression import determined_cells, secondary_suppression

UNROUNDED = Profile(name="t10", threshold=10, zeros_are_disclosive=False)


def grid(rows: list[list[int]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"region": f"r{i}", "col": f"c{j}", "person_id": f"r{i}c{j}p{k}"}
            for i, row in enumerate(rows)
            for j, n in enumerate(row)
            for k in range(n)
        ]
    )


def attack(true: np.ndarray, released: np.ndarray) -> dict[tuple[int, int], float]:
    """Solve lines with exactly one unknown, repeatedly, from the true margins."""
    known = ~np.isnan(released)
    values = np.where(known, released, 0.0)
    recovered: dict[tuple[int, int], float] = {}
    progress = True
    while progress:
        progress = False
        for axis in (0, 1):
            for line in range(true.shape[1 - axis]):
                cells = [(i, line) if axis == 0 else (line, i) for i in range(true.shape[axis])]
                unknown = [c for c in cells if not known[c]]
                if len(unknown) == 1 and len(cells) > 1:
                    margin = sum(true[c] for c in cells)
                    cell = unknown[0]
                    values[cell] = margin - sum(values[c] for c in cells if c != cell)
                    known[cell] = True
                    recovered[cell] = values[cell]
                    progress = True
    return recovered


def test_the_published_example():
    rows = [[3, 20, 30], [40, 50, 60]]
    out = Checker(UNROUNDED).crosstab(grid(rows), index="region", columns="col")
    assert out.verdict == "fail"
    assert out.reasons.to_numpy().tolist() == [
        ["threshold", "secondary", ""],
        ["secondary", "secondary", ""],
    ]


@pytest.mark.parametrize(
    "rows",
    [
        [[3, 20, 30], [40, 50, 60]],
        [[3, 20, 30], [40, 5, 60], [70, 80, 90]],
        [[0, 2, 30, 40], [25, 35, 45, 55], [60, 4, 70, 80]],
        [[5, 50], [60, 70]],
    ],
)
def test_suppressed_cells_cannot_be_recovered_from_true_margins(rows):
    true = np.array(rows, dtype=float)
    out = Checker(UNROUNDED).crosstab(grid(rows), index="region", columns="col")
    released = out.table.to_numpy(dtype=float, na_value=np.nan)
    assert np.isnan(released).any()
    assert attack(true, released) == {}


def test_the_attack_works_on_primary_suppression_alone():
    true = np.array([[3, 20, 30], [40, 50, 60]], dtype=float)
    primary_only = true.copy()
    primary_only[0, 0] = np.nan
    assert attack(true, primary_only) == {(0, 0): 3.0}


def test_a_bridge_between_two_suppressed_blocks_is_also_protected():
    # two 2x2 blocks joined by one cell: every line has two suppressed cells, yet the joining
    # cell (0, 2) is determined by the margin equations; the engine must suppress more
    mask = np.zeros((4, 4), dtype=bool)
    for cell in [(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3), (0, 2)]:
        mask[cell] = True
    assert (0, 2) in determined_cells(mask)
    extra = secondary_suppression(mask, np.full((4, 4), 20.0))
    assert determined_cells(mask | extra) == []


def test_random_tables_never_leave_a_determined_cell():
    rng = np.random.default_rng(7)
    for _ in range(200):
        shape = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
        weights = rng.integers(0, 60, size=shape).astype(float)
        primary = rng.random(shape) < 0.2
        suppressed = primary | secondary_suppression(primary, weights)
        assert determined_cells(suppressed) == []
        assert (suppressed >= primary).all()


def test_complements_prefer_the_smallest_non_zero_cell():
    primary = np.array([[True, False, False, False]])
    weights = np.array([[3.0, 0.0, 12.0, 11.0]])
    # one row: its only constraint is the grand total, so one complement is enough
    extra = secondary_suppression(primary.T, weights.T).T
    assert extra.tolist() == [[False, False, False, True]]


def test_nothing_to_suppress_means_nothing_extra():
    primary = np.zeros((3, 3), dtype=bool)
    assert not secondary_suppression(primary, np.ones((3, 3))).any()
