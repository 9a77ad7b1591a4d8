"""``fivesafes node opt-out …``: the node's opt-out list (``fivesafes.data.opt_out``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fivesafes.cli.output import console, fail

app = typer.Typer(
    help="The node's opt-out list: persons used in no cohort and no analysis.",
    no_args_is_help=True,
)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The node's TOML configuration.")
]


@app.command()
def load(
    file: Annotated[
        Path, typer.Argument(help="One person_id per line.", exists=True, dir_okay=False)
    ],
    config: ConfigOption = Path("node.toml"),
    by: Annotated[str, typer.Option("--by", help="Who is acting (audited).")] = "tre-admin",
) -> None:
    """Replace the opt-out list in the node's data source with the persons in FILE (one
    transaction), and record it in the node's audit log."""
    from fivesafes.audit.chain import append_event
    from fivesafes.audit.events import AuditEventType
    from fivesafes.data.opt_out import OptOutFileError, read_opt_out_file, replace_opt_outs
    from fivesafes.node.db import AUDIT
    from fivesafes.node.setup import open_node

    service = open_node(config)
    try:
        opt_outs = read_opt_out_file(file)
    except OptOutFileError as exc:
        fail(str(exc))
    persons = replace_opt_outs(service.config.data, opt_outs)
    service.unit(
        lambda s: append_event(
            s,
            AUDIT,
            AuditEventType.OPT_OUTS_REPLACED,
            by=by,
            node=service.name,
            details={"persons": persons},
        )
    )
    console.print(f"Opt-out list replaced at {service.name}: {persons} persons.")


@app.command()
def show(config: ConfigOption = Path("node.toml")) -> None:
    """How many persons the node's opt-out list holds."""
    from fivesafes.data.opt_out import count_opt_outs
    from fivesafes.node.config import NodeConfig
    from fivesafes.settings import load_config

    persons = count_opt_outs(load_config(config, NodeConfig).data)
    if persons is None:
        console.print("No opt-out list: every person in the data source can be used.")
    else:
        console.print(f"Opt-out list: {persons} persons are used in no cohort and no analysis.")
