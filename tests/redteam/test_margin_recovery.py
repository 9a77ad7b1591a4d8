"""Attack 2, recovering a suppressed cell from margins: a crosstab with one cell below the
threshold; if only that cell is hidden and the margins are exact, a row total minus the row's
other cells is the hidden cell.

| region | c0 | c1 | c2 |      naive release          | ours (default profile)        |
| ------ | -- | -- | -- |      ---------------------- | ----------------------------- |
| r0     | 3  | 24 | 31 |  NA  24  31 │ 58            | NA  NA  30 │ 30               |
| r1     | 42 | 57 | 66 |  42  57  66 │ 165           | NA  NA  70 │ 70               |
|        |    |    |    |  45  81  97 │ 223           | NA  NA 100 │ 100              |

Ours hides complements (secondary suppression), rounds, and sums its margins from the released
cells, so no line has a single unknown and no margin says more than the cells already do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fivesafes.sdc import Checker

THRESHOLD = 10
TRUE = np.array([[3, 24, 31], [42, 57, 66]], dtype=float)
SECRET = (0, 0)


def persons(rows: np.ndarray) -> pd.DataFrame:
    """One record per person, ``rows[i, j]`` persons in cell (r{i}, c{j})."""
    return pd.DataFrame(
        [
            {"region": f"r{i}", "col": f"c{j}", "person_id": f"r{i}c{j}p{k}"}
            for (i, j), n in np.ndenumerate(rows)
            for k in range(int(n))
        ]
    )


def naive_crosstab(df: pd.DataFrame) -> np.ndarray:
    """Cells below the threshold hidden (NaN), nothing else; exact margins in the last row and
    column, as ``pd.crosstab(..., margins=True)`` would give them."""
    table = pd.crosstab(df["region"], df["col"], margins=True).to_numpy(dtype=float)
    cells = table[:-1, :-1]
    cells[cells < THRESHOLD] = np.nan
    return table


def subtract(released: np.ndarray) -> dict[tuple[int, int], float]:
    """The attacker: in any row or column with one hidden cell and a released margin, the
    hidden cell is the margin minus the others; repeated until nothing more is found."""
    table = released.copy()
    rows, cols = table.shape[0] - 1, table.shape[1] - 1
    recovered: dict[tuple[int, int], float] = {}
    progress = True
    while progress:
        progress = False
        lines = [[(i, j) for j in range(cols)] for i in range(rows)]
        lines += [[(i, j) for i in range(rows)] for j in range(cols)]
        for n, line in enumerate(lines):
            margin = table[n, cols] if n < rows else table[rows, n - rows]
            hidden = [c for c in line if np.isnan(table[c])]
            if len(hidden) == 1 and not np.isnan(margin):
                cell = hidden[0]
                table[cell] = margin - sum(table[c] for c in line if c != cell)
                recovered[cell] = float(table[cell])
                progress = True
    return recovered


def test_the_attack_recovers_the_hidden_cell_from_exact_margins():
    released = naive_crosstab(persons(TRUE))
    assert np.isnan(released[SECRET])  # the cell itself was suppressed
    assert subtract(released) == {SECRET: TRUE[SECRET]}


def test_our_checker_leaves_no_line_with_a_single_unknown():
    out = Checker("default").crosstab(
        persons(TRUE), index="region", columns="col", person="person_id", margins=True
    )
    released = out.table.to_numpy(dtype=float, na_value=np.nan)
    assert out.verdict == "fail"
    np.testing.assert_array_equal(
        released,
        [[np.nan, np.nan, 30, 30], [np.nan, np.nan, 70, 70], [np.nan, np.nan, 100, 100]],
    )
    assert subtract(released) == {}
    # margins are sums of released cells, so subtracting across a whole line gives only the
    # hidden cells' total as the release sees them (0), never the true 3 + 24 or 3 + 42
    cells = released[:-1, :-1]
    np.testing.assert_array_equal(released[:-1, -1], np.nansum(cells, axis=1))
    assert released[0, -1] - np.nansum(cells[0]) == 0 != TRUE[0, 0] + TRUE[0, 1]
    # even an attacker who knows the true margins from elsewhere finds no single unknown
    with_true_margins = released.copy()
    with_true_margins[:-1, -1] = TRUE.sum(axis=1)
    with_true_margins[-1, :-1] = TRUE.sum(axis=0)
    assert subtract(with_true_margins) == {}
