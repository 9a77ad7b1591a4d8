"""``fivesafes node studies …``: review studies this node takes part in (issue 17,
``fivesafes.node.study_approvals``): list them, and approve one's current version as this
node's custodian. The node's modules are imported when the command runs (cli/lazy.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fivesafes.cli.output import console, fail

app = typer.Typer(
    help="Review studies this node takes part in: list them, approve one.", no_args_is_help=True
)
ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The node's TOML configuration.")
]


@app.command("list")
def list_studies(
    config: ConfigOption = Path("node.toml"),
    as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON.")] = False,
) -> None:
    """The review studies this node takes part in, waiting for approval or open."""
    from fivesafes.node import study_approvals
    from fivesafes.node.setup import open_node

    found = study_approvals.listed(open_node(config))
    rows = [
        {"study_id": s.study_id, "project_id": s.project_id, "version": s.version,
         "state": s.state, "title": s.design.title, "lead": s.lead, "digest": s.digest}
        for s in found
    ]  # fmt: skip
    if as_json:
        print(json.dumps(rows))
        return
    if not rows:
        console.print("No review study takes part at this node.")
    for r in rows:
        line = f"{r['study_id']}  {r['state']:<9} version {r['version']}  {r['project_id']}"
        console.print(f"{line}  {r['title']} (lead {r['lead']})", markup=False)


@app.command("approve")
def approve(
    study_id: Annotated[str, typer.Argument(help="The study (st_..., as listed).")],
    by: Annotated[str, typer.Option("--by", help="The custodian approving it.")] = "custodian",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    config: ConfigOption = Path("node.toml"),
) -> None:
    """Show a study's current version as this node received it, and approve it here."""
    from fivesafes.node import study_approvals
    from fivesafes.node.setup import open_node

    service = open_node(config)
    offered = study_approvals.study(service, study_id)
    d = offered.design
    lines = [
        f"{offered.study_id}: {d.title} (version {offered.version}, project {offered.project_id})",
        f"  purpose: {d.purpose}",
        f"  lead: {offered.lead}; nodes: {', '.join(d.nodes)}",
        f"  readers: {', '.join(f'{r.username} ({r.site})' for r in d.readers)}",
        f"  model reviewed: {d.model}; form: {d.form.form_id} version {d.form.version}",
        f"  each case read {d.allocation.reads_per_case} times"
        + ("; never at its own hospital" if d.allocation.exclude_own_site else ""),
        f"  clinical fields shown: {', '.join(d.clinical_fields) or 'none'}",
        f"  digest (computed here): {offered.digest}",
    ]
    for line in lines:
        console.print(line, markup=False, highlight=False)
    if not yes and not typer.confirm("Approve this version of the study for this node?"):
        fail("Not approved.", code=1)
    study_approvals.approve(service, study_id, by=by)
    console.print(f"Approved {study_id} version {offered.version} at {service.name}.")
