"""``fivesafes node …``: set up and run a node, and the custodian's commands."""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from fivesafes.cli import (
    extraction,
    extracts,
    imaging,
    imaging_deid,
    linkage,
    node_people,
    node_portal,
    opt_out,
    patient_account,
    pool_node,
    slides,
    studies,
)
from fivesafes.cli.gate_options import ProfileOption, RoundingBaseOption, ThresholdOption
from fivesafes.cli.output import console, fail, report_new_key

if TYPE_CHECKING:
    from fivesafes.node.service import NodeService
    from fivesafes.protocol.models import ProjectRecord

# Each command imports the node's modules when it runs, not at the top: they bring SQLAlchemy,
# Alembic and the node's services, which ``fivesafes node --help`` does not need (cli/lazy.py).

app = typer.Typer(
    help="Set up and run a node; approve projects as its custodian.", no_args_is_help=True
)
app.add_typer(opt_out.app, name="opt-out")
app.add_typer(extraction.app, name="extraction")  # extraction approvals (cli/extraction.py)
app.add_typer(extracts.app, name="extract")  # extracts built here (cli/extracts.py)
app.add_typer(slides.app, name="slides")  # whole-slide images (cli/slides.py)
app.add_typer(studies.app, name="studies")  # review studies here (cli/studies.py)
app.add_typer(imaging.app, name="imaging")  # the imaging index (cli/imaging.py)
app.add_typer(linkage.identities_app, name="identities")  # the identity store (cli/linkage.py)
app.add_typer(linkage.linkage_app, name="linkage")  # the linkage secret (cli/linkage.py)
app.add_typer(pool_node.app, name="pool")  # pools this node sends to (cli/pool_node.py)
imaging.app.command("deid")(imaging_deid.deid)  # de-identification (cli/imaging_deid.py)
node_people.register(app)  # the node's own accounts (cli/node_people.py)
patient_account.register(app)  # the patient data account (cli/patient_account.py)
node_portal.register(app)  # the node's web portal (cli/node_portal.py)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The node's TOML configuration.")
]
ByOption = Annotated[str, typer.Option("--by", help="Who is acting (recorded in the audit log).")]


def _service(config: Path) -> NodeService:
    from fivesafes.node.setup import open_node

    return open_node(config)


@app.command()
def init(
    name: Annotated[str, typer.Option(help="The node's name (lower case, digits, hyphens).")],
    hub_url: Annotated[str, typer.Option(help="The hub's URL (https, or http on loopback).")],
    directory: Annotated[
        Path, typer.Option("--dir", help="Folder for node.toml and the key.")
    ] = Path("."),
    data: Annotated[Path | None, typer.Option(help="OMOP CDM DuckDB file.")] = None,
    pg_url: Annotated[str | None, typer.Option(help="OMOP CDM in PostgreSQL: libpq URL.")] = None,
    pg_schema: Annotated[str, typer.Option(help="OMOP CDM schema in PostgreSQL.")] = "cdm",
    database_url: Annotated[
        str, typer.Option(help="Node state database URL.")
    ] = "sqlite:///node.db",
    profile: ProfileOption = "default",
    threshold: ThresholdOption = None,
    rounding_base: RoundingBaseOption = None,
    allow_insecure_http: Annotated[
        bool, typer.Option(help="Allow plain HTTP to a non-loopback hub.")
    ] = False,
    ca_file: Annotated[
        Path | None, typer.Option(help="CA bundle that signed the hub's certificate.")
    ] = None,
) -> None:
    """Write node.toml and a new Ed25519 key."""
    from fivesafes.node.setup import init_node

    if (data is None) == (pg_url is None):
        fail("Give the node's data as either --data FILE.duckdb or --pg-url URL.")
    source: dict[str, object] = (
        {"engine": "duckdb", "path": str(data.resolve())}
        if data is not None
        else {"engine": "postgres", "url": pg_url, "schema": pg_schema}
    )
    config = init_node(
        directory,
        name=name,
        hub_url=hub_url,
        data=source,
        database_url=database_url,
        profile=profile,
        threshold=threshold,
        rounding_base=rounding_base,
        allow_insecure_http=allow_insecure_http,
        ca_file=ca_file,
    )
    report_new_key(directory / "node.toml", config.node.key_file, "Node")


@app.command()
def enrol(
    token: Annotated[str, typer.Option(help="The one-time token from 'fivesafes hub enrol-node'.")],
    config: ConfigOption = Path("node.toml"),
    expect_fingerprint: Annotated[
        str | None, typer.Option(help="Refuse unless the hub's key has this fingerprint.")
    ] = None,
) -> None:
    """Exchange an enrolment token for this node's registration and pin the hub's key."""
    from fivesafes.node import setup

    service = _service(config)
    hub_fingerprint = setup.enrol(service, token, expect_fingerprint)
    console.print(f"Enrolled {service.name}; trusting hub key {hub_fingerprint}.")


