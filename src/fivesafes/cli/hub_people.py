"""``fivesafes hub …`` for safe people and safe projects: accounts and organisations, scoped
API tokens, and projects with their versions. The hub admin runs these on the hub machine."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from fivesafes.cli import accounts
from fivesafes.cli.output import console
from fivesafes.governance.roles import HUB
from fivesafes.protocol.errors import InvalidRequest
from fivesafes.protocol.models import ProjectEdit

if TYPE_CHECKING:
    from fivesafes.governance.people import Account
    from fivesafes.hub.service import HubService

# Each command imports the hub's modules when it runs, not at the top: they bring SQLAlchemy,
# Alembic and the hub's services, which ``fivesafes hub --help`` does not need (cli/lazy.py).

ADMIN = "hub-admin"
ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The hub's TOML configuration.", exists=False)
]


def open_hub(config: Path) -> HubService:
    from fivesafes.hub.config import HubConfig
    from fivesafes.hub.service import HubService
    from fivesafes.settings import load_config

    service = HubService(load_config(config, HubConfig))
    service.start()
    return service


def parse_date(text: str | None, what: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"{what} is written YYYY-MM-DD.") from None


def _disable(_service: Any, s: Any, username: str) -> Account:
    from fivesafes.hub.people import disable_user

    return disable_user(s, username, by=ADMIN)


def register(app: typer.Typer) -> None:
    accounts.register(
        app,
        kind="hub",
        default_config=Path("hub.toml"),
        open_service=open_hub,
        scope_of=lambda _service: HUB,
        by=ADMIN,
        disable=_disable,
    )
    commands: dict[str, Callable[..., None]] = {
        "add-user": add_user,
        "add-organisation": add_organisation,
        "set-accreditation": set_accreditation,
        "set-organisation": set_organisation,
        "set-node-organisation": set_node_organisation,
        "issue-token": issue_api_token,
        "tokens": list_tokens,
        "revoke-token": revoke_api_token,
        "create-project": create_project_cmd,
        "edit-project": edit_project_cmd,
        "project": show_project,
    }
    for name, command in commands.items():
        app.command(name)(command)


# ---- people and organisations -----------------------------------------------------------------


def add_user(
    username: str,
    config: ConfigOption = Path("hub.toml"),
    display_name: Annotated[str | None, typer.Option("--name", help="Full name.")] = None,
    role: Annotated[
        list[str] | None,
        typer.Option(help="researcher, hub_admin or output_checker (repeat; default researcher)."),
    ] = None,
    organisation: Annotated[
        str | None, typer.Option(help="The organisation the person belongs to.")
    ] = None,
    accredited_until: Annotated[
        str | None,
        typer.Option(help="Safe-researcher accreditation expiry, YYYY-MM-DD."),
    ] = None,
) -> None:
    """Create an account at the hub."""
    from fivesafes.hub.people import create_user

    until = parse_date(accredited_until, "--accredited-until")
    service = open_hub(config)
    account = service.unit(
        lambda s: create_user(
            s,
            username=username,
            display_name=display_name or username,
            roles=role or ["researcher"],
            organisation=organisation,
            accredited_until=until,
            by=ADMIN,
        )
    )
    roles = ", ".join(r.value for r in account.roles_at())
    accredited = f", accredited until {until}" if until else ", no accreditation recorded"
    console.print(f"Created {username} ({roles}){accredited}.")


def add_organisation(
    name: str,
    kind: Annotated[str, typer.Option(help="nhs, academic, government, charity or commercial.")],
    config: ConfigOption = Path("hub.toml"),
    display_name: Annotated[str | None, typer.Option("--name", help="Full name.")] = None,
) -> None:
    """Add an organisation people and nodes can belong to."""
    from fivesafes.hub.people import create_organisation

    service = open_hub(config)
    service.unit(
        lambda s: create_organisation(
            s, name=name, display_name=display_name or name, kind=kind, by=ADMIN
        )
    )
    console.print(f"Added organisation {name} ({kind}).")


def set_accreditation(
    username: str,
    until: Annotated[
        str | None, typer.Option(help="New expiry date, YYYY-MM-DD (omit to clear it).")
    ] = None,
    config: ConfigOption = Path("hub.toml"),
) -> None:
    """Record (or clear) a person's safe-researcher accreditation expiry."""
    expiry = parse_date(until, "--until")
    service = open_hub(config)
    service.unit(lambda s: service.account_store.set_accreditation(s, username, expiry, by=ADMIN))
    console.print(
        f"{username} is accredited until {expiry}." if expiry else f"{username}: no accreditation."
    )


def set_organisation(
    username: str,
    organisation: Annotated[str, typer.Argument(help="The organisation's name.")],
    config: ConfigOption = Path("hub.toml"),
) -> None:
    """Move a person to another organisation."""
    from fivesafes.hub.people import check_organisation

    service = open_hub(config)

    def work(s: Any) -> None:
        check_organisation(s, organisation)
        service.account_store.set_organisation(s, username, organisation, by=ADMIN)

    service.unit(work)
    console.print(f"{username} belongs to {organisation}.")


