"""Secondary suppression: no suppressed cell may be recovered by subtracting from a margin.

An attacker may know the true row and column totals (from another output, or the cohort
size). If a row holds one suppressed cell, total - released cells gives it back. So, until no
suppressed cell can be solved for:

1. in each row and each column with exactly one suppressed cell, also suppress that line's
   smallest other cell (smallest positive count first, zeros last; ties by position);
2. then solve the margin equations exactly (linear algebra over the suppressed cells): a cell
   whose unit vector lies in the span of the row/column constraints is determined — this
   catches "bridges" between suppressed blocks that step 1 misses — and for each such cell
   suppress the smallest other cell of its row (or column).

If nothing is left to suppress, the whole table is suppressed. A line of a table with one row
(or one column) is the cell itself, so such lines give no constraint.

| true table (threshold 10) | primary      | secondary            |
| ------------------------- | ------------ | -------------------- |
| a: 3, 20, 30              | a/x          | a/y (row a's next)   |
| b: 40, 50, 60             | —            | b/x and b/y (columns)|

Limitation: the protection interval is not sized (the complement may be small), and
sub-totals over one level of a hierarchical index are not protected.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

BoolGrid = npt.NDArray[np.bool_]


def _lines(shape: tuple[int, int]) -> list[list[tuple[int, int]]]:
    n_rows, n_cols = shape
    lines: list[list[tuple[int, int]]] = []
    if n_cols > 1:
        lines += [[(i, j) for j in range(n_cols)] for i in range(n_rows)]
    if n_rows > 1:
        lines += [[(i, j) for i in range(n_rows)] for j in range(n_cols)]
    return lines


def _smallest(
    line: list[tuple[int, int]], suppressed: BoolGrid, weights: npt.NDArray[np.float64]
) -> tuple[int, int] | None:
    free = [cell for cell in line if not suppressed[cell]]
    if not free:
        return None
    return min(free, key=lambda c: (weights[c] == 0, weights[c], c))


def determined_cells(suppressed: BoolGrid) -> list[tuple[int, int]]:
    """Suppressed cells that the row and column margin equations pin to one value."""
    unknowns = [tuple(map(int, ij)) for ij in np.argwhere(suppressed)]
    if not unknowns:
        return []
    position = {cell: k for k, cell in enumerate(unknowns)}
    rows = []
    for line in _lines(suppressed.shape):
        members = [position[c] for c in line if c in position]
        if members:
            row = np.zeros(len(unknowns))
            row[members] = 1.0
            rows.append(row)
    if not rows:
        return []
    a = np.vstack(rows)
    rank = np.linalg.matrix_rank(a)
    found = []
    for cell, k in position.items():
        probe = np.zeros(len(unknowns))
        probe[k] = 1.0
        if np.linalg.matrix_rank(np.vstack([a, probe])) == rank:
            found.append((cell[0], cell[1]))
    return found


def secondary_suppression(primary: BoolGrid, weights: npt.NDArray[np.float64]) -> BoolGrid:
    """Cells to suppress in addition to ``primary`` (a mask of the same shape)."""
    suppressed = primary.copy()
    if not suppressed.any():
        return np.zeros_like(primary)
    lines = _lines(suppressed.shape)
    while True:
        changed = False
        for line in lines:
            if sum(bool(suppressed[c]) for c in line) == 1:
                pick = _smallest(line, suppressed, weights)
                if pick is not None:
                    suppressed[pick] = True
                    changed = True
        if changed:
            continue
        exposed = determined_cells(suppressed)
        if not exposed:
            break
        i, j = exposed[0]
        row = [(i, c) for c in range(suppressed.shape[1])]
        col = [(r, j) for r in range(suppressed.shape[0])]
        pick = _smallest(row, suppressed, weights) or _smallest(col, suppressed, weights)
        if pick is None:
            suppressed[:] = True
            break
        suppressed[pick] = True
    return suppressed & ~primary
