"""``fivesafes node portal``: the node's web portal for its custodians and TRE admins, a
process of its own (the agent never listens), on loopback unless ``[portal]`` says otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fivesafes.cli.output import console

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The node's TOML configuration.")
]


def register(app: typer.Typer) -> None:
    app.command("portal")(portal)


def portal(
    config: ConfigOption = Path("node.toml"),
    host: Annotated[
        str | None,
        typer.Option(
            help="Listen here instead of [portal] host (loopback, or the configured one)."
        ),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Listen on this port instead of [portal] port.")
    ] = None,
) -> None:
    """Serve the node portal (approvals, audit explorer, patient data account) until
    interrupted."""
    from fivesafes.node.config import NodeConfig  # SQLAlchemy: imported when the command runs
    from fivesafes.node.portal.server import serve  # FastAPI and uvicorn: only this command
    from fivesafes.node.portal_settings import check_bind
    from fivesafes.settings import load_config

    parsed = load_config(config, NodeConfig)
    settings = parsed.portal
    where = host or settings.host
    check_bind(where, configured=settings.host, allow_public_bind=settings.allow_public_bind)
    scheme = "https" if settings.tls else "http"
    shown = f"[{where}]" if ":" in where else where
    listen = settings.port if port is None else port
    console.print(f"Node {parsed.node.name} portal on {scheme}://{shown}:{listen}/")
    serve(parsed, host=host, port=port)
