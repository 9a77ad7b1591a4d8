"""``fivesafes node imaging deid FILE|DIR … --out DIR``: the de-identification engine and its
verification on their own, for an operator (``fivesafes.imaging.deid``, docs/deid.md).

The Basic Application Level Confidentiality Profile by default; each ``--option`` adds one of
PS3.15's options. UIDs, pseudonyms and date shifts are keyed per node and ``--project`` (from
the node's pseudonym key): the same inputs give the same files, and two projects' files cannot
be linked. A file is rejected (by the rejectors), or de-identified and verified; one that fails
verification is not written. The run is audited in the node's log (``imaging_deidentified``:
who, which paths, where to, the counts). Exit codes: 0 when the run finished (files may have
been rejected or failed: the report says which and why), otherwise the error catalogue's.
"""

from __future__ import annotations

import csv
import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from fivesafes.cli.imaging import ConfigOption, audited, stage_bar
from fivesafes.cli.output import console, fail


def deid(
    paths: Annotated[
        list[Path],
        typer.Argument(help="DICOM files or folders to de-identify.", exists=True),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="The folder the de-identified files are written to.")
    ],
    profile: Annotated[
        str,
        typer.Option("--profile", help="The confidentiality profile: basic (PS3.15 Annex E)."),
    ] = "basic",
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            help="A PS3.15 option, repeatable: retain-modified-dates, "
            "retain-patient-characteristics, retain-device-identity, clean-descriptors, "
            "clean-structured-content, retain-safe-private, clean-pixel-data.",
        ),
    ] = None,
    project: Annotated[
        str,
        typer.Option("--project", help="Whose keys: UIDs and dates are keyed per project."),
    ] = "operator",
    config: ConfigOption = Path("node.toml"),
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=256, help="Processes de-identifying.")
    ] = 2,
    rejectors: Annotated[
        Path | None,
        typer.Option("--rejectors", help="A rejectors file instead of the shipped one."),
    ] = None,
    report_file: Annotated[
        Path | None,
        typer.Option(
            "--report", help="Write every file not written, and why (rule and element), as CSV."
        ),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option("--by", help="Who is acting (audited; default: your login name)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """De-identify DICOM files (PS3.15 Basic Profile and the options given), verify every file
    written, and report what was rejected or failed and why."""
    from fivesafes.audit.events import AuditEventType
    from fivesafes.imaging.deid.keys import ProjectKeys
    from fivesafes.imaging.deid.options import options_of
    from fivesafes.imaging.deid.reject import load_rejectors
    from fivesafes.imaging.deid.run import Job, deidentify_tree
    from fivesafes.node.pseudonyms import load_key
    from fivesafes.node.setup import open_node

    if profile != "basic":
        fail("The only profile is basic (PS3.15's Basic Application Level Confidentiality).")
    chosen = options_of(option or [])
    target = out.resolve()
    sources = [p.resolve() for p in paths]
    if any(target == s or s in target.parents for s in sources):
        fail("--out must not be inside the files being de-identified.")
    actor = by or getpass.getuser()
    service = open_node(config)
    details: dict[str, Any] = {
        "paths": [str(s) for s in sources],
        "out": str(target),
        "project": project,
        "options": sorted(option or []),
    }
    with audited(service, AuditEventType.IMAGING_DEIDENTIFIED, by=actor, details=details):
        keys = ProjectKeys.derive(load_key(service.config.node.pseudonym_key_file), project)
        job = Job(keys, chosen, load_rejectors(rejectors or service.config.imaging.rejectors_file))
        with stage_bar() as tell:
            report = deidentify_tree(
                sources,
                target,
                job,
                workers=workers,
                progress=lambda done, total: tell("de-identifying", done, total),
            )
        details |= report.to_dict()
    if report_file is not None:
        _write_rows(report_file, report.rows)
    if as_json:
        console.print_json(json.dumps(report.to_dict()))
        return
    _print(report, target)


def _write_rows(path: Path, rows: list[tuple[str, str, str, str]]) -> None:
    try:
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "status", "reason or rule", "element"])
            writer.writerows(rows)
    except OSError as exc:
        fail(f"Cannot write {path} ({type(exc).__name__}).")


def _print(report: Any, target: Path) -> None:
    say = console.print
    say(
        f"{report.written:,} of {report.files:,} files de-identified, verified and written to "
        f"{target} in {report.seconds:.1f} s ({len(report.persons):,} persons).",
        highlight=False,
    )
    for title, counts in (
        ("rejected before de-identification", report.rejected),
        ("failed verification (not written), files by rule", report.failed),
        ("not readable as DICOM", report.unreadable),
    ):
        if counts:
            say(f"{sum(counts.values()):,} {title}:" if title[0] != "f" else f"{title}:")
            for reason, n in sorted(counts.items()):
                say(f"  {reason}: {n:,}", highlight=False)
