"""``fivesafes audit …``: verify a hub's or a node's audit log, and sign its head now.

Which service a configuration belongs to is read from the file: ``[hub]`` or ``[node]``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fivesafes.cli.output import console, fail
from fivesafes.protocol.errors import ConfigError

if TYPE_CHECKING:
    from fivesafes.audit.chain import AuditTables
    from fivesafes.audit.checkpoints import Checkpointer
    from fivesafes.audit.verify import AuditReport
    from fivesafes.storage.service import ServiceCore

# The audit log's modules and the services are imported when a command runs, not at the top:
# they bring SQLAlchemy, Alembic and cryptography, which help does not need (cli/lazy.py).

app = typer.Typer(
    help="Verify a hub's or a node's audit log; sign its head now.", no_args_is_help=True
)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The hub's or the node's TOML configuration.")
]


@dataclass
class Audited:
    """A started hub or node service, with what its audit log needs."""

    role: str
    service: ServiceCore
    tables: AuditTables
    witness: Path | None
    checkpointer: Checkpointer


def open_audited(config: Path) -> Audited:
    """Open the hub or the node that ``config`` configures (its ``[hub]`` or ``[node]``)."""
    from fivesafes.settings import load_config

    try:
        sections = tomllib.loads(config.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"No configuration file at {config}.") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Cannot read the configuration at {config}: {exc}") from exc
    if "hub" in sections:
        from fivesafes.hub.config import HubConfig
        from fivesafes.hub.db import AUDIT as HUB_AUDIT
        from fivesafes.hub.service import HubService

        hub = HubService(load_config(config, HubConfig))
        hub.start()
        return Audited("hub", hub, HUB_AUDIT, hub.config.hub.audit_witness_file, hub.checkpointer())
    if "node" in sections:
        from fivesafes.node.config import NodeConfig
        from fivesafes.node.db import AUDIT as NODE_AUDIT
        from fivesafes.node.service import NodeService

        node = NodeService(load_config(config, NodeConfig))
        node.start()
        return Audited(
            "node", node, NODE_AUDIT, node.config.node.audit_witness_file, node.checkpointer()
        )
    raise ConfigError(f"{config} configures neither a hub ([hub]) nor a node ([node]).")


def verify_service(audited: Audited) -> AuditReport:
    """The whole audit log of ``audited`` checked, with every checkpoint (chain and file)."""
    from fivesafes.audit.checkpoints import read_witness
    from fivesafes.audit.verify import verify_audit
    from fivesafes.protocol.signing import public_key_text

    public = public_key_text(audited.service.key)
    witness = list(read_witness(audited.witness)) if audited.witness is not None else []
    return audited.service.read(lambda s: verify_audit(s, audited.tables, public, witness))


def print_report(audited: Audited, report: AuditReport) -> None:
    """Print the verdict; exit 1, naming each problem and where, if the log was tampered with."""
    from fivesafes.protocol.signing import fingerprint, public_key_text

    if not report.ok:
        for problem in report.problems:
            console.print(f"event {problem.seq}: {problem.what}", highlight=False)
        fail(f"audit chain broken at event {report.at_seq}: {report.problem}", code=1)
    key = fingerprint(public_key_text(audited.service.key))
    signed = (
        f"{report.checkpoints} checkpoints signed by key {key}, the newest covering event "
        f"{report.last_checkpoint}"
        if report.last_checkpoint is not None
        else "no checkpoint yet"
    )
    console.print(
        f"[green]audit chain intact[/]: {report.events} events; {signed}; "
        f"{report.witnessed} in the witness file hold",
        highlight=False,
    )


@app.command()
def verify(config: ConfigOption) -> None:
    """Check the audit log: the hash chain and every signed checkpoint (exit 1 where broken)."""
    audited = open_audited(config)
    try:
        print_report(audited, verify_service(audited))
    finally:
        audited.service.stop()


@app.command()
def checkpoint(config: ConfigOption) -> None:
    """Sign the audit chain's head now (if anything was appended since the last checkpoint)."""
    audited = open_audited(config)
    try:
        written = audited.checkpointer.tick(force=True)
    finally:
        audited.service.stop()
    if written is None:
        console.print("Nothing was appended since the last checkpoint; none written.")
    else:
        console.print(
            f"Checkpoint written: event {written.seq}, hash {written.hash[:16]}…, "
            f"signed by the {audited.role}'s key.",
            highlight=False,
        )
