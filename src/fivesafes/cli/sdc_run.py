"""``fivesafes sdc check``: check one table of a CSV or Parquet file, like ACRO in a TRE.

Under the verdict it prints what the checker did to the table and what remains
(``Output.disposition``): ``done:`` cells suppressed (by rule) and counts rounded; ``remains:``
nothing (``pass``), nothing flagged in the table as shown once its cells are suppressed (a
``fail`` whose table is protected, for an output checker to approve), released cells for
review, or nothing releasable at all (a check raised, or every cell is suppressed). ``--json``
carries the same as ``disposition``.

With ``--out`` the results folder also holds ``output_0_0.sdc.json`` beside the table, the
profile it was made under and the table's sha256 (``fivesafes.airlock.sdc_marker``): added to
a release request with the CSV, it has the airlock judge the table under that profile.

Exit codes: 0 the table passes and may be released as printed; 1 its verdict is ``fail`` or
``review``: an output checker must decide (the released table, the report and ``remains:`` are
still printed and written); 2 invalid input (missing or unreadable file, unknown column, bad
profile or statistic, ``--out`` not an empty folder); 3 the results folder could not be
written. Errors name files, columns and settings, never a data value, and never print a stack
trace.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd
import typer
from rich.markup import escape
from rich.table import Table

from fivesafes.airlock.sdc_marker import marker_bytes, marker_name
from fivesafes.cli.output import console, say_error
from fivesafes.sdc import PROFILES, Checker, Output, ProfileError, TableSpecError, Verdict
from fivesafes.sdc.results import write_results

EXIT_NOT_RELEASABLE = 1  # verdict fail or review: an output checker decides
EXIT_USAGE = 2
EXIT_WRITE_FAILED = 3
OUTPUT_UID = "output_0"
HEADLINE = {  # after the verdict, by Output.disposition().state
    "release": "",
    "suppressed": " — flagged cells suppressed in the table below",
    "review": " — released cells need an output checker's review",
    "withheld": " — nothing may be released",
}


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    say_error(message)
    raise typer.Exit(code)


def _read(data: Path) -> pd.DataFrame:
    if not data.is_file():
        fail(f"no such file: {data}", EXIT_USAGE)
    suffix = data.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        fail(f"{data}: unsupported file type {suffix or '(none)'!r}; use .csv or .parquet")
    try:
        return pd.read_csv(data) if suffix == ".csv" else pd.read_parquet(data)
    except Exception as exc:  # noqa: BLE001 - the message could quote the file's contents
        fail(f"could not read {data} ({type(exc).__name__})", EXIT_USAGE)


def _check(
    df: pd.DataFrame,
    checker: Checker,
    index: list[str],
    columns: list[str],
    values: str | None,
    aggfunc: list[str],
    person: str,
) -> Output:
    func: str | list[str] | None = aggfunc if len(aggfunc) > 1 else None  # several statistics
    if func is None:
        func = aggfunc[0] if aggfunc else ("mean" if values else None)
    if columns:
        return checker.crosstab(df, index, columns, values=values, aggfunc=func, person=person)
    return checker.pivot_table(df, index, values=values, aggfunc=func or "size", person=person)


def _cell(value: Any) -> str:
    return "—" if pd.isna(value) else str(value)


def _label(label: Any) -> str:
    return ", ".join(map(str, label)) if isinstance(label, tuple) else str(label)


def _rich_table(output: Output) -> Table:
    frame = output.table
    table = Table(title="released table", caption="— = suppressed")
    table.add_column(", ".join(str(n) for n in frame.index.names if n is not None))
    for column in frame.columns:
        table.add_column(escape(_label(column)), justify="right")
    for label, row in zip(frame.index, frame.itertuples(index=False), strict=True):
        table.add_row(escape(_label(label)), *(_cell(v) for v in row))
    return table


def _as_json(output: Output, results: Path | None) -> str:
    frame = output.table
    document = {
        "verdict": output.verdict.value,
        "table": {
            "index_names": [str(n) for n in frame.index.names],
            "index": [_label(label) for label in frame.index],
            "columns": [_label(label) for label in frame.columns],
            "data": [
                [None if pd.isna(v) else v.item() if hasattr(v, "item") else v for v in row]
                for row in frame.itertuples(index=False)
            ],
        },
        "disposition": output.disposition().as_dict(),
        "report": output.report_dict(),
        "results": str(results) if results else None,
    }
    return json.dumps(document, indent=2)


def _mark(table: Path, profile: str) -> None:
    """The marker beside ``table``: the profile it was made under, for the airlock."""
    marker = table.with_name(marker_name(table.name))
    marker.write_bytes(marker_bytes(table.name, table.read_bytes(), profile))


def run_check(
    data: Path,
    index: list[str],
    columns: list[str] | None,
    values: str | None,
    aggfunc: list[str] | None,
    person: str,
    profile: str,
    out: Path | None,
    as_json: bool,
) -> None:
    """The body of ``fivesafes sdc check`` (kept apart so the CLI starts without pandas)."""
    try:
        checker = Checker(profile)
    except ProfileError:
        fail(f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}", EXIT_USAGE)
    if aggfunc and not values:
        fail("--aggfunc needs --values", EXIT_USAGE)
    if out is not None and out.exists() and (not out.is_dir() or any(out.iterdir())):
        fail(f"{out} exists and is not an empty folder; refusing to overwrite it", EXIT_USAGE)
    df = _read(data)
    try:
        output = _check(df, checker, index, columns or [], values, aggfunc or [], person)
    except (TableSpecError, ValueError) as exc:
        fail(str(exc) if isinstance(exc, TableSpecError) else type(exc).__name__, EXIT_USAGE)
    results: Path | None = None
    if out is not None:
        try:
            results = write_results([(OUTPUT_UID, output)], out)
            _mark(out / f"{OUTPUT_UID}_0.csv", output.profile.name)
        except OSError as exc:
            fail(f"could not write {out} ({type(exc).__name__})", EXIT_WRITE_FAILED)
    if as_json:
        typer.echo(_as_json(output, results))
    else:
        style = {"pass": "bold green", "review": "bold yellow", "fail": "bold red"}
        verdict = output.verdict.value
        disposition = output.disposition()
        headline = escape(HEADLINE[disposition.state])
        console.print(f"verdict: [{style[verdict]}]{verdict.upper()}[/]{headline}")
        console.print(f"done: {disposition.done()}", highlight=False, markup=False)
        console.print(f"remains: {disposition.remains()}", highlight=False, markup=False)
        console.print(_rich_table(output))
        console.print(output.report(), highlight=False, markup=False)
        if results is not None:
            console.print(f"results folder written: {results.parent}", highlight=False)
    if output.verdict is not Verdict.PASS:
        raise typer.Exit(EXIT_NOT_RELEASABLE)
