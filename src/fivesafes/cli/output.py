"""Console output shared by the CLI commands."""

from __future__ import annotations

from rich.console import Console

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 2) -> None:
    import typer

    errors.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)
