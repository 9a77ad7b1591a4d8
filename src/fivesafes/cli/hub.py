"""``fivesafes hub …``: set up, run and administer a hub."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fivesafes.cli import crate, hub_people
from fivesafes.cli.gate_options import ProfileOption, RoundingBaseOption, ThresholdOption
from fivesafes.cli.output import console, report_new_key

if TYPE_CHECKING:
    from fivesafes.hub.service import HubService

# Each command imports the hub's modules when it runs, not at the top: they bring SQLAlchemy,
# Alembic and the hub's services, which ``fivesafes hub --help`` does not need (cli/lazy.py).

app = typer.Typer(help="Set up, run and administer a hub.", no_args_is_help=True)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The hub's TOML configuration.", exists=False)
]
ADMIN = "hub-admin"


def _service(config: Path) -> HubService:
    return hub_people.open_hub(config)


@app.command()
def init(
    directory: Annotated[
        Path, typer.Option("--dir", help="Folder for hub.toml and the key.")
    ] = Path("."),
    name: Annotated[str, typer.Option(help="The hub's name.")] = "hub",
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8700,
    database_url: Annotated[
        str, typer.Option(help="SQLAlchemy URL of the hub database.")
    ] = "sqlite:///hub.db",
    tls_cert: Annotated[
        Path | None, typer.Option(help="TLS certificate (PEM) to serve HTTPS.")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    profile: ProfileOption = "default",
    threshold: ThresholdOption = None,
    rounding_base: RoundingBaseOption = None,
) -> None:
    """Write hub.toml and a new Ed25519 signing key, and create the hub database."""
    from fivesafes.hub.setup import init_hub

    config = init_hub(
        directory,
        name=name,
        host=host,
        port=port,
        database_url=database_url,
        tls_cert=tls_cert,
        tls_key=tls_key,
        profile=profile,
        threshold=threshold,
        rounding_base=rounding_base,
    )
    report_new_key(directory / "hub.toml", config.hub.key_file, "Hub")


@app.command()
def serve(config: ConfigOption = Path("hub.toml")) -> None:
    """Run the hub's HTTP(S) API until interrupted."""
    from fivesafes.hub.config import HubConfig
    from fivesafes.hub.server import serve as run_server
    from fivesafes.settings import load_config

    run_server(load_config(config, HubConfig))


@app.command("enrol-node")
def enrol_node(
    node_name: Annotated[str, typer.Argument(help="The node's name, as in its node.toml.")],
    config: ConfigOption = Path("hub.toml"),
    valid_hours: Annotated[int, typer.Option(help="How long the token stays valid.")] = 24,
) -> None:
    """Issue a one-time enrolment token for a node."""
    from fivesafes.hub.enrolment import issue_enrolment_token

    service = _service(config)
    token = service.unit(
        lambda s: issue_enrolment_token(
            s, node_name=node_name, lifetime=timedelta(hours=valid_hours), by=ADMIN
        )
    )
    console.print(f"Enrolment token for {node_name} (valid {valid_hours} h, usable once):")
    console.print(token, highlight=False, soft_wrap=True)
    console.print(f"Hub key fingerprint: {service.info.fingerprint}")


@app.command()
def nodes(config: ConfigOption = Path("hub.toml")) -> None:
    """List enrolled nodes and whether each is online."""
    from fivesafes.hub.enrolment import node_views
    from fivesafes.storage.types import utcnow
    from fivesafes.web.when import seen

    service = _service(config)
    now = utcnow()
    views = service.unit(lambda s: node_views(s, now, service.offline_after))
    table = Table("node", "status", "last seen", "key fingerprint")
    for node in views:
        table.add_row(
            node.name,
            "[green]online[/]" if node.online else "[red]offline[/]",
            seen(node.last_seen_at, now),
            node.fingerprint,
        )
    console.print(table)


@app.command("verify-audit")
def verify_audit(config: ConfigOption = Path("hub.toml")) -> None:
    """Check the hub's audit log: the hash chain and every signed checkpoint (the same as
    ``fivesafes audit verify``)."""
    from fivesafes.cli.audit import open_audited, print_report, verify_service

    audited = open_audited(config)
    try:
        print_report(audited, verify_service(audited))
    finally:
        audited.service.stop()


hub_people.register(app)  # people, organisations, tokens and projects (cli/hub_people.py)
crate.register(app)  # a task's record as a Five Safes RO-Crate (cli/crate.py)
