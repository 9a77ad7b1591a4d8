"""``fivesafes node extract …``: the imaging extracts this node built and holds (ADR 0028):
list them, look at one (its report), and, for the node's output checkers, release one into
its project's workspace or withdraw it (its files deleted). The requester may withdraw their
own; nobody releases an extract they asked for.

``--by`` is a node account (an output checker, custodian or TRE admin) or a member of a
project approved here (a researcher, who sees their own extracts only). A refusal is told in
words by the command's one boundary (``cli/main.py``) and exits non-zero, never with a trace.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fivesafes.cli.output import console, errors_as_json

if TYPE_CHECKING:
    from fivesafes.extracts.service import Extracts
    from fivesafes.extracts.store import Extract
    from fivesafes.governance.people import Actor
    from fivesafes.node.service import NodeService

app = typer.Typer(
    help="Imaging extracts built at this node: list, show, release into the project's "
    "workspace, or withdraw.",
    no_args_is_help=True,
)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The node's TOML configuration.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (errors too).")]
ByOption = Annotated[
    str,
    typer.Option("--by", help="Who acts: a node account, or a member of a project approved here."),
]
IdArgument = Annotated[str, typer.Argument(help="The extract (its task's id).")]


def _open(config: Path, by: str) -> tuple[NodeService, Extracts, Actor]:
    from fivesafes.node.airlock import airlock_actor
    from fivesafes.node.extracts import node_extracts
    from fivesafes.node.setup import open_node

    service = open_node(config)
    actor = service.unit(lambda s: airlock_actor(s, by))
    return service, node_extracts(service), actor


def as_dict(extract: Extract) -> dict[str, Any]:
    """An extract as ``--json`` prints it: its record, with how many persons (not who)."""
    when = extract.decided_at.isoformat(timespec="seconds") if extract.decided_at else None
    return {
        "extract_id": extract.extract_id,
        "project_id": extract.project_id,
        "task_id": extract.task_id,
        "requester": extract.requester,
        "state": extract.state.value,
        "options": list(extract.options),
        "folder": extract.folder,
        "report": extract.report,
        "persons": len(extract.persons),
        "created_at": extract.created_at.isoformat(timespec="seconds"),
        "decided_by": extract.decided_by,
        "decided_at": when,
        "reason": extract.reason,
    }


@app.command("list")
def list_extracts(
    by: ByOption,
    project: Annotated[str | None, typer.Option(help="Only this project's.")] = None,
    config: ConfigOption = Path("node.toml"),
    as_json: JsonOption = False,
) -> None:
    """The extracts ``--by`` may see, newest first."""
    from rich.table import Table

    if as_json:
        errors_as_json()
    _, extracts, actor = _open(config, by)
    found = extracts.extracts(by=actor, project_id=project)
    if as_json:
        print(json.dumps([as_dict(e) for e in found]))
        return
    table = Table("extract", "project", "requester", "state", "files written", "persons", "built")
    for e in found:
        table.add_row(
            e.extract_id, e.project_id, e.requester, e.state.value,
            str(e.report.get("written", "")), str(len(e.persons)),
            e.created_at.isoformat(timespec="minutes"),
        )  # fmt: skip
    console.print(table)


@app.command()
def show(
    extract_id: IdArgument,
    by: ByOption,
    config: ConfigOption = Path("node.toml"),
    as_json: JsonOption = False,
) -> None:
    """One extract: its state and its report (files written, rejected by reason, failed
    verification by rule)."""
    if as_json:
        errors_as_json()
    _, extracts, actor = _open(config, by)
    found = as_dict(extracts.extract(extract_id, by=actor))
    if as_json:
        print(json.dumps(found))
        return
    for key, value in found.items():
        shown = json.dumps(value) if isinstance(value, dict | list) else value
        console.print(f"{key}: {shown}", markup=False, highlight=False)


@app.command()
def release(extract_id: IdArgument, by: ByOption, config: ConfigOption = Path("node.toml")) -> None:
    """Release a held extract into its project's workspace (an output checker of this node,
    not its requester)."""
    from fivesafes.extracts.release import release_extract

    service, extracts, actor = _open(config, by)
    done = release_extract(extracts, service.config.imaging.extracts, extract_id, by=actor)
    console.print(
        f"Released extract {done.extract_id} into the workspace of {done.project_id}.",
        markup=False,
    )


@app.command()
def withdraw(
    extract_id: IdArgument,
    by: ByOption,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept and audited).")],
    config: ConfigOption = Path("node.toml"),
) -> None:
    """Withdraw a held extract and delete its files (an output checker of this node, or its
    requester)."""
    from fivesafes.extracts.release import withdraw_extract

    service, extracts, actor = _open(config, by)
    done = withdraw_extract(extracts, service.config.imaging.extracts, extract_id, reason, by=actor)
    console.print(f"Withdrew extract {done.extract_id}; its files are deleted.", markup=False)
