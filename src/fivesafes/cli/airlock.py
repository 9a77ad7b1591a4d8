"""``fivesafes airlock …``: release requests at a node or at the hub, from the service's own
machine. ``--config`` names the node's or the hub's TOML (its ``[node]`` or ``[hub]`` says
which); ``--by USERNAME`` is who acts, checked against that service's accounts and roles
(``fivesafes.node.airlock``, ``fivesafes.hub.airlock``) and then by the airlock's own rules:
output checkers of that node or hub vote, never on their own request.

Every command takes ``--json``: its result, or on a refusal ``{"error": {"code", "message",
"details"}}`` (the platform's one error shape), on standard output. Errors are told by the
command line's one boundary (``cli/main.py``, the catalogue of ADR 0024): a refusal exits 2,
an unexpected failure 1, and neither prints a stack trace.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from fivesafes.airlock.files import FileType, RequestFile
from fivesafes.airlock.next_steps import Step
from fivesafes.airlock.review import FileVote, Vote
from fivesafes.cli.audit import open_audited
from fivesafes.cli.output import console, errors_as_json
from fivesafes.governance.people import Actor
from fivesafes.protocol.errors import InvalidRequest

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from fivesafes.airlock.actions import RequestView
    from fivesafes.airlock.request import ReleaseRequest
    from fivesafes.airlock.service import Airlock
    from fivesafes.airlock.store import Summary
    from fivesafes.storage.service import ServiceCore

# The airlock's service and the hub's or node's are imported when a command runs, not at the
# top: they bring SQLAlchemy and Alembic, which ``fivesafes airlock --help`` does not need.

app = typer.Typer(
    help="Release requests: compose, submit, review by two output checkers, release.",
    no_args_is_help=True,
)
request_app = typer.Typer(help="A researcher's release requests.", no_args_is_help=True)
review_app = typer.Typer(help="An output checker's reviews.", no_args_is_help=True)
app.add_typer(request_app, name="request")
app.add_typer(review_app, name="review")

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The node's or the hub's TOML configuration.")
]
ByOption = Annotated[str, typer.Option("--by", help="Who acts: a username at that service.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (errors too).")]
RequestId = Annotated[str, typer.Argument(help="The release request's id (ar_…).")]
VoteOption = Annotated[Vote, typer.Option("--vote", help="approve, request_changes or reject.")]
DetailOption = Annotated[
    bool, typer.Option("--detail", help="Every pre-screen finding, cell by cell, too.")
]


@dataclass
class Site:
    """A started node or hub, with its airlock and how it knows people."""

    kind: str  # node | hub
    service: ServiceCore
    airlock: Airlock
    find_actor: Callable[[Session, str], Actor]
    check_author: Callable[[Session, Actor, str | None], None]

    def actor(self, username: str) -> Actor:
        return self.service.read(lambda s: self.find_actor(s, username))


def open_site(config: Path) -> Site:
    audited = open_audited(config)
    if audited.role == "node":
        from fivesafes.node import airlock as node
        from fivesafes.node.service import NodeService

        assert isinstance(audited.service, NodeService)
        return Site(
            "node",
            audited.service,
            node.node_airlock(audited.service),
            lambda s, username: node.airlock_actor(s, username),
            node.check_author,
        )
    from fivesafes.hub import airlock as hub
    from fivesafes.hub.service import HubService

    assert isinstance(audited.service, HubService)
    return Site(
        "hub",
        audited.service,
        hub.hub_airlock(audited.service),
        hub.airlock_actor,
        hub.check_author,
    )


def run(as_json: bool, work: Callable[[], Any], say: Callable[[Any], None]) -> None:
    """Do ``work`` and print its result (JSON or ``say``). What it raises is told by the
    command's one boundary (``cli/main.py``): with ``--json`` as the error shape on standard
    output; a refusal exits 2, anything unexpected 1, never with a stack trace."""
    if as_json:
        errors_as_json()
    result = work()
    if as_json:
        print(json.dumps(result, default=str))
    else:
        say(result)


def with_site(config: Path, work: Callable[[Site], Any]) -> Callable[[], Any]:
    def go() -> Any:
        site = open_site(config)
        try:
            return work(site)
        finally:
            site.service.stop()

    return go


# ---- shapes of what is printed ------------------------------------------------------------


def vote_json(vote: FileVote) -> dict[str, str]:
    return {
        "checker": vote.checker,
        "file": vote.file,
        "vote": vote.vote.value,
        "comment": vote.comment,
    }


def step_json(step: Step) -> dict[str, str]:
    return {"text": step.text, "command": step.command, "button": step.button}


def view_json(view: RequestView) -> dict[str, Any]:
    return {
        "id": view.id,
        "scope": view.scope,
        "author": view.author,
        "title": view.title,
        "project_id": view.project_id,
        "state": view.state.value,
        "version": view.version,
        "files": [{**f, "reasons": view.reasons(str(f["name"]))} for f in view.files],
        "votes": [vote_json(v) for v in view.votes],
        "consolidating": view.consolidating,
        "outcomes": {name: vote.outcome for name, vote in view.outcomes.items()},
        "returned": (
            {"by": view.returned.returned_by, "message": view.returned.message}
            if view.returned
            else None
        ),
        "history": [
            {
                "version": v.number,
                "outcome": v.outcome.value if v.outcome else None,
                "files": v.files,
                "votes": [vote_json(x) for x in v.votes],
                "returned_by": v.returned_by,
                "message": v.message,
                "released": list(v.released),
            }
            for v in view.history
        ],
        "next": [step_json(s) for s in view.next],
    }


def summary_json(summary: Summary) -> dict[str, Any]:
    return {
        "id": summary.id,
        "title": summary.title,
        "author": summary.author,
        "project_id": summary.project_id,
        "run_id": summary.run_id,
        "state": summary.state.value,
        "version": summary.version,
        "files": summary.files,
        "updated_at": summary.updated_at.isoformat(),
    }


def state_json(view: RequestView) -> dict[str, Any]:
    """A request's state after an action, and what whoever acted can do next."""
    return {
        "id": view.id,
        "state": view.state.value,
        "version": view.version,
        "outcomes": {name: vote.outcome for name, vote in view.outcomes.items()},
        "next": [step_json(s) for s in view.next],
    }


