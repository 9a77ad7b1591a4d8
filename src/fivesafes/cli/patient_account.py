"""``fivesafes node patient-account | pseudonym-key | pseudonymise``: the patient data account
at a node, and the pseudonym key it maps identifiers with (registered on ``fivesafes node``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fivesafes.cli.output import console, fail
from fivesafes.protocol.errors import InvalidRequest

if TYPE_CHECKING:
    from fivesafes.node.patient_account import PatientAccount

# Each command imports the node's modules when it runs, not at the top: they bring SQLAlchemy
# and the node's services, which ``fivesafes node --help`` does not need (cli/lazy.py).

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The node's TOML configuration.")
]


def register(app: typer.Typer) -> None:
    app.command("patient-account")(patient_account_cmd)
    app.command("pseudonym-key")(pseudonym_key)
    app.command("pseudonymise")(pseudonymise)


def patient_account_cmd(
    by: Annotated[str, typer.Option("--by", help="Who is looking (recorded in the audit log).")],
    identifier: Annotated[
        str | None,
        typer.Option(help="The person's identifier, e.g. an NHS number; '-' reads it from stdin."),
    ] = None,
    person_id: Annotated[
        int | None, typer.Option(help="The person's OMOP person_id in this node's data.")
    ] = None,
    config: ConfigOption = Path("node.toml"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The projects in which one person's record contributed to an output this node released
    (from its released person sets; audited)."""
    from fivesafes.node.patient_account import patient_account
    from fivesafes.node.setup import open_node

    if identifier == "-":
        identifier = sys.stdin.readline().rstrip("\n")
    if (identifier is None) == (person_id is None):
        fail("Name the person with --identifier or with --person-id (one of them).")
    service = open_node(config)
    try:
        account = patient_account(service, by=by, identifier=identifier, person_id=person_id)
    finally:
        service.stop()
    if as_json:
        console.print_json(json.dumps(account.to_json()))
    else:
        _print(account)


def _print(account: PatientAccount) -> None:
    if not account.found:
        console.print(f"No person with this identifier in the data of {account.node}.")
        return
    for linked in account.linked:
        console.print(f"Linked to their record at another hospital in {linked.project_id} "
                      f"({linked.title or 'no approval record'}: "
                      f"{linked.purpose or 'purpose not recorded'}).", markup=False)  # fmt: skip
    for pool in account.pools:
        sent = f"{pool['sent_at']:%Y-%m-%d}" if pool["sent_at"] else "not sent"
        until = f"{pool['expires_at']:%Y-%m-%d}"
        console.print(f"Rows sent to pool {pool['pool_id']} of {pool['project_id']} "
                      f"({pool['title'] or 'no approval record'}) on {sent}, to be destroyed by "
                      f"{until} ({pool['state']}).", markup=False)  # fmt: skip
    if not account.projects:
        console.print(
            f"This person's record has not contributed to any output {account.node} released."
        )
        return
    title = f"Released outputs at {account.node} using this record"
    columns = ("project", "title", "purpose", "dates", "outputs", "analyses", "released")
    table = Table(*columns, "approval", title=title)
    for p in account.projects:
        dates = f"{p.start_date} to {p.end_date}" if p.start_date else ""
        released = f"{p.first_release:%Y-%m-%d} to {p.last_release:%Y-%m-%d}"
        table.add_row(
            p.project_id, p.title or "(no approval record)", p.purpose or "(not recorded)",
            dates, str(p.outputs), ", ".join(p.analyses), released, p.approval or "",
        )  # fmt: skip
    console.print(table)


def pseudonym_key(config: ConfigOption = Path("node.toml")) -> None:
    """Create the node's pseudonym key (pseudonym_key_file): 32 random bytes, mode 600."""
    from fivesafes.node import pseudonyms
    from fivesafes.node.config import NodeConfig
    from fivesafes.settings import load_config

    path = load_config(config, NodeConfig).node.pseudonym_key_file
    pseudonyms.create_key(path)
    console.print(f"Wrote a new pseudonym key to {path}. Keep it secret and back it up: the")
    console.print("pipeline that loads the CDM needs the same key ('fivesafes node pseudonymise').")


def pseudonymise(
    source: Annotated[
        str, typer.Argument(help="A file of identifiers, one a line; '-' for standard input.")
    ] = "-",
    config: ConfigOption = Path("node.toml"),
) -> None:
    """Print each identifier's pseudonym, one a line in the same order: the value to load into
    person.person_source_value at ingest."""
    from fivesafes.node import pseudonyms
    from fivesafes.node.config import NodeConfig
    from fivesafes.settings import load_config

    key = pseudonyms.load_key(load_config(config, NodeConfig).node.pseudonym_key_file)
    try:
        handle = sys.stdin if source == "-" else Path(source).open(encoding="utf-8")  # noqa: SIM115
    except OSError:
        fail(f"Cannot read {source}.")
    with handle:
        for number, line in enumerate(handle, start=1):
            try:
                sys.stdout.write(pseudonyms.pseudonym(line.rstrip("\r\n"), key) + "\n")
            except InvalidRequest:
                fail(f"Line {number} is not an identifier (1 to 200 printable characters).")
