"""``fivesafes hub export-crate``: a task's record as a Five Safes RO-Crate (registered on
``fivesafes hub``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fivesafes.cli.output import console

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The hub's TOML configuration.")]


def register(app: typer.Typer) -> None:
    app.command("export-crate")(export_crate_cmd)


def export_crate_cmd(
    task_id: Annotated[str, typer.Argument(help="The task whose record to export.")],
    out: Annotated[Path, typer.Option("--out", help="A new or empty folder to write it to.")],
    config: ConfigOption = Path("hub.toml"),
    by: Annotated[str, typer.Option("--by", help="Who exports (recorded in the audit log).")] = (
        "hub-admin"
    ),
) -> None:
    """Write a task's record (signed request, approvals, runs, released outputs, checksums) as
    a Five Safes RO-Crate folder, signed by the hub's key."""
    # imported when the command runs: the hub's services, which help does not need
    from fivesafes.hub.config import HubConfig
    from fivesafes.hub.crate import export_crate
    from fivesafes.hub.service import HubService
    from fivesafes.protocol.signing import fingerprint, public_key_text
    from fivesafes.settings import load_config

    service = HubService(load_config(config, HubConfig))
    service.start()
    try:
        export = service.unit(
            lambda s: export_crate(
                s, task_id, out, hub_name=service.config.hub.name, key=service.key, by=by
            )
        )
    finally:
        service.stop()
    console.print(f"Wrote the Five Safes RO-Crate of {task_id} to {out}:", highlight=False)
    for file in ["ro-crate-metadata.json", *(f.path for f in export.files)]:
        console.print(f"  {file}", highlight=False)
    console.print(f"Signed by the hub's key {fingerprint(public_key_text(service.key))}.")
