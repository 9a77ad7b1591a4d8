"""What analyses' commands share on the command line (``Analysis.commands``): the cohort
option, and how a result is printed by default."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

CohortOption = Annotated[
    Path, typer.Option(help="Cohort definition (JSON).", exists=True, dir_okay=False)
]


def not_ok(result: object, options: object) -> tuple[list[str], int]:
    """A fit that did not converge, or was stopped, exits 1 (its error is in its table)."""
    return [], 0 if getattr(result, "ok", True) else 1