@app.command()
def serve(config: ConfigOption = Path("node.toml")) -> None:
    """Run the node agent: pull work from the hub until interrupted (never listens)."""
    service = _service(config)
    try:
        run_agent(service, config, f"Node {service.name} polling {service.config.node.hub_url}.")
    finally:
        service.stop()


def run_agent(service: NodeService, config: Path, greeting: str, *, pooled: bool = False) -> None:
    """Run ``service``'s agent until SIGTERM or SIGINT, signing audit checkpoints meanwhile
    (``fivesafes node serve``; ``fivesafes pool serve`` runs the pool's agent with it,
    ``pooled``: a cohort naming a calendar date is refused there). The caller starts and stops
    the service."""
    from fivesafes.node.agent import Agent  # heavy (Ibis): only the agent needs it
    from fivesafes.node.runners import ProcessRunner, WorkerSpec

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    registration = service.registration()
    transport = service.transport()
    agent = Agent(
        name=service.name,
        key=service.key,
        hub_public_key=registration.hub_public_key,
        unit=service.unit,
        transport=transport,
        runner=ProcessRunner(
            WorkerSpec(
                data=service.config.data,
                database_url=service.config.node.database_url,
                profile=service.config.profile,
                memory_mb=service.config.node.run_memory_mb,
                config_file=str(config.resolve()),
                node=service.name,
            )
        ),
        poll_wait=service.config.node.poll_wait_seconds,
        retry_max=service.config.node.retry_max_seconds,
        run_limit=service.config.node.run_limit_seconds,
        pooled=pooled,
    )
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    console.print(greeting)
    checkpoints = service.checkpointer()
    checkpoints.start()
    try:
        agent.run_forever(stop)
    except KeyboardInterrupt:
        agent.close()
    finally:
        transport.close()
        checkpoints.stop()


ByCustodian = Annotated[
    str, typer.Option("--by", help="The custodian deciding: their account at this node.")
]


def _show_record(record: ProjectRecord) -> None:
    from fivesafes.governance.risk import tier_of

    tier = tier_of(record)
    people = {p.username: p for p in record.people}
    console.print(
        f"[bold]{escape(record.title)}[/] ({record.project_id}, version {record.version})"
    )
    lines = [
        f"  PI:        {record.pi or '(none)'}",
        f"  dates:     {record.start_date} to {record.end_date}",
        f"  nodes:     {', '.join(record.nodes)}",
        f"  domains:   {', '.join(d.value for d in record.data_domains)}",
        f"  analyses:  {', '.join(record.analyses)}",
        f"  data:      {record.sensitivity.value} sensitivity, linkage {record.linkage.value}",
        f"  purpose:   {record.purpose or '(not given)'}",
        f"  benefit:   {record.public_benefit or '(not given)'}",
        f"  summary:   {record.lay_summary or '(not given)'}",
        "  members:",
    ]
    for member in record.members:
        person = people.get(member)
        accredited = person.accredited_until if person else None
        where = (person.organisation if person else None) or "organisation not recorded"
        lines.append(f"    {member} ({where}), accredited until {accredited or 'not recorded'}")
    lines.append(f"  risk tier: {tier.tier} (as this node computes it)")
    lines.extend(f"    - {reason}" for reason in tier.explain())
    for line in lines:
        console.print(line, markup=False, highlight=False)


