"""``fivesafes pool request`` and ``fivesafes pool list``: a linked project's member asks the
hub for a pool and follows it (``fivesafes.hub.pools``, docs/pool.md). The pool's operator's
own commands are in ``cli/pool.py``, which registers these on the same group."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fivesafes.cli.output import console, fail

ConnectionOption = Annotated[
    Path, typer.Option("--connection", help="Connection file (hub_url, token, project).")
]


def request(
    pool_node: Annotated[str, typer.Option("--pool-node", help="The pool's node name.")],
    send: Annotated[
        list[str],
        typer.Option("--send", help="NODE=var1,var2: what a node sends (repeat per node)."),
    ],
    expires: Annotated[
        str, typer.Option("--expires", help="When the pool's data is destroyed (YYYY-MM-DD).")
    ],
    purpose: Annotated[str, typer.Option("--purpose", help="Why the rows must be together.")],
    project: Annotated[str | None, typer.Option(help="The linked project.")] = None,
    connection: ConnectionOption = Path("connection.json"),
) -> None:
    """Ask for a pool of the linked project's persons: which node sends which catalogue
    variables, to which pool, why, until when. Each node's custodian then approves it at their
    node, and the pool's operator its pool project."""
    from fivesafes.client import Federation
    from fivesafes.client.federation import FederationError

    variables: dict[str, list[str]] = {}
    for given in send:
        node, sep, names = given.partition("=")
        chosen = [n.strip() for n in names.split(",") if n.strip()]
        if not sep or not node or not chosen:
            fail("Each --send is NODE=variable,variable (catalogue names, docs/analyses.md).")
        if node in variables:
            fail("A node is named in two --send options: give each node one.")
        variables[node] = chosen
    with Federation.from_file(connection) as fed:
        try:
            made = fed.ask_for_pool(pool_node=pool_node, variables=variables, expires_on=expires,
                                    purpose=purpose, project=project)  # fmt: skip
        except FederationError as exc:
            fail(str(exc))
    console.print(f"Pool {made['pool_id']} asked for: its analyses run in project "
                  f"{made['pool_project_id']} at {made['pool_node']}; each node's custodian "
                  f"approves it with 'fivesafes node pool approve --pool {made['pool_id']}'.",
                  markup=False)  # fmt: skip
    console.print(f"Digest of its terms: {made['digest']}", markup=False)


def listing(
    project: Annotated[str | None, typer.Option(help="The linked project.")] = None,
    connection: ConnectionOption = Path("connection.json"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """The project's pools: what each node sends, where each stands, what was reported, and
    the certificate of destruction once the pool's data is deleted."""
    from rich.table import Table

    from fivesafes.client import Federation
    from fivesafes.client.federation import FederationError

    with Federation.from_file(connection) as fed:
        try:
            found = fed.pools(project)
        except FederationError as exc:
            fail(str(exc))
    if as_json:
        console.print_json(json.dumps(found))
        return
    table = Table("pool", "pool node", "sends", "state", "destroyed by", "reported",
                  title="Pools of the project")  # fmt: skip
    for pool in found:
        sends = "; ".join(f"{n}: {', '.join(v)}" for n, v in pool["variables"].items())
        reported = ", ".join(f"{r['node']} {r['kind']}" for r in pool["reports"])
        table.add_row(pool["pool_id"], pool["pool_node"], sends, pool["state"],
                      pool["expires_at"][:10], reported)  # fmt: skip
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the researcher's commands to the ``fivesafes pool`` group."""
    app.command("request")(request)
    app.command("list")(listing)
