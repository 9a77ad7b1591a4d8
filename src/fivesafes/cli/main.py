"""The ``fivesafes`` command."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from fivesafes.cli import airlock, analyse, audit, hub, node, sdc, synth
from fivesafes.cli import count as count_cmd
from fivesafes.cli.output import errors
from fivesafes.client import FederationError
from fivesafes.protocol.errors import FivesafesError

app = typer.Typer(
    help="fivesafes: a federated network of Trusted Research Environments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(hub.app, name="hub")
app.add_typer(node.app, name="node")
app.add_typer(synth.app, name="synth")
app.add_typer(sdc.app, name="sdc")
app.add_typer(analyse.app, name="analyse")
app.add_typer(audit.app, name="audit")
app.add_typer(airlock.app, name="airlock")
app.command("count")(count_cmd.count)


@app.command()
def demo(
    once: bool = typer.Option(False, "--once", help="Run the demo count and exit."),
    workdir: str | None = typer.Option(None, help="Keep configs, databases and data here."),
    persons: int = typer.Option(5000, help="Synthetic persons per hospital (scaled per site)."),
) -> None:
    """Start a hub and three synthetic hospitals on loopback and run a federated count."""
    from fivesafes.demo.run import run_demo

    raise typer.Exit(run_demo(once=once, workdir=workdir, persons=persons))


def main() -> None:
    try:
        app()
    except (FivesafesError, FederationError) as exc:
        errors.print(f"[bold red]error:[/] {escape(exc.message)}")  # e.g. "[portal]" stays
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
