"""``fivesafes node identities …`` and ``fivesafes node linkage …``: a node's identity store
and its copy of the federation's linkage secret (``fivesafes.linkage``, docs/linkage.md).
Both are the operator's, on the node's machine; both are audited in the node's log, with
counts and never a value."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fivesafes.cli.output import console, fail

if TYPE_CHECKING:
    from fivesafes.node.service import NodeService

identities_app = typer.Typer(
    help="The node's identity store: its persons' direct identifiers, kept apart from the "
    "research data, read only by linkage.",
    no_args_is_help=True,
)
linkage_app = typer.Typer(
    help="The federation's linkage secret at this node (the key ceremony, docs/linkage.md).",
    no_args_is_help=True,
)
ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The node's TOML configuration.")
]
ByOption = Annotated[str, typer.Option("--by", help="Who is acting (audited).")]
SHOWN_REFUSALS = 20


@identities_app.command("load")
def load(
    file: Annotated[
        Path,
        typer.Argument(
            help="A CSV file: person_id, nhs_number, given_name, family_name, "
            "date_of_birth, sex, postcode.",
            exists=True,
            dir_okay=False,
        ),
    ],
    config: ConfigOption = Path("node.toml"),
    by: ByOption = "tre-admin",
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Write each refused row's line, field and reason here (CSV; never a value).",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Replace the identity store with the rows of FILE that pass every check (one
    transaction); report the rows refused by line, field and reason."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from fivesafes.audit.chain import append_event
    from fivesafes.audit.events import AuditEventType
    from fivesafes.linkage.identity_store import IdentityFileError, IdentityStore, read_file
    from fivesafes.node.db import AUDIT
    from fivesafes.node.setup import open_node
    from fivesafes.storage.types import utcnow

    service = open_node(config)
    store = IdentityStore(service.config.linkage.identity_store)
    now = utcnow()
    columns = ("Reading", BarColumn(), DownloadColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("read", total=file.stat().st_size)
            kept, done = read_file(file, now.date(), lambda n: bar.advance(task, n))
        store.replace(kept, done, now)
    except IdentityFileError as exc:
        fail(str(exc))
    details = {"rows": done.rows, "kept": done.kept, "refused": len(done.rejected),
               "sha256": done.sha256}  # fmt: skip
    service.unit(lambda s: append_event(s, AUDIT, AuditEventType.IDENTITIES_LOADED, by=by,
                                        node=service.name, details=details))  # fmt: skip
    console.print(f"Identity store replaced at {service.name}: {done.kept} persons kept of "
                  f"{done.rows} rows; {len(done.rejected)} refused.", markup=False)  # fmt: skip
    for (field, reason), count in done.reasons().most_common():
        console.print(f"  {count} refused: {field} {reason}", markup=False)
    for refused in done.rejected[:SHOWN_REFUSALS]:
        console.print(f"  line {refused.line}: {refused.field} {refused.reason}", markup=False)
    if len(done.rejected) > SHOWN_REFUSALS:
        console.print(f"  … and {len(done.rejected) - SHOWN_REFUSALS} more (--report FILE "
                      "writes them all)", markup=False)  # fmt: skip
    if report is not None:
        with report.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(("line", "field", "reason"))
            writer.writerows((r.line, r.field, r.reason) for r in done.rejected)


@identities_app.command("status")
def status(config: ConfigOption = Path("node.toml")) -> None:
    """Counts only: persons held, with an NHS number, with a postcode; the last load."""
    from fivesafes.linkage.identity_store import IdentityStore
    from fivesafes.node.config import NodeConfig
    from fivesafes.settings import load_config

    path = load_config(config, NodeConfig).linkage.identity_store
    if not path.is_file():
        console.print("No identity store yet: load one with 'fivesafes node identities load'.")
        return
    found = IdentityStore(path).status()
    console.print(f"Identity store: {found['persons']} persons, {found['with_nhs_number']} with "
                  f"an NHS number, {found['with_postcode']} with a postcode.")  # fmt: skip
    last = found["last_load"]
    if isinstance(last, dict):
        console.print(f"Last loaded {last['at']}: {last['kept']} kept of {last['rows']} rows, "
                      f"{last['rejected']} refused (file SHA-256 {last['sha256']}).")  # fmt: skip


@linkage_app.command("make-secret")
def make_secret(config: ConfigOption = Path("node.toml"), by: ByOption = "custodian") -> None:
    """Make the federation's linkage secret here (once, at one node; its custodians carry a
    copy to each other node: docs/linkage.md, "The key ceremony")."""
    from fivesafes.audit.chain import append_event
    from fivesafes.audit.events import AuditEventType
    from fivesafes.linkage.tokens import SecretError
    from fivesafes.linkage.tokens import make_secret as make
    from fivesafes.node.db import AUDIT
    from fivesafes.node.setup import open_node

    service = open_node(config)
    path = service.config.linkage.secret_file
    try:
        make(path)
    except SecretError as exc:
        fail(str(exc))
    service.unit(lambda s: append_event(s, AUDIT, AuditEventType.LINKAGE_SECRET_MADE, by=by,
                                        node=service.name, details={}))  # fmt: skip
    console.print(f"A linkage secret was made at {path} (mode 600).", markup=False)


@linkage_app.command("fingerprint")
def fingerprint(
    project: Annotated[str, typer.Option("--project", help="The project's id.")],
    config: ConfigOption = Path("node.toml"),
) -> None:
    """The fingerprint of the project's token key: the same at every node that holds the same
    secret (compare them at the key ceremony); it reveals neither the key nor the secret."""
    from fivesafes.linkage.tokens import SecretError, project_key, read_secret
    from fivesafes.linkage.tokens import fingerprint as of
    from fivesafes.node.config import NodeConfig
    from fivesafes.settings import load_config

    path = load_config(config, NodeConfig).linkage.secret_file
    try:
        secret = read_secret(path)
    except SecretError as exc:
        fail(str(exc))
    console.print(of(project_key(secret, project)))


ProjectOption = Annotated[str, typer.Option("--project", help="The project's id.")]


def _persons_in_data(service: NodeService) -> set[int]:
    """The persons of the node's data as every query sees them (opted-out persons are gone)."""
    from fivesafes.data.engines import open_omop

    db = open_omop(service.config.data)
    try:
        column = db.table("person").select("person_id").to_pyarrow().column("person_id")
        return {int(p) for p in column.to_pylist()}
    finally:
        db.close()


