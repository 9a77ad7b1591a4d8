"""``fivesafes node load-omop``: the progress bar and the report of a CDM load.

Exit codes: 0 loaded (rows may have been rejected: the report says which and why); 1 refused
by ``--strict`` because rows would be rejected (nothing written); 2 the load could not be
done (bad input, unreadable source, target in use): nothing written.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fivesafes.cli.output import console, errors, fail
from fivesafes.data.load import LoadError, LoadReport, describe_target, load_omop
from fivesafes.data.load_sources import is_postgres_url
from fivesafes.data.source import DuckDBSource, PostgresSource, SparkSource, parse_data_source
from fivesafes.node.config import NodeConfig
from fivesafes.settings import load_config


def resolve_target(
    config: Path | None, to: str | None, to_schema: str | None
) -> DuckDBSource | PostgresSource:
    """``--to`` (a DuckDB path or PostgreSQL URL, with ``--to-schema``), else the ``[data]``
    of the node's configuration."""
    if to is None:
        if to_schema is not None:
            fail("--to-schema goes with --to; the node's configuration names its own schema.")
        data = load_config(config or Path("node.toml"), NodeConfig).data
        if isinstance(data, SparkSource):
            fail("load-omop loads DuckDB or PostgreSQL; a Spark node reads Parquet files.")
        return data
    if config is not None:
        fail("Give either --config (the node's data source) or --to, not both.")
    raw: dict[str, object]
    if is_postgres_url(to):
        if to_schema is None:
            fail("A PostgreSQL target needs --to-schema, the schema to load the CDM into.")
        raw = {"engine": "postgres", "url": to, "schema": to_schema}
    else:
        raw = {"engine": "duckdb", "path": str(Path(to).expanduser().resolve())}
        if to_schema is not None:
            raw["schema"] = to_schema
    try:
        source = parse_data_source(raw)
        assert not isinstance(source, SparkSource), "raw names duckdb or postgres"
        return source
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][-1]) for e in exc.errors())
        fail(f"--to / --to-schema are not valid ({fields}).")


def _rows(n: int) -> str:
    return f"{n:,}"


def _n_rows(n: int) -> str:
    return f"{n:,} row" if n == 1 else f"{n:,} rows"


def print_report(report: LoadReport) -> None:
    """The per-table counts, then each reason rows were rejected, then the notes."""
    console.print(
        f"From {report.source}, read as OMOP CDM {report.cdm.version} ({report.cdm.evidence}).",
        markup=False,
        highlight=False,
    )
    table = Table("table", "from", "read", "loaded", "rejected")
    for t in report.tables:
        if t.source is not None:
            shown = f"[bold red]{_rows(t.rejected)}[/]" if t.rejected else "0"
            table.add_row(t.table, escape(t.source), _rows(t.read), _rows(t.loaded), shown)
    console.print(table)
    absent = [t.table for t in report.tables if t.source is None]
    if absent:
        console.print(f"Not in the source, created empty: {', '.join(absent)}.", highlight=False)
    if report.skipped:
        skipped = ", ".join(report.skipped)
        console.print(f"Skipped (not CDM 5.4 tables): {skipped}.", markup=False, highlight=False)
    with_rejections = [t for t in report.tables if t.rejected]
    if with_rejections:
        console.print(
            "\n[bold]Rejected rows[/] (row numbers count data rows from 1; no values shown):"
        )
        for t in with_rejections:
            console.print(f"  {t.table}: {_rows(t.rejected)} of {_n_rows(t.read)}", highlight=False)
            for r in t.rejections:
                more = ", …" if r.rows > len(r.examples) else ""
                rows = ", ".join(str(n) for n in r.examples)
                console.print(
                    f"    {_rows(r.rows):>10}  {r.reason}  (rows {rows}{more})", highlight=False
                )
    notes = [(t.table, note) for t in report.tables if t.source is not None for note in t.notes]
    if notes:
        console.print("\n[bold]Notes[/]:")
        for name, note in notes:
            console.print(f"  {name}: {note}", markup=False, highlight=False)


def run(
    source: str,
    *,
    config: Path | None,
    to: str | None,
    to_schema: str | None,
    source_schema: str | None,
    strict: bool,
    as_json: bool,
) -> None:
    target = resolve_target(config, to, to_schema)
    problem: LoadError | None = None
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
        disable=not errors.is_terminal,  # no bar in logs and pipes
    ) as bar:
        task = bar.add_task("opening the source", total=None)

        def progress(what: str, done: int, total: int) -> None:
            bar.update(task, description=what, completed=done, total=total)

        try:
            report = load_omop(
                source, target, source_schema=source_schema, strict=strict, progress=progress
            )
        except LoadError as exc:
            problem = exc
    if problem is not None:
        fail(str(problem))
    if as_json:
        console.print_json(json.dumps(report.to_dict()))
    else:
        print_report(report)
    loaded = sum(t.loaded for t in report.tables)
    if not report.applied:
        fail(
            f"{_n_rows(report.rejected)} would be rejected; nothing was loaded into"
            f" {describe_target(target)} (--strict).",
            code=1,
        )
    if not as_json:
        rejected = f"; {_n_rows(report.rejected)} rejected" if report.rejected else ""
        console.print(
            f"\nLoaded {_n_rows(loaded)} into {len(report.tables)} tables of"
            f" {report.target} in {report.seconds:.1f} s{rejected}.",
            markup=False,
            highlight=False,
        )
