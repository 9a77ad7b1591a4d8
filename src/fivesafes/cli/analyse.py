"""``fivesafes analyse NAME``: each analysis's command, from the registry.

An analysis brings its commands (``Analysis.commands``: its own options and what it asks);
this module adds what every command shares (the connection file, project, nodes, timeout,
``--json`` and ``--csv``), opens the client, prints the result and, with ``--csv PATH``, writes
each task's result as the hub's CSV of its page. A command marked ``top_level`` is
``fivesafes NAME`` itself (``fivesafes count``).

Help lists the commands as the registry declares them (``Registry.commands``); an analysis is
imported only when its command runs or its own help is asked for (``cli/lazy.py``)."""

from __future__ import annotations

import inspect
import json
import os
import typing
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from fivesafes.analyses.plugin import Command, CommandError
from fivesafes.analyses.registry import REGISTRY, Listed
from fivesafes.cli import lazy
from fivesafes.cli.output import console, errors, fail
from fivesafes.cli.progress import Shown, WaitingLine
from fivesafes.protocol.models import TaskView

ASKED = ("project", "nodes", "timeout")  # what ``Command.run`` takes besides its own options


def show(result: Any, as_json: bool) -> None:
    """Print a result as JSON or as its own readable table."""
    if as_json:
        console.print_json(json.dumps(asdict(result)))
    else:
        console.print(str(result), highlight=False, soft_wrap=True)


@dataclass
class Recorded:
    """The client as an analysis asks through it (``analyses.plugin.Asker``), keeping the id of
    every task it submits (for ``--csv``)."""

    asker: Any
    task_ids: list[str] = field(default_factory=list)

    def submit(self, analysis: str, parameters: dict[str, Any], **options: Any) -> TaskView:
        view: TaskView = self.asker.submit(analysis, parameters, **options)
        self.task_ids.append(view.task_id)
        return view

    def wait(self, task_id: str, timeout: float) -> TaskView:
        view: TaskView = self.asker.wait(task_id, timeout)
        return view


def csv_paths(path: Path, task_ids: list[str]) -> list[Path]:
    """Where ``--csv PATH`` writes each task's result: ``PATH`` itself for one task; for
    several, ``PATH`` with each task's id before its suffix (``fit-t_0123.csv``)."""
    if len(task_ids) == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{task}{path.suffix}") for task in task_ids]


def csv_target_problem(path: Path | None) -> str | None:
    """Why ``--csv PATH`` could not be written, in words (checked before anything is asked,
    so that a count is not run only to fail at the end); ``None`` when it can."""
    if path is None:
        return None
    folder = path.parent
    if path.is_dir():
        return "--csv names a folder; give the path of a file to write, e.g. result.csv"
    if not folder.is_dir():
        return "--csv: the folder to write the file into does not exist"
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return "--csv: you may not write there (permission denied)"
    return None


def write_csv(fed: Any, task_ids: list[str], path: Path | None) -> list[Path]:
    """Each task's result as the hub's ``GET /api/v1/tasks/{id}/result.csv`` gives it (its
    portal page's tables), written where ``csv_paths`` says; the paths written. A file that
    cannot be written after all is a ``CommandError`` in words, naming the task to fetch again."""
    if path is None:
        return []
    written = []
    for task, target in zip(task_ids, csv_paths(path, task_ids), strict=True):
        try:
            target.write_text(fed.result_csv(task), encoding="utf-8", newline="")
        except OSError as exc:
            raise CommandError(
                f"The result is at the hub but the CSV could not be written "
                f"({type(exc).__name__}); download it from task {task}'s page in the portal"
            ) from None
        written.append(target)
    return written


