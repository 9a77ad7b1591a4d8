"""``fivesafes node slides …``: whole-slide images at this node (issue 16, ADR 0029).

``add`` registers slides: each read through its format's reader and the allow-list
(``fivesafes.slides.reading``), known by a keyed pseudonymous id, linked to its person through
the specimen map, written into the node's data (``pathology_slide``, the ``pathology`` data
domain; the files' paths in ``pathology_slide_file``). Audited with counts only. The node's
modules are imported when the command runs (cli/lazy.py); refusals are told in words by the
command's one boundary (``cli/main.py``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated

import typer

from fivesafes.cli.output import console, fail

app = typer.Typer(help="Whole-slide images at this node: register slides.", no_args_is_help=True)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The node's TOML configuration.")
]


@app.command("add")
def add(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Slide files or folders of them (a DICOM-WSI slide is a folder).",
            exists=True,
            show_default=False,
        ),
    ],
    specimen_map: Annotated[
        Path | None,
        typer.Option(
            "--specimen-map",
            exists=True,
            dir_okay=False,
            help="CSV: file, patient_id, and optionally specimen and stain.",
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Write each file's outcome here (CSV)."),
    ] = None,
    by: Annotated[str, typer.Option("--by", help="Who runs it (recorded in the audit log).")] = (
        "operator"
    ),
    config: ConfigOption = Path("node.toml"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Register slides at this node: read, hashed, linked to their persons, written into the
    node's data. Labels, macros and the files' metadata are never read into it."""
    import duckdb

    from fivesafes.audit.events import AuditEventType
    from fivesafes.cli.imaging import audited, stage_bar
    from fivesafes.data.source import DuckDBSource
    from fivesafes.node.pseudonyms import load_key, pseudonym
    from fivesafes.node.setup import open_node
    from fivesafes.protocol.errors import InvalidRequest
    from fivesafes.slides.register import RegisterReport, read_map, read_slides, write_slides

    service = open_node(config)
    data = service.config.data
    if not isinstance(data, DuckDBSource):
        service.stop()
        fail("Slides are registered into a DuckDB node's data file for now; this node's data "
             "is on another engine.")  # fmt: skip
    mapped = read_map(specimen_map) if specimen_map is not None else None
    key = load_key(service.config.node.pseudonym_key_file)

    def pseudonym_of(identifier: str) -> str | None:
        try:
            return pseudonym(identifier, key)
        except InvalidRequest:
            return None

    counts = RegisterReport()
    details: dict[str, object] = {}
    with audited(service, AuditEventType.SLIDES_REGISTERED, by=by, details=details):
        with stage_bar() as tell:
            slides = read_slides(paths, key, mapped, counts,
                                 progress=lambda d, t: tell("reading slides", d, t))  # fmt: skip
        try:
            con = duckdb.connect(str(data.path))
        except duckdb.IOException:
            fail(f"{data.path} is in use (a running node holds it); stop the node's agent and "
                 "try again.")  # fmt: skip
        try:
            if data.schema_name:
                con.execute(f"SET schema = '{data.schema_name}'")
            write_slides(con, slides, pseudonym_of, counts)
        finally:
            con.close()
        details.update(counts.to_dict())
    if report is not None:
        with report.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "outcome", "reason"])
            writer.writerows(counts.rows)
    if as_json:
        print(json.dumps(counts.to_dict()))
        return
    summary = counts.to_dict()
    console.print(f"Slides: {summary['files']} found, {summary['registered']} registered, "
                  f"{summary['already_registered']} registered before.")  # fmt: skip
    for reason, n in summary["refused"].items():
        console.print(f"  not registered ({reason}): {n}")
    for link, n in summary["links"].items():
        console.print(f"  {link}: {n}")
