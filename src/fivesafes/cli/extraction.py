"""``fivesafes node extraction …``: a custodian's extraction approvals at this node
(``fivesafes.extracts``, ADR 0028): approve extraction for a project with the
de-identification options allowed, revoke it, list the decisions.

The node's modules are imported when a command runs, not at the top (cli/lazy.py). A refusal
(no permission, a project this node has not approved, an unknown option) is told in words by
the command's one boundary (``cli/main.py``) and exits non-zero, never with a trace.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fivesafes.cli.output import console, errors_as_json

if TYPE_CHECKING:
    from fivesafes.extracts.service import Extracts
    from fivesafes.extracts.store import Decision
    from fivesafes.governance.people import Actor
    from fivesafes.node.service import NodeService

app = typer.Typer(
    help="Extraction approvals: which projects may have imaging extracts built at this node, "
    "and with which de-identification options.",
    no_args_is_help=True,
)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The node's TOML configuration.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (errors too).")]


def _open(config: Path) -> tuple[NodeService, Extracts]:
    from fivesafes.node.extracts import node_extracts
    from fivesafes.node.setup import open_node

    service = open_node(config)
    return service, node_extracts(service)


def _actor(service: NodeService, by: str) -> Actor:
    from fivesafes.node.accounts import acting

    return service.unit(lambda s: acting(s, by, service.name))


def _as_dict(decision: Decision) -> dict[str, Any]:
    return {
        "project_id": decision.project_id,
        "seq": decision.seq,
        "state": decision.state.value,
        "profile": decision.profile,
        "options": list(decision.options),
        "decided_by": decision.decided_by,
        "decided_at": decision.decided_at.isoformat(timespec="seconds"),
        "reason": decision.reason,
    }


def _options_text(decision: Decision) -> str:
    return ", ".join(decision.options) or "none (the Basic Profile alone)"


@app.command()
def approve(
    project_id: Annotated[str, typer.Argument(help="The project, approved at this node.")],
    by: Annotated[
        str, typer.Option("--by", help="The custodian deciding: their account at this node.")
    ],
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            help="A de-identification option allowed, e.g. retain-modified-dates (repeat; "
            "none: the Basic Profile alone).",
        ),
    ] = None,
    config: ConfigOption = Path("node.toml"),
) -> None:
    """Approve extraction for a project this node approved: extracts are built under the Basic
    Profile with at most the options named."""
    service, extracts = _open(config)
    decision = extracts.approve(project_id, option or [], by=_actor(service, by))
    console.print(
        f"Extraction approved for {project_id} at {service.name}: profile {decision.profile}, "
        f"options {_options_text(decision)}.",
        markup=False,
        highlight=False,
    )


@app.command()
def revoke(
    project_id: Annotated[str, typer.Argument(help="The project.")],
    by: Annotated[
        str,
        typer.Option("--by", help="A custodian or TRE admin of this node (their account)."),
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept and audited).")],
    config: ConfigOption = Path("node.toml"),
) -> None:
    """Revoke extraction for a project: no extract of it is built here from now on."""
    service, extracts = _open(config)
    extracts.revoke(project_id, reason, by=_actor(service, by))
    console.print(f"Extraction revoked for {project_id} at {service.name}.", markup=False)


@app.command("list")
def list_decisions(config: ConfigOption = Path("node.toml"), as_json: JsonOption = False) -> None:
    """List each project's current extraction decision at this node."""
    from rich.table import Table

    if as_json:
        errors_as_json()
    _, extracts = _open(config)
    rows = extracts.current()
    if as_json:
        print(json.dumps([_as_dict(d) for d in rows]))
        return
    table = Table("project", "state", "profile", "options", "decided by", "decided at", "reason")
    for d in rows:
        table.add_row(
            d.project_id, d.state.value, d.profile, _options_text(d), d.decided_by,
            d.decided_at.isoformat(timespec="seconds"), d.reason or "",
        )  # fmt: skip
    console.print(table)
