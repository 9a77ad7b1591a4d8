"""Console output shared by the CLI commands."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from fivesafes.protocol.signing import fingerprint, load_private_key, public_key_text

# Piped output (a log, a test, a script) gets wide lines rather than truncated table cells.
console = Console(width=None if sys.stdout.isatty() else 200)
errors = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


def report_new_key(config_file: Path, key_file: Path, role: str) -> None:
    """Tell the operator what ``init`` wrote and the new key's fingerprint (to read out to
    the other side of an enrolment)."""
    fingerprint_text = fingerprint(public_key_text(load_private_key(key_file)))
    console.print(f"Wrote {config_file} and {key_file}.")
    console.print(f"{role} key fingerprint: [bold]{fingerprint_text}[/]")


def fail(message: str, code: int = 2) -> None:
    """Print ``message`` as an error (as it is: brackets in it are not markup) and exit."""
    errors.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)
