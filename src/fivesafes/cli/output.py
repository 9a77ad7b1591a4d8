"""Console output shared by the CLI commands, and how an error is told on the command line.

Errors are told by the command's one boundary (``cli/main.py``), through :func:`tell_error`:
one ``error:`` line on standard error, or, for a command that answers in JSON, the platform's
error shape on standard output. What a code means (its message and exit code) is the
catalogue's (``fivesafes.protocol.errors``, ADR 0024).
"""

from __future__ import annotations

import json
import sys
from contextvars import ContextVar
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from fivesafes.protocol.errors import EXIT_REFUSED, ErrorDetail, error_body

# Piped output (a log, a test, a script) gets wide lines rather than truncated table cells.
console = Console(width=None if sys.stdout.isatty() else 200)
errors = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

_json_errors: ContextVar[bool] = ContextVar("fivesafes_cli_json_errors", default=False)


def report_new_key(config_file: Path, key_file: Path, role: str) -> None:
    """Tell the operator what ``init`` wrote and the new key's fingerprint (to read out to
    the other side of an enrolment)."""
    # imported here, not at the top: cryptography, which only ``init`` needs of this module
    from fivesafes.protocol.signing import fingerprint, load_private_key, public_key_text

    fingerprint_text = fingerprint(public_key_text(load_private_key(key_file)))
    console.print(f"Wrote {config_file} and {key_file}.")
    console.print(f"{role} key fingerprint: [bold]{fingerprint_text}[/]")


def say_error(message: str) -> None:
    """The one ``error:`` line on standard error, the message as it is (brackets in it, such as
    ``[portal]``, are not markup) and never wrapped."""
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = EXIT_REFUSED) -> NoReturn:
    """Print ``message`` as an error and exit with ``code``: for a command's own outcomes (a
    declined approval, a broken audit chain) and refusals it words itself."""
    say_error(message)
    raise typer.Exit(code)


def errors_as_json(on: bool = True) -> None:
    """This command answers in JSON: its errors are told as the error shape on standard output
    (the boundary reads this)."""
    _json_errors.set(on)


def tell_error(
    code: str, message: str, details: list[ErrorDetail] | None = None, *, exit_code: int
) -> int:
    """Tell one error (already public: no value, no trace) as this command answers, and give
    the exit code to leave with."""
    if _json_errors.get():
        print(json.dumps(error_body(code, message, details)))
    else:
        say_error(message)
    return exit_code
