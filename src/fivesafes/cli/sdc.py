"""``fivesafes sdc …``: disclosure control of a table, as a researcher or output checker runs it.

The work (pandas, the checker) lives in :mod:`fivesafes.cli.sdc_run`, imported when a command
runs, so the rest of the CLI starts without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fivesafes.sdc.profiles import PROFILES

app = typer.Typer(
    help="Statistical disclosure control of tables.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _sdc() -> None:
    """Statistical disclosure control of tables."""


@app.command("check")
def check(
    data: Annotated[Path, typer.Argument(help="The data: a .csv or .parquet file.")],
    index: Annotated[list[str], typer.Option("--index", help="Row variable (repeat for several).")],
    columns: Annotated[
        list[str] | None, typer.Option("--columns", help="Column variable (repeat).")
    ] = None,
    values: Annotated[
        str | None, typer.Option("--values", help="Numeric column to aggregate.")
    ] = None,
    aggfunc: Annotated[
        list[str] | None,
        typer.Option(
            "--aggfunc", help="Statistic of --values: mean, sum, median, … (repeat for several)."
        ),
    ] = None,
    person: Annotated[
        str, typer.Option("--person", help="Column identifying a person (the counting unit).")
    ] = "person_id",
    profile: Annotated[
        str, typer.Option("--profile", help=f"Disclosure profile: {', '.join(PROFILES)}.")
    ] = "default",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write an ACRO-style results folder here (new or empty)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Check one crosstab or pivot table; print the verdict, released table and report."""
    from fivesafes.cli.sdc_run import run_check

    run_check(data, index, columns, values, aggfunc, person, profile, out, as_json)