def say(text: str) -> None:
    console.print(text, highlight=False, markup=False)


def say_next(steps: list[dict[str, str]]) -> None:
    for step in steps:
        say(f"next: {step['text']}" + (f": {step['command']}" if step["command"] else ""))


def say_state(result: dict[str, Any]) -> None:
    state = result["state"].replace("_", " ")
    say(f"{result['id']}: {state} (version {result['version']})")
    if result["outcomes"]:
        say("  " + "; ".join(f"{name}: {o}" for name, o in result["outcomes"].items()))
    say_next(result["next"])


def say_view(view: dict[str, Any], detail: bool = False) -> None:
    """A request in words: each file with its pre-screen's headline and summary (the detail,
    cell by cell, only with ``--detail``), its outcome and the checkers' reasons."""
    state = view["state"].replace("_", " ")
    say(
        f"{view['id']} {view['title']!r} by {view['author']} (project "
        f"{view['project_id'] or '-'}): {state}, version {view['version']}"
    )
    if view["returned"]:
        say(f"returned by {view['returned']['by']}: {view['returned']['message']}")
    for f in view["files"]:
        say(f"\n{f['name']} ({f['type']}, {f['bytes']} bytes, sha256 {f['sha256'][:12]})")
        if f["description"]:
            say(f"  context: {f['description']}")
        screen = f["pre_screen"]
        if screen is None:
            say("  pre-screen: at submission")
        else:
            say(f"  pre-screen: {screen['verdict']}: {screen['headline']}")
            for line in screen["summary"]:
                say(f"    {line}")
            if detail:
                for line in screen["findings"]:
                    say(f"      {line}")
            elif screen["findings"]:
                lines = len(screen["findings"])
                say(f"    ({lines} detail line{'' if lines == 1 else 's'}: --detail shows them)")
        if f["outcome"]:
            released = " and released" if f["released"] else ""
            say(f"  outcome: {f['outcome']}{released}")
            for reason in f["reasons"]:
                say(f"    why: {reason}")
    if view["votes"]:
        votes = Table("checker", "file", "vote", "comment")
        for v in view["votes"]:  # as text: a comment is never read as markup
            votes.add_row(*(Text(v[k]) for k in ("checker", "file", "vote", "comment")))
        console.print(votes)
    if view["consolidating"]:
        say(f"consolidation on: {', '.join(view['consolidating'])}")
    for version in view["history"]:
        outcome = (version["outcome"] or "not decided").replace("_", " ")
        released = f"; released {', '.join(version['released'])}" if version["released"] else ""
        say(f"version {version['version']}: {outcome}{released}")
    say_next(view["next"])