def _shared(command: Command) -> list[inspect.Parameter]:
    """The options every analysis command has, after its own."""
    option = inspect.Parameter.KEYWORD_ONLY
    shared: list[tuple[str, Any, Any]] = [
        (
            "connection",
            Annotated[Path, typer.Option(help="Connection file (hub URL, token, project).")],
            Path("connection.json"),
        ),
        (
            "project",
            Annotated[str | None, typer.Option(help="Project id (default: the connection's).")],
            None,
        ),
        (
            "node",
            Annotated[list[str] | None, typer.Option(help="Only these nodes (repeat).")],
            None,
        ),
        (
            "timeout",
            Annotated[int, typer.Option(help=f"Seconds to wait for {command.waits_for}.")],
            command.timeout,
        ),
        (
            "as_json",
            Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")],
            False,
        ),
        (
            "csv",
            Annotated[
                Path | None,
                typer.Option(
                    "--csv",
                    help="Also write the result to this CSV file, as the task's page in the "
                    "hub's portal shows it.",
                ),
            ],
            None,
        ),
    ]
    return [inspect.Parameter(n, option, annotation=a, default=d) for n, a, d in shared]


def command(command: Command) -> Callable[..., None]:
    """A typer command for ``command``: its own options (from ``run``'s signature) and the
    shared ones; it asks, prints each result and exits with ``finish``'s code."""
    hints = typing.get_type_hints(command.run, include_extras=True)
    own = [
        p.replace(annotation=hints[p.name])
        for p in list(inspect.signature(command.run).parameters.values())[1:]
        if p.name not in ASKED
    ]

    def run(**options: Any) -> None:
        names = ("connection", "project", "node", "as_json", "csv")
        shared = {name: options.pop(name) for name in names}
        timeout = options.pop("timeout")
        problem = csv_target_problem(shared["csv"])
        if problem:
            fail(problem)
        asked = {"project": shared["project"], "nodes": shared["node"] or None, "timeout": timeout}
        # imported here, not at the top: the client brings httpx, which help does not need
        from fivesafes.client import Federation

        waiting = WaitingLine.on_terminal()
        try:
            with Federation.from_file(shared["connection"]) as fed:
                asker = Recorded(fed if waiting is None else Shown(fed, waiting))
                try:
                    result = command.run(asker, **asked, **options)
                finally:
                    if waiting is not None:
                        waiting.clear()
                for each in result if isinstance(result, list) else [result]:
                    if command.show is not None:
                        command.show(each, shared["as_json"], console)
                    else:
                        show(each, shared["as_json"])
                written = write_csv(fed, asker.task_ids, shared["csv"])
        except CommandError as exc:
            console.print(str(exc))
            raise typer.Exit(exc.code) from None
        for path in written:  # beside JSON, on standard error, as ``finish``'s lines
            (errors if shared["as_json"] else console).print(f"CSV: {path}", highlight=False)
        lines, code = command.finish(result, options) if command.finish else ([], 0)
        for line in lines:  # beside JSON, on standard error: standard output stays one document
            (errors if shared["as_json"] else console).print(line)
        if code:
            raise typer.Exit(code)

    parameters = [*own, *_shared(command)]
    run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    run.__doc__ = command.run.__doc__
    return run


def later(group: lazy.LazyGroup, listed: Listed) -> None:
    """Add ``listed`` to ``group``; its analysis is imported when the command is built."""
    group.later(
        listed.command,
        listed.summary,
        lambda: lazy.command(
            listed.command, command(REGISTRY[listed.analysis].commands[listed.command])
        ),
    )


def top_level(root: lazy.LazyGroup) -> None:
    """Add the analyses' commands that are ``fivesafes NAME`` itself (``fivesafes count``)."""
    for listed in REGISTRY.commands():
        if listed.top_level:
            later(root, listed)


class Analyses(lazy.LazyGroup):
    """``fivesafes analyse``: every other command of the analyses."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for listed in REGISTRY.commands():
            if not listed.top_level:
                later(self, listed)


app = typer.Typer(
    cls=Analyses, help="Federated statistics: regression and summaries.", no_args_is_help=True
)
