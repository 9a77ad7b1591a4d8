"""One cell of an output, as every disclosure rule sees it (no pandas: the node's gate and the
hub's use these without the table machinery).

A cell carries facts about its contributors only; it is never put into messages or logs.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Kind = Literal["count", "magnitude", "extreme", "mode"]
Label = tuple[Hashable, ...]

NO_CONTRIBUTIONS = np.empty(0, dtype=float)  # count cells carry no per-person totals
NO_CONTRIBUTIONS.setflags(write=False)


@dataclass(frozen=True)
class Cell:
    """One cell: the facts about its contributors. Never put into messages or logs."""

    row: Label
    column: Label
    records: int
    persons: int
    contributors: int
    missing: int
    contributions: np.ndarray = field(compare=False)  # per-person totals, largest first
    statistic: float  # NaN when the cell has nothing to compute from
    holders: int = 0  # for a mode: distinct persons holding the modal value

    @property
    def units(self) -> int:
        """What the threshold counts: distinct persons, or non-missing contributors when the
        statistic is computed from a values column (all but ``size``)."""
        return self.contributors