def set_node_organisation(
    node: Annotated[str, typer.Argument(help="The enrolled node's name.")],
    organisation: Annotated[str, typer.Argument(help="The organisation's name.")],
    config: ConfigOption = Path("hub.toml"),
) -> None:
    """Record which organisation an enrolled node belongs to."""
    from sqlalchemy import select

    from fivesafes.audit.chain import append_event
    from fivesafes.audit.events import AuditEventType
    from fivesafes.hub.db import AUDIT, Node
    from fivesafes.hub.people import check_organisation

    service = open_hub(config)

    def work(s: Any) -> None:
        check_organisation(s, organisation)
        row = s.scalar(select(Node).where(Node.name == node))
        if row is None:
            raise InvalidRequest(f"There is no enrolled node called {node!r}.")
        row.organisation = organisation
        append_event(
            s,
            AUDIT,
            AuditEventType.ORGANISATION_SET,
            by=ADMIN,
            node=node,
            details={"node": node, "organisation": organisation},
        )

    service.unit(work)
    console.print(f"{node} belongs to {organisation}.")


# ---- tokens ---------------------------------------------------------------------------------


def issue_api_token(
    username: str,
    config: ConfigOption = Path("hub.toml"),
    days: Annotated[
        int | None,
        typer.Option(min=1, max=365, help="Lifetime in days (default: the hub's setting)."),
    ] = None,
    project: Annotated[
        str | None, typer.Option(help="Only this project (default: all of theirs).")
    ] = None,
    action: Annotated[
        list[str] | None,
        typer.Option(
            help="An action it allows (repeat): tasks:submit, tasks:read, projects:read, "
            "projects:write, nodes:read (default: all)."
        ),
    ] = None,
) -> None:
    """Issue an API token for a user (shown once; only its hash is kept)."""
    from fivesafes.hub.people import issue_token

    service = open_hub(config)
    lifetime = timedelta(days=service.config.hub.token_lifetime_days if days is None else days)
    token = service.unit(
        lambda s: issue_token(
            s,
            username=username,
            lifetime=lifetime,
            by=ADMIN,
            project_id=project,
            action_names=action,
        )
    )
    console.print(token, highlight=False, soft_wrap=True)


def list_tokens(username: str, config: ConfigOption = Path("hub.toml")) -> None:
    """List a user's API tokens (never the tokens themselves)."""
    from fivesafes.hub.people import tokens_of
    from fivesafes.storage.types import utcnow

    service = open_hub(config)
    rows = service.unit(lambda s: tokens_of(s, username))
    now = utcnow()
    table = Table("id", "project", "actions", "expires", "state")
    for row in rows:
        state = "revoked" if row.revoked_at else "expired" if row.expires_at <= now else "valid"
        table.add_row(
            str(row.id),
            row.project_id or "all",
            ", ".join(row.actions),
            row.expires_at.isoformat(timespec="minutes"),
            state,
        )
    console.print(table)


def revoke_api_token(
    token_id: Annotated[int, typer.Argument(help="The token's id (from 'hub tokens').")],
    config: ConfigOption = Path("hub.toml"),
) -> None:
    """Revoke an API token: it stops working at once."""
    from fivesafes.hub.people import revoke_token

    service = open_hub(config)
    service.unit(lambda s: revoke_token(s, token_id, by=ADMIN))
    console.print(f"Token {token_id} revoked.")


# ---- projects -------------------------------------------------------------------------------


def create_project_cmd(
    title: Annotated[str, typer.Option(help="The project's title.")],
    member: Annotated[list[str], typer.Option(help="A member's username (repeat).")],
    node: Annotated[list[str], typer.Option(help="A node the project asks for (repeat).")],
    config: ConfigOption = Path("hub.toml"),
    start: Annotated[
        str | None, typer.Option(help="Start date, YYYY-MM-DD (default today).")
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="End date, YYYY-MM-DD (default in a year).")
    ] = None,
    pi: Annotated[str | None, typer.Option(help="Principal investigator (a member).")] = None,
    lay_summary: Annotated[str, typer.Option(help="Plain-language summary.")] = "",
    purpose: Annotated[str, typer.Option(help="What the data is used for.")] = "",
    public_benefit: Annotated[str, typer.Option(help="The public benefit.")] = "",
    domain: Annotated[
        list[str] | None, typer.Option(help="omop, imaging or pathology (repeat; default omop).")
    ] = None,
    analysis: Annotated[
        list[str] | None, typer.Option(help="An analysis, e.g. glm@1 (repeat; default all).")
    ] = None,
    sensitivity: Annotated[
        str, typer.Option(help="standard, sensitive or highly_sensitive.")
    ] = "standard",
    linkage: Annotated[str, typer.Option(help="none, across_nodes or external.")] = "none",
) -> None:
    """Create a project; print its id."""
    from fivesafes.hub.projects import create_project

    start_date = parse_date(start, "--start") or date.today()
    end_date = parse_date(end, "--end") or start_date + timedelta(days=365)
    service = open_hub(config)
    project = service.unit(
        lambda s: create_project(
            s,
            title=title,
            members=member,
            nodes=node,
            start_date=start_date,
            end_date=end_date,
            analyses=analysis,
            lay_summary=lay_summary,
            purpose=purpose,
            public_benefit=public_benefit,
            pi=pi,
            data_domains=domain or ["omop"],
            sensitivity=sensitivity,
            linkage=linkage,
            by=ADMIN,
        )
    )
    console.print(project.id, highlight=False)