@linkage_app.command("push")
def push(
    project: ProjectOption,
    config: ConfigOption = Path("node.toml"),
    by: ByOption = "custodian",
) -> None:
    """Send the project's linkage tokens and hardened Bloom-filter encodings of this node's
    persons to the hub's linkage unit: for a project whose terms ask for linkage across its
    nodes, approved here. Each person is sent under a random reference; opted-out persons are
    not sent."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress

    from fivesafes.linkage.encodings import clk
    from fivesafes.linkage.identity_store import IdentityStore
    from fivesafes.linkage.tokens import SecretError, fingerprint, project_key, read_secret, tokens
    from fivesafes.node import linkage as node_linkage
    from fivesafes.node.setup import open_node
    from fivesafes.protocol.errors import FivesafesError

    service = open_node(config)
    try:
        node_linkage.check_project(service, project)
        key = project_key(read_secret(service.config.linkage.secret_file), project)
        path = service.config.linkage.identity_store
        if not path.is_file():
            fail("There is no identity store here: load one with 'fivesafes node identities load'.")
        persons = _persons_in_data(service)
        # every person's encoding, not only those without an NHS number: a number mistyped at
        # one hospital, or a date of birth written wrong, leaves no token to link on either
        records = [(p.person_id, tokens(p, key), clk(p, key))
                   for p in IdentityStore(path).identities() if p.person_id in persons]  # fmt: skip
        with Progress("Sending", BarColumn(), MofNCompleteColumn(), console=console,
                      transient=True) as bar:  # fmt: skip
            task = bar.add_task("send", total=len(records))
            state = node_linkage.push(service, project, fingerprint(key), records, by=by,
                                      progress=lambda n: bar.advance(task, n))  # fmt: skip
    except (FivesafesError, SecretError) as exc:
        fail(exc.message if isinstance(exc, FivesafesError) else str(exc))
    console.print(f"Sent the tokens and encodings of {len(records)} persons for {project}.",
                  markup=False)  # fmt: skip
    if state.state == "linking":
        console.print("Every node has sent: the hub is linking them. Fetch this node's link ids "
                      "with 'fivesafes node linkage pull' (it waits for the hub).")  # fmt: skip
    elif state.state == "refused":
        fail(state.note)
    else:
        console.print(f"Waiting for: {', '.join(state.waiting_for)}.", markup=False)


@linkage_app.command("pull")
def pull(
    project: ProjectOption,
    config: ConfigOption = Path("node.toml"),
    by: ByOption = "custodian",
    wait: Annotated[
        int,
        typer.Option(
            min=0, max=86_400, help="Seconds to wait while the hub is still linking (0: do not)."
        ),
    ] = 600,
) -> None:
    """Keep this node's link ids for the project (its persons linked at another node), once
    every node has sent and the hub has linked them (waiting up to --wait seconds while it
    links); the hub then deletes them."""
    from fivesafes.linkage.tokens import SecretError, blinding, project_key, read_secret
    from fivesafes.node import linkage as node_linkage
    from fivesafes.node.setup import open_node
    from fivesafes.protocol.errors import FivesafesError

    service = open_node(config)
    try:
        key = project_key(read_secret(service.config.linkage.secret_file), project)
    except SecretError as exc:
        fail(str(exc))
    try:
        with console.status("The hub is linking: waiting for it") as waiting:
            waiting.stop()  # shown only once the hub says it is still linking
            kept = node_linkage.pull(service, project, lambda link: blinding(key, link), by=by,
                                     wait_seconds=wait, on_wait=waiting.start)  # fmt: skip
    except FivesafesError as exc:
        fail(exc.message)
    console.print(f"{kept} persons here are linked in {project}: their link ids are kept.",
                  markup=False)  # fmt: skip
