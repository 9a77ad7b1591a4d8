"""``fivesafes node …`` for the node's own people: custodians, TRE admins and output checkers
have accounts in the node's database (the node's custodian portal logs in there, never at
the hub). The TRE admin runs these on the node machine."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fivesafes.cli import accounts
from fivesafes.cli.output import console
from fivesafes.governance.roles import node_scope

if TYPE_CHECKING:
    from fivesafes.node.service import NodeService

ADMIN = "tre-admin"
ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The node's TOML configuration.")
]


def open_node(config: Path) -> NodeService:
    # imported when a command runs: the node's services, which help does not need
    from fivesafes.node.setup import open_node

    return open_node(config)


def register(app: typer.Typer) -> None:
    app.command("add-user")(add_user)

    accounts.register(
        app,
        kind="node",
        default_config=Path("node.toml"),
        open_service=open_node,
        scope_of=lambda service: node_scope(service.name),
        by=ADMIN,
    )


def add_user(
    username: str,
    role: Annotated[
        list[str], typer.Option(help="custodian, tre_admin or output_checker (repeat).")
    ],
    config: ConfigOption = Path("node.toml"),
    display_name: Annotated[str | None, typer.Option("--name", help="Full name.")] = None,
    organisation: Annotated[
        str | None, typer.Option(help="The organisation the person belongs to.")
    ] = None,
) -> None:
    """Create an account at this node (its custodians, TRE admins and output checkers)."""
    from fivesafes.node.accounts import create_node_user

    service = open_node(config)
    account = service.unit(
        lambda s: create_node_user(
            s,
            node=service.name,
            username=username,
            display_name=display_name or username,
            roles=role,
            organisation=organisation,
            by=ADMIN,
        )
    )
    roles = ", ".join(str(g) for g in sorted(account.grants))
    console.print(f"Created {username} ({roles}).")