@app.command()
def approve(
    project_id: str,
    by: ByCustodian,
    config: ConfigOption = Path("node.toml"),
    analysis: Annotated[
        list[str] | None,
        typer.Option(help="Allow only this analysis here, e.g. count@1 (repeat; default all)."),
    ] = None,
    all_outputs_to_airlock: Annotated[
        bool,
        typer.Option(
            "--all-outputs-to-airlock",
            help="Hold every output of the project for an output checker.",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Review a project's signed record from the hub and approve it for this node."""
    from fivesafes.node import setup

    service = _service(config)
    record = setup.fetch_project(service, project_id)
    _show_record(record)
    if not yes and not typer.confirm("Approve this project for this node?"):
        fail("Not approved.", code=1)
    approval = setup.approve(
        service,
        project_id,
        by=by,
        expect_version=record.version,
        analyses=analysis,
        outputs_to_airlock=all_outputs_to_airlock,
    )
    airlock = "; every output goes to the airlock" if approval.outputs_to_airlock else ""
    console.print(f"Approved {project_id} version {approval.version} at {service.name}{airlock}.")


@app.command()
def reject(
    project_id: str,
    by: ByCustodian,
    reason: Annotated[str, typer.Option(help="Why (shown to the project's members).")],
    config: ConfigOption = Path("node.toml"),
) -> None:
    """Reject a project's current version for this node, saying why."""
    from fivesafes.node import setup

    service = _service(config)
    record = setup.fetch_project(service, project_id)
    _show_record(record)
    approval = setup.reject(
        service, project_id, by=by, reason=reason, expect_version=record.version
    )
    console.print(f"Rejected {project_id} version {approval.version} at {service.name}.")


@app.command()
def revoke(
    project_id: str,
    by: Annotated[
        str, typer.Option("--by", help="A custodian or TRE admin of this node (their account).")
    ],
    config: ConfigOption = Path("node.toml"),
) -> None:
    """Revoke this node's approval of a project: nothing more of it runs here."""
    from fivesafes.node import setup

    service = _service(config)
    setup.revoke(service, project_id, by=by)
    console.print(f"Revoked {project_id} at {service.name}.")


@app.command()
def approvals(config: ConfigOption = Path("node.toml")) -> None:
    """List this node's project decisions."""
    from fivesafes.node import custodian

    rows = _service(config).unit(custodian.approvals)
    table = Table(
        "project", "version", "title", "state", "tier", "dates", "members", "analyses",
        "airlock", "decided by", "reason",
    )  # fmt: skip
    for a in rows:
        table.add_row(
            a.project_id, str(a.version), a.title, a.state, str(a.risk_tier or ""),
            f"{a.start_date} to {a.end_date}", ", ".join(a.members), ", ".join(a.analyses),
            "every output" if a.outputs_to_airlock else "", a.decided_by, a.reason or "",
        )  # fmt: skip
    console.print(table)


@app.command("runs")
def list_runs(config: ConfigOption = Path("node.toml"), limit: int = 50) -> None:
    """List the runs this node has answered, newest first."""
    from fivesafes.node import runs

    rows = _service(config).unit(lambda s: runs.recent_runs(s, limit))
    table = Table(
        "run", "task", "project", "requester", "accredited until", "state", "reason",
        "received", "sent",
    )  # fmt: skip
    for r in rows:
        accredited = r.requester_accredited_until
        table.add_row(
            r.run_id, r.task_id, r.project_id or "", r.requester or "",
            accredited.isoformat() if accredited else "", r.state, r.reason or "",
            r.received_at.isoformat(timespec="seconds"),
            r.submitted_at.isoformat(timespec="seconds") if r.submitted_at else "pending",
        )  # fmt: skip
    console.print(table)


@app.command("show-config")
def show_config(config: ConfigOption = Path("node.toml")) -> None:
    """Show the node's effective configuration (secrets left out); ``gate`` is the profile the
    node applies, with every setting resolved."""
    from fivesafes.node.config import NodeConfig
    from fivesafes.settings import load_config

    parsed = load_config(config, NodeConfig)
    document = parsed.model_dump(mode="json", exclude={"data": {"url"}})
    document["gate"] = parsed.profile.model_dump(mode="json")
    console.print_json(json.dumps(document))


@app.command("verify-audit")
def verify_audit(config: ConfigOption = Path("node.toml")) -> None:
    """Check the node's audit log: the hash chain and every signed checkpoint (the same as
    ``fivesafes audit verify``)."""
    from fivesafes.cli.audit import open_audited, print_report, verify_service

    audited = open_audited(config)
    try:
        print_report(audited, verify_service(audited))
    finally:
        audited.service.stop()


@app.command("load-omop")
def load_omop(
    source: Annotated[
        str,
        typer.Argument(
            help="The CDM: a folder of CSV files, a .zip of them, a DuckDB file, or a"
            " postgresql:// URL (with --source-schema)."
        ),
    ],
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="The node's TOML configuration (default node.toml)."),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(help="Load into this DuckDB file or PostgreSQL URL instead of the node's."),
    ] = None,
    to_schema: Annotated[
        str | None, typer.Option(help="The schema to load into (required with a PostgreSQL --to).")
    ] = None,
    source_schema: Annotated[
        str | None,
        typer.Option(help="The source's schema (PostgreSQL: required; DuckDB: default main)."),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Load nothing if any row would be rejected.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Load an OMOP CDM (5.3 or 5.4) into the node's data source, replacing its CDM tables."""
    from fivesafes.cli.load_omop import run  # DuckDB-heavy: only this command needs it

    run(
        source,
        config=config,
        to=to,
        to_schema=to_schema,
        source_schema=source_schema,
        strict=strict,
        as_json=as_json,
    )
