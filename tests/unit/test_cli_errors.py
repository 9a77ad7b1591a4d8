"""The command line prints an error's message as it is: text in square brackets (a TOML
section such as ``[portal]``) is not taken for markup and lost."""

from __future__ import annotations

import pytest
import typer

from fivesafes.cli import output


def test_fail_escapes_markup(capsys):
    with pytest.raises(typer.Exit):
        output.fail("set host in [portal] of node.toml")
    assert "[portal]" in capsys.readouterr().err