def edit_project_cmd(
    project_id: str,
    config: ConfigOption = Path("hub.toml"),
    title: Annotated[str | None, typer.Option(help="New title.")] = None,
    lay_summary: Annotated[str | None, typer.Option(help="New lay summary.")] = None,
    purpose: Annotated[str | None, typer.Option(help="New purpose.")] = None,
    public_benefit: Annotated[str | None, typer.Option(help="New public benefit.")] = None,
    pi: Annotated[str | None, typer.Option(help="New principal investigator.")] = None,
    member: Annotated[
        list[str] | None, typer.Option(help="The members, all of them (repeat).")
    ] = None,
    node: Annotated[list[str] | None, typer.Option(help="The nodes, all of them (repeat).")] = None,
    domain: Annotated[
        list[str] | None, typer.Option(help="The data domains, all of them (repeat).")
    ] = None,
    analysis: Annotated[
        list[str] | None, typer.Option(help="The analyses, all of them (repeat).")
    ] = None,
    start: Annotated[str | None, typer.Option(help="New start date, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option(help="New end date, YYYY-MM-DD.")] = None,
    sensitivity: Annotated[str | None, typer.Option(help="New data sensitivity.")] = None,
    linkage: Annotated[str | None, typer.Option(help="New linkage.")] = None,
    expect_version: Annotated[
        int | None, typer.Option(help="Refuse if the project is no longer at this version.")
    ] = None,
) -> None:
    """Change a project; a change to anything but its title or lay summary makes a new
    version, which each node's custodian approves again."""
    from fivesafes.hub.db import Project
    from fivesafes.hub.projects import edit_project

    given: dict[str, Any] = {
        "title": title,
        "lay_summary": lay_summary,
        "purpose": purpose,
        "public_benefit": public_benefit,
        "pi": pi,
        "members": member,
        "nodes": node,
        "data_domains": domain,
        "analyses": analysis,
        "start_date": parse_date(start, "--start"),
        "end_date": parse_date(end, "--end"),
        "sensitivity": sensitivity,
        "linkage": linkage,
        "expect_version": expect_version,
    }
    edit = ProjectEdit.model_validate({k: v for k, v in given.items() if v is not None})
    service = open_hub(config)

    def work(s: Any) -> int:
        project = s.get(Project, project_id)
        if project is None:
            raise InvalidRequest(f"There is no project {project_id!r}.")
        before: int = project.version
        edit_project(s, project, edit, by=ADMIN)
        after: int = project.version
        return after - before

    bumped = service.unit(work)
    if bumped:
        console.print(
            f"{project_id} is now a new version: each node's custodian approves it again."
        )
    else:
        console.print(f"{project_id} updated (same version).")


def show_project(project_id: str, config: ConfigOption = Path("hub.toml")) -> None:
    """Show a project: its terms, risk tier and why, each node's decision, its versions."""
    from fivesafes.hub.db import Project
    from fivesafes.hub.projects import project_versions, project_view

    service = open_hub(config)

    def work(s: Any) -> Any:
        project = s.get(Project, project_id)
        if project is None:
            raise InvalidRequest(f"There is no project {project_id!r}.")
        return project_view(s, project), project_versions(s, project)

    view, versions = service.unit(work)
    console.print(f"[bold]{view.title}[/] ({view.project_id}, version {view.version})")
    console.print(f"  PI:        {view.pi or '(none)'}", markup=False)
    console.print(f"  members:   {', '.join(view.members)}", markup=False)
    console.print(f"  dates:     {view.start_date} to {view.end_date}", markup=False)
    console.print(f"  domains:   {', '.join(d.value for d in view.data_domains)}", markup=False)
    console.print(f"  analyses:  {', '.join(view.analyses)}", markup=False)
    console.print(f"  risk tier: {view.risk_tier}", markup=False)
    for reason in view.risk_reasons:
        console.print(f"    - {reason}", markup=False)
    table = Table("node", "decision", "version", "current", "reason")
    for name, state in view.approval_states.items():
        table.add_row(
            name,
            state.state,
            str(state.version or ""),
            "yes" if state.current else "no",
            state.reason or "",
        )
    console.print(table)
    history = Table("version", "made", "by", "changed")
    for version in versions:
        history.add_row(
            str(version.version),
            version.created_at.isoformat(timespec="minutes"),
            version.created_by,
            ", ".join(version.changed) or "(created)",
        )
    console.print(history)
