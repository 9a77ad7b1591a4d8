"""Commands imported when they run, so that the command line starts at once (issue 13).

A :class:`LazyGroup` holds some of its commands as :class:`Later`: a name, the line the group's
help shows for it, and how to build it. The module behind such a command is imported only when
the command runs or its own help is asked for, never to list it: importing every command would
bring pandas, Ibis, SQLAlchemy, FastAPI and the hub's and node's services into each start.
``tests/unit/test_cli_start.py`` holds each line to the command's own help.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:
    from typer._click import Command, Context, HelpFormatter


class Later(TyperCommand):
    """A command not built yet: its name, the first paragraph of its help (what its group's
    help shows), and how to build it."""

    def __init__(self, name: str, summary: str, build: Callable[[], Command]) -> None:
        super().__init__(name=name, help=summary)
        self.build = build


class LazyGroup(TyperGroup):
    """A group whose :class:`Later` commands are built when asked for, except while the group's
    own help is written (which lists them by their line)."""

    _listing = False

    def later(self, name: str, summary: str, build: Callable[[], Command]) -> None:
        self.commands[name] = Later(name, summary, build)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        command = self.commands.get(cmd_name)
        if isinstance(command, Later) and not self._listing:
            command = self.commands[cmd_name] = command.build()
        return command

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def group(target: str, name: str) -> Callable[[], Command]:
    """How to build the group ``name`` from the Typer app ``module:attribute`` (as
    ``add_typer(app, name=name)`` would)."""

    def build() -> Command:
        module, _, attribute = target.partition(":")
        built = typer.main.get_group(getattr(importlib.import_module(module), attribute))
        built.name = name
        return built

    return build


def command(name: str, callback: Callable[..., Any]) -> Command:
    """``callback`` as the command ``name`` (as ``app.command(name)`` would make it)."""
    app = typer.Typer(add_completion=False)
    app.command(name)(callback)
    return typer.main.get_command(app)
