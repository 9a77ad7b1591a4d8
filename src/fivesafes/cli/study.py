"""``fivesafes study …``: review studies across hospitals from the command line (issue 17,
docs/studies.md), as the study's lead: design one from a JSON file, propose it to the nodes'
custodians, add the released slides as cases, allocate the reads, lock it, read its results.
Each command is one request to the hub through the connection file (``fed.studies``); the
hub's refusals are told in words by the command line's one boundary (``cli/main.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from fivesafes.cli.output import console

app = typer.Typer(
    help="Review studies: design, propose, add cases, allocate, lock, read the results.",
    no_args_is_help=True,
)
ConnectionOption = Annotated[
    Path, typer.Option("--connection", help="The hub connection file (hub_url, token, project).")
]
StudyArg = Annotated[str, typer.Argument(help="The study (st_…).")]


def _call(connection: Path, work: Any) -> Any:
    from fivesafes.client import Federation

    with Federation.from_file(connection) as fed:
        return work(fed.studies)


def _say(found: Any) -> None:
    from fivesafes.client.studies import dumps

    print(dumps(found))


@app.command("create")
def create(
    design: Annotated[Path, typer.Argument(help="The study's design, a JSON file.")],
    connection: ConnectionOption = Path("connection.json"),
    project: Annotated[
        str | None, typer.Option(help="Project id (default: the connection's).")
    ] = None,
) -> None:
    """A new study (a draft) from its design; prints it, with its id and its digest."""
    _say(_call(connection, lambda s: s.create(design, project=project)))


@app.command("propose")
def propose(study: StudyArg, connection: ConnectionOption = Path("connection.json")) -> None:
    """Put the study to its nodes' custodians (``fivesafes node studies approve``)."""
    _say(_call(connection, lambda s: s.propose(study)))


@app.command("cases")
def cases(
    study: StudyArg,
    review_ids: Annotated[list[str], typer.Argument(help="Released slides (SL…), as listed.")],
    connection: ConnectionOption = Path("connection.json"),
) -> None:
    """Add slides released to the project, from the study's nodes, as its cases."""
    _say(_call(connection, lambda s: s.add_cases(study, review_ids)))


@app.command("allocate")
def allocate(study: StudyArg, connection: ConnectionOption = Path("connection.json")) -> None:
    """Decide who reads which case, by the study's allocation rules."""
    _say(_call(connection, lambda s: s.allocate(study)))


@app.command("reassign")
def reassign(
    study: StudyArg,
    reader: Annotated[str, typer.Option("--reader", help="The reader who dropped out.")],
    connection: ConnectionOption = Path("connection.json"),
) -> None:
    """Give a reader's reads not yet locked or submitted to the others."""
    _say(_call(connection, lambda s: s.reassign(study, reader)))


@app.command("lock")
def lock(study: StudyArg, connection: ConnectionOption = Path("connection.json")) -> None:
    """Lock the study: no read changes after it; its results become readable."""
    _say(_call(connection, lambda s: s.lock(study)))


@app.command("show")
def show(study: StudyArg, connection: ConnectionOption = Path("connection.json")) -> None:
    """The study: its design, version, digest and state."""
    _say(_call(connection, lambda s: s.get(study)))


@app.command("results")
def results(
    study: StudyArg,
    connection: ConnectionOption = Path("connection.json"),
    item: Annotated[str | None, typer.Option(help="The form's item (default: the AI's).")] = None,
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Write the agreement table to this CSV file.")
    ] = None,
) -> None:
    """Progress, and once locked: agreement, re-reads, the AI's quality, the aided effect."""
    if csv is not None:
        text = _call(connection, lambda s: s.results_csv(study, "agreement", item))
        csv.write_text(text, encoding="utf-8")
        console.print(f"Wrote {csv}.")
        return
    _say(_call(connection, lambda s: s.results(study, item)))
