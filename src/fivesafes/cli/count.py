"""``fivesafes count``: a federated cohort count from the shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fivesafes.cli.output import console
from fivesafes.client import CountResult, Federation


def render(result: CountResult) -> Table:
    table = Table(
        "node",
        "count",
        "disclosure gate",
        "status",
        title=f"Federated count (task {result.task_id})",
    )
    for n in result.nodes:
        status = n.state if n.reason is None else f"{n.state}: {n.message or n.reason}"
        colour = "green" if n.state == "succeeded" else "yellow" if n.state == "refused" else "red"
        table.add_row(n.node, n.display, n.rule or "", f"[{colour}]{status}[/]")
    total = "suppressed" if result.total_suppressed else str(result.total)
    note = ""
    if result.nodes_suppressed:
        note = f"excludes suppressed: {', '.join(result.nodes_suppressed)}"
    table.add_row("[bold]TOTAL[/]", f"[bold]{total}[/]", result.total_rule or "", note)
    return table


def count(
    cohort: Annotated[
        Path, typer.Option(help="Cohort definition (JSON).", exists=True, dir_okay=False)
    ],
    connection: Annotated[
        Path, typer.Option(help="Connection file (hub URL, token, project).")
    ] = Path("connection.json"),
    project: Annotated[
        str | None, typer.Option(help="Project id (default: the connection's).")
    ] = None,
    node: Annotated[list[str] | None, typer.Option(help="Only these nodes (repeat).")] = None,
    timeout: Annotated[int, typer.Option(help="Seconds to wait for every node.")] = 120,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Count distinct persons in a cohort at every node, after disclosure control."""
    with Federation.from_file(connection) as fed:
        result = fed.count(cohort, project=project, nodes=node or None, timeout=timeout)
    if as_json:
        console.print_json(
            json.dumps(
                {
                    "task_id": result.task_id,
                    "total": result.total,
                    "total_suppressed": result.total_suppressed,
                    "nodes": [n.__dict__ for n in result.nodes],
                }
            )
        )
    else:
        console.print(render(result))