def say_list(rows: list[dict[str, Any]]) -> None:
    table = Table("id", "title", "author", "project", "state", "version", "files")
    for r in rows:
        table.add_row(
            r["id"], r["title"], r["author"], r["project_id"] or "", r["state"],
            str(r["version"]), str(r["files"]),
        )  # fmt: skip
    console.print(table)


# ---- the author ---------------------------------------------------------------------------


@request_app.command("create")
def create(
    title: Annotated[str, typer.Option("--title", help="What the request is for.")],
    config: ConfigOption,
    by: ByOption,
    project: Annotated[str | None, typer.Option("--project", help="The project's id.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Start a draft release request (the author: --by)."""

    def work(site: Site) -> dict[str, Any]:
        actor = site.actor(by)
        site.service.read(lambda s: site.check_author(s, actor, project))
        made = site.airlock.create(title=title, project_id=project, by=actor)
        return state_json(site.airlock.show(made.id, by=actor))

    run(as_json, with_site(config, work), say_state)


@request_app.command("add-file")
def add_file(
    request_id: RequestId,
    path: Annotated[Path, typer.Argument(help="The file to add (its name is kept).")],
    config: ConfigOption,
    by: ByOption,
    file_type: Annotated[
        FileType, typer.Option("--type", help="output, supporting or code.")
    ] = FileType.OUTPUT,
    context: Annotated[
        str, typer.Option("--context", help="What it shows, its population, its denominators.")
    ] = "",
    as_json: JsonOption = False,
) -> None:
    """Add a file to a draft (a file of the same name is replaced); its type and content are
    checked now and again at submission."""

    def work(site: Site) -> dict[str, Any]:
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise InvalidRequest(f"Cannot read {path}: {exc.strerror}.") from None
        actor = site.actor(by)
        site.airlock.add_file(
            request_id, RequestFile(path.name, content, file_type, context), by=actor
        )
        return {"id": request_id, "added": path.name, "bytes": len(content)}

    run(
        as_json,
        with_site(config, work),
        lambda r: console.print(f"Added {r['added']} to {r['id']}."),
    )


@request_app.command("remove-file")
def remove_file(
    request_id: RequestId,
    name: Annotated[str, typer.Argument(help="The file's name in the request.")],
    config: ConfigOption,
    by: ByOption,
    as_json: JsonOption = False,
) -> None:
    """Take a file out of a draft."""

    def work(site: Site) -> dict[str, Any]:
        site.airlock.remove_file(request_id, name, by=site.actor(by))
        return {"id": request_id, "removed": name}

    run(as_json, with_site(config, work), lambda r: console.print(f"Removed {name}."))


def _act(
    config: Path,
    by: str,
    as_json: bool,
    act: Callable[[Airlock, Actor], ReleaseRequest | None],
    request_id: str,
) -> None:
    def work(site: Site) -> dict[str, Any]:
        actor = site.actor(by)
        act(site.airlock, actor)
        return state_json(site.airlock.show(request_id, by=actor))

    run(as_json, with_site(config, work), say_state)


@request_app.command("submit")
def submit(
    request_id: RequestId, config: ConfigOption, by: ByOption, as_json: JsonOption = False
) -> None:
    """Submit a draft for review: every file is checked and pre-screened."""
    _act(config, by, as_json, lambda a, actor: a.submit(request_id, by=actor), request_id)


@request_app.command("withdraw")
def withdraw(
    request_id: RequestId, config: ConfigOption, by: ByOption, as_json: JsonOption = False
) -> None:
    """Withdraw a request that is not final yet."""
    _act(config, by, as_json, lambda a, actor: a.withdraw(request_id, by=actor), request_id)


@request_app.command("revise")
def revise(
    request_id: RequestId, config: ConfigOption, by: ByOption, as_json: JsonOption = False
) -> None:
    """After changes were requested: a new draft version with the files still to change (never
    one released or rejected), to change and submit again (the earlier version stays in the
    history)."""
    _act(config, by, as_json, lambda a, actor: a.revise(request_id, by=actor), request_id)


@request_app.command("show")
def show(
    request_id: RequestId,
    config: ConfigOption,
    by: ByOption,
    detail: DetailOption = False,
    as_json: JsonOption = False,
) -> None:
    """A request as --by may see it: files with their pre-screens (a headline and findings
    grouped by kind; --detail: every finding), outcomes, votes (blinded), history, and what
    --by can do next."""
    run(
        as_json,
        with_site(config, lambda site: view_json(site.airlock.show(request_id, by=site.actor(by)))),
        lambda view: say_view(view, detail),
    )


@request_app.command("list")
def list_requests(config: ConfigOption, by: ByOption, as_json: JsonOption = False) -> None:
    """The requests --by may see: their own, or every one for an output checker."""
    run(
        as_json,
        with_site(
            config, lambda site: [summary_json(s) for s in site.airlock.requests(by=site.actor(by))]
        ),
        say_list,
    )


@request_app.command("held")
def held(config: ConfigOption, by: ByOption, as_json: JsonOption = False) -> None:
    """At a node: --by's runs whose output was held for review and kept here."""

    def work(site: Site) -> list[dict[str, Any]]:
        if site.kind != "node":
            raise InvalidRequest("Outputs are held for review at a node; this is the hub.")
        from fivesafes.node.airlock import held_runs

        actor = site.actor(by)
        runs = site.service.read(held_runs)
        return [
            {
                "run_id": r.run_id,
                "task_id": r.task_id,
                "project_id": r.project_id,
                "analysis": r.analysis,
            }
            for r in runs
            if r.requester == actor.username
        ]

    def say(rows: list[dict[str, Any]]) -> None:
        table = Table("run", "task", "project", "analysis")
        for r in rows:
            table.add_row(r["run_id"], r["task_id"], r["project_id"] or "", r["analysis"] or "")
        console.print(table)

    run(as_json, with_site(config, work), say)


@request_app.command("from-run")
def from_run(
    run_id: Annotated[str, typer.Argument(help="A run whose output was held for review.")],
    config: ConfigOption,
    by: ByOption,
    title: Annotated[str | None, typer.Option("--title", help="The request's title.")] = None,
    as_json: JsonOption = False,
) -> None:
    """At a node: make a draft release request of a held run's output (its requester only)."""

    def work(site: Site) -> dict[str, Any]:
        if site.kind != "node":
            raise InvalidRequest("Outputs are held for review at a node; this is the hub.")
        from fivesafes.node.airlock import request_from_run

        actor = site.actor(by)
        made = request_from_run(site.service.read, site.airlock, run_id, by=actor, title=title)
        return state_json(site.airlock.show(made.id, by=actor))

    run(as_json, with_site(config, work), say_state)


# ---- the output checkers -------------------------------------------------------------------


@review_app.command("vote")
def vote(
    request_id: RequestId,
    file: Annotated[str, typer.Argument(help="The file voted on.")],
    config: ConfigOption,
    by: ByOption,
    cast: VoteOption,
    comment: Annotated[
        str,
        typer.Option("--comment", help="Why (the other checker sees it once both reviews are in)."),
    ] = "",
    as_json: JsonOption = False,
) -> None:
    """Vote on one file of a request (an output checker, never the author)."""
    _act(
        config,
        by,
        as_json,
        lambda a, actor: a.vote(request_id, file, cast, comment, by=actor),
        request_id,
    )


@review_app.command("return")
def return_request(
    request_id: RequestId,
    config: ConfigOption,
    by: ByOption,
    message: Annotated[
        str, typer.Option("--message", help="What to change (required; the author reads it).")
    ],
    as_json: JsonOption = False,
) -> None:
    """Return a request under review to its author with what to change (an output checker,
    never the author); nothing is released, its votes so far stay in the history."""
    _act(
        config,
        by,
        as_json,
        lambda a, actor: a.return_request(request_id, message, by=actor),
        request_id,
    )


@review_app.command("show")
def review_show(
    request_id: RequestId,
    config: ConfigOption,
    by: ByOption,
    detail: DetailOption = False,
    as_json: JsonOption = False,
) -> None:
    """A request as a checker sees it: pre-screens, own votes (the other's once both are in)."""
    show(request_id, config, by, detail, as_json)


@review_app.command("queue")
def queue(config: ConfigOption, by: ByOption, as_json: JsonOption = False) -> None:
    """The requests waiting for checker --by, and for what."""

    def work(site: Site) -> list[dict[str, Any]]:
        items = site.airlock.queue(by=site.actor(by))
        return [{**summary_json(i.summary), "waiting_for": i.waiting_for} for i in items]

    def say(rows: list[dict[str, Any]]) -> None:
        table = Table("id", "title", "author", "state", "waiting for")
        for r in rows:
            table.add_row(r["id"], r["title"], r["author"], r["state"], r["waiting_for"])
        console.print(table)

    run(as_json, with_site(config, work), say)


@app.command("consolidate")
def consolidate(
    request_id: RequestId,
    file: Annotated[str, typer.Argument(help="A file the two checkers disagree on.")],
    config: ConfigOption,
    by: ByOption,
    cast: VoteOption,
    comment: Annotated[str, typer.Option("--comment", help="Why (required).")],
    as_json: JsonOption = False,
) -> None:
    """Vote again on a file the two checkers disagree on, saying why."""
    _act(
        config,
        by,
        as_json,
        lambda a, actor: a.consolidate(request_id, file, cast, comment, by=actor),
        request_id,
    )


# ---- release --------------------------------------------------------------------------------


@app.command("release")
def release(
    request_id: RequestId,
    config: ConfigOption,
    by: ByOption,
    out: Annotated[Path, typer.Option("--out", help="Write the signed bundle (a zip) here.")],
    as_json: JsonOption = False,
) -> None:
    """Release an approved request, or a partly approved one's approved files (its author):
    the signed bundle is written to --out, and the files returned for changes go back to the
    author to revise. Again on a released request (or one whose approved files left before
    the others were revised): the latest bundle. A file whose bytes changed since approval
    refuses."""

    def work(site: Site) -> dict[str, Any]:
        actor = site.actor(by)
        stored = site.airlock.release(request_id, by=actor)
        out.write_bytes(stored.archive)
        return {
            "id": request_id,
            "bundle": str(out),
            "signature": stored.signature,
            "version": stored.version,
            "files": [f["name"] for f in stored.manifest["files"]],
            **state_json(site.airlock.show(request_id, by=actor)),
        }

    def said(r: dict[str, Any]) -> None:
        say(f"Released {r['id']} version {r['version']}: {', '.join(r['files'])} -> {r['bundle']}")
        say_state(r)

    run(as_json, with_site(config, work), said)


@app.command("verify-bundle")
def verify(
    bundle: Annotated[Path, typer.Argument(help="A release bundle (zip).")],
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="The service that signed it (its key).")
    ] = None,
    public_key: Annotated[
        str | None, typer.Option("--public-key", help="The signer's Ed25519 public key (base64).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check a bundle offline: the manifest's signature and every file's sha256."""
    from fivesafes.airlock.bundle import verify_bundle
    from fivesafes.protocol.signing import public_key_text

    def work() -> dict[str, Any]:
        key = public_key
        if key is None:
            if config is None:
                raise InvalidRequest("Give --public-key or the signing service's --config.")
            site = open_site(config)
            try:
                key = public_key_text(site.service.key)
            finally:
                site.service.stop()
        try:
            archive = bundle.read_bytes()
        except OSError as exc:
            raise InvalidRequest(f"Cannot read {bundle}: {exc.strerror}.") from None
        try:
            manifest = verify_bundle(archive, key)
        except (zipfile.BadZipFile, KeyError, ValueError):
            raise InvalidRequest(f"{bundle} is not a release bundle.") from None
        return {"ok": True, "manifest": manifest}

    def say(result: dict[str, Any]) -> None:
        m = result["manifest"]
        names = ", ".join(f["name"] for f in m["files"])
        console.print(
            f"[green]bundle verified[/]: request {m['request_id']} version {m['version']} "
            f"by {m['author']}, released by {m['released_by']}: {names}",
            highlight=False,
        )

    run(as_json, work, say)
