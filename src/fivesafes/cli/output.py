"""Console output shared by the CLI commands."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

# Piped output (a log, a test, a script) gets wide lines rather than truncated table cells.
console = Console(width=None if sys.stdout.isatty() else 200)
errors = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


def fail(message: str, code: int = 2) -> None:
    errors.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)
