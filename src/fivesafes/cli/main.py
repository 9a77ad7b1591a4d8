"""The ``fivesafes`` command, and its one error boundary.

Every command runs inside :class:`ErrorBoundary`: an error raised on purpose (the platform's
one exception tree, or a refusal relayed from the hub) is told as one ``error:`` line, or as
the error shape for a command answering in JSON, and exits with its catalogue exit code (ADR
0024); anything else is ``internal_error``, exit 1, named by its type only. Never a stack
trace, never the exception's text (it may quote a value). Usage errors, ``typer.Exit`` and an
interrupt (exit 130) are Typer's own.

Each group's module, and each analysis, is imported only when one of its commands runs or its
own help is asked for (``cli/lazy.py``): ``fivesafes --help`` imports none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from fivesafes.cli import analyse
from fivesafes.cli.lazy import LazyGroup, group
from fivesafes.cli.output import console, errors_as_json, tell_error

# Typer's own signals and usage errors; a closed pipe is Typer's too (exit 1, nothing said).
_TYPERS_OWN = (typer.Exit, typer.Abort, typer.TyperException, EOFError, BrokenPipeError)

GROUPS = {
    "hub": ("fivesafes.cli.hub:app", "Set up, run and administer a hub."),
    "node": ("fivesafes.cli.node:app", "Set up and run a node; approve projects as its custodian."),
    "pool": ("fivesafes.cli.pool:app", "Pools of linked persons' rows: ask, follow, run one."),
    "synth": ("fivesafes.cli.synth:app", "Generate synthetic data."),
    "sdc": ("fivesafes.cli.sdc:app", "Statistical disclosure control of tables."),
    "analyse": ("fivesafes.cli.analyse:app", "Federated statistics: regression and summaries."),
    "audit": (
        "fivesafes.cli.audit:app",
        "Verify a hub's or a node's audit log; sign its head now.",
    ),
    "airlock": (
        "fivesafes.cli.airlock:app",
        "Release requests: compose, submit, review by two output checkers, release.",
    ),
    "study": (
        "fivesafes.cli.study:app",
        "Review studies: design, propose, add cases, allocate, lock, read the results.",
    ),
}
"""Each group's Typer app, and the line ``fivesafes --help`` shows for it (its own help's)."""


def tell(exc: Exception) -> int:
    """Tell ``exc`` to the person at the command line; the exit code to leave with."""
    # imported when an error is told, not at the start: the client and the node's transport
    # bring httpx and cryptography, which most commands and every help never need
    from fivesafes.client import FederationError
    from fivesafes.node.transport import HubRejected
    from fivesafes.protocol.errors import kind_of, public_error

    if isinstance(exc, FederationError | HubRejected):  # the hub's refusal, as the hub said it
        code = exc.code if isinstance(exc, FederationError) else exc.hub_code
        status = exc.status if isinstance(exc, FederationError) else exc.http_status
        return tell_error(code, exc.message, exit_code=kind_of(code, status or 500).exit_code)
    error = public_error(exc)
    message = error.message
    if error is not exc:  # not raised on purpose: its type, never its text
        message = f"{message} ({type(exc).__name__})"
    return tell_error(error.code, message, error.details, exit_code=error.exit_code)


class ErrorBoundary(LazyGroup):
    """The root command: runs the chosen command and tells what it raised (:func:`tell`). Its
    commands, in the order help lists them: the analyses' own (``fivesafes count``), ``demo``,
    then the groups."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        defined_here = dict(self.commands)  # ``demo``
        self.commands = {}
        analyse.top_level(self)
        self.commands.update(defined_here)
        for name, (target, summary) in GROUPS.items():
            self.later(name, summary, group(target, name))

    def invoke(self, ctx: Any) -> Any:
        errors_as_json(False)  # until a command that answers in JSON says otherwise
        try:
            return super().invoke(ctx)
        except _TYPERS_OWN:
            raise
        except Exception as exc:  # noqa: BLE001 - the boundary: every error is told here
            raise typer.Exit(tell(exc)) from None


app = typer.Typer(
    cls=ErrorBoundary,
    help="fivesafes: a federated network of Trusted Research Environments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _fivesafes() -> None:
    """fivesafes: a federated network of Trusted Research Environments."""
    # a group even with one command of its own: the others are added by ErrorBoundary


@app.command()
def demo(
    once: bool = typer.Option(False, "--once", help="Run the demo count and exit."),
    workdir: str | None = typer.Option(None, help="Keep configs, databases and data here."),
    persons: int = typer.Option(5000, help="Synthetic persons per hospital (scaled per site)."),
) -> None:
    """Start a hub and three synthetic hospitals on loopback and run a federated count."""
    from fivesafes.demo.run import run_demo

    raise typer.Exit(run_demo(once=once, workdir=workdir, persons=persons))


@app.command()
def tasks(
    connection: Path = typer.Option(Path("connection.json"), help="Connection file."),
    project: str | None = typer.Option(None, help="Only this project's tasks."),
    limit: int = typer.Option(20, min=1, max=100, help="How many, newest first."),
    offset: int = typer.Option(0, min=0, max=100_000, help="Skip this many newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List your projects' tasks: what each asked, its state and how its nodes answered."""
    import json

    from rich.table import Table

    from fivesafes.client import Federation

    with Federation.from_file(connection) as fed:
        found = fed.tasks(project=project, limit=limit, offset=offset)
    if as_json:
        console.print_json(json.dumps([t.model_dump(mode="json") for t in found]))
        return
    table = Table("task", "asked (UTC)", "project", "what", "state", "nodes",
                  title=f"Tasks ({len(found)}, newest first)")  # fmt: skip
    for t in found:
        nodes = ", ".join(f"{n} {state}" for state, n in sorted(t.nodes.items()))
        table.add_row(t.task_id, t.created_at.strftime("%Y-%m-%d %H:%M"), t.project_id,
                      t.asked, t.state, nodes)  # fmt: skip
    console.print(table)


@app.command()
def nodes(
    connection: Path = typer.Option(Path("connection.json"), help="Connection file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the federation's nodes: online or offline, and when each last polled the hub."""
    import json
    from datetime import UTC, datetime

    from rich.table import Table

    from fivesafes.client import Federation
    from fivesafes.web.when import seen

    with Federation.from_file(connection) as fed:
        found = fed.nodes()
    if as_json:
        console.print_json(json.dumps([n.model_dump(mode="json") for n in found]))
        return
    online = sum(n.online for n in found)
    table = Table("node", "status", "last seen", title=f"Nodes ({online} of {len(found)} online)")
    now = datetime.now(UTC)
    for n in found:
        status = "[green]online[/]" if n.online else "[red]offline[/]"
        table.add_row(n.name, status, seen(n.last_seen_at, now))
    console.print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
