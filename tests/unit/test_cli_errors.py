"""The command line's one error boundary (``fivesafes.cli.main``, ADR 0024): an error raised on
purpose is one ``error:`` line (or, for a command answering in JSON, the error shape on standard
output) and its catalogue exit code; anything else is ``internal_error``, exit 1, named by its
type only; never a stack trace, never a value. Text in square brackets (a TOML section such as
``[portal]``) is printed as it is, not taken for markup and lost."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from fivesafes.cli import airlock, audit, output
from fivesafes.cli.main import app
from fivesafes.client import FederationError
from fivesafes.node.transport import HubRejected
from fivesafes.protocol.errors import CATALOGUE, ConfigError

SENTINEL = "PATIENT-SENTINEL-4242"


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def raising(exc: BaseException):
    def boom(*_args: object, **_kwargs: object) -> None:
        raise exc

    return boom


def test_fail_escapes_markup(capsys):
    with pytest.raises(typer.Exit):
        output.fail("set host in [portal] of node.toml")
    assert "[portal]" in capsys.readouterr().err


def test_an_error_raised_on_purpose_is_one_line_and_exits_2(monkeypatch):
    message = "set host in [portal] of node.toml " + "and more " * 30
    monkeypatch.setattr(audit, "open_audited", raising(ConfigError(message)))
    result = run("audit", "verify", "--config", "node.toml")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {message.strip()}"  # one line, brackets kept
    assert result.stdout == ""


def test_a_missing_configuration_is_refused_in_process():
    result = run("hub", "nodes", "--config", "/nonexistent/hub.toml")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "Traceback" not in result.output


def test_anything_else_is_an_internal_error_named_by_its_type_only(monkeypatch):
    monkeypatch.setattr(audit, "open_audited", raising(KeyError(SENTINEL)))
    result = run("audit", "verify", "--config", "node.toml")
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"error: {CATALOGUE['internal_error'].message} (KeyError)")
    assert SENTINEL not in result.output and "Traceback" not in result.output


def test_a_command_answering_in_json_tells_errors_in_the_error_shape(monkeypatch):
    refused = run("airlock", "request", "list", "-c", "/nonexistent/hub.toml", "--by", "a",
                  "--json")  # fmt: skip
    assert refused.exit_code == 2 and refused.stderr == ""
    error = json.loads(refused.stdout)["error"]
    assert set(error) == {"code", "message", "details"} and error["code"] == "config_error"

    monkeypatch.setattr(airlock, "open_audited", raising(RuntimeError(SENTINEL)))
    failed = run("airlock", "request", "list", "-c", "hub.toml", "--by", "a", "--json")
    assert failed.exit_code == 1
    assert json.loads(failed.stdout)["error"]["code"] == "internal_error"
    assert SENTINEL not in failed.output

    after = run("airlock", "request", "list", "-c", "hub.toml", "--by", "a")  # not --json
    assert after.exit_code == 1 and after.stdout == "" and after.stderr.startswith("error: ")


@pytest.mark.parametrize(
    ("exc", "exit_code"),
    [
        (FederationError("not_found", "The project does not exist."), 2),
        (FederationError("forbidden", "The project does not exist.", 403), 2),
        (FederationError("internal_error", "The project does not exist.", 500), 1),
        (HubRejected(404, "not_found", "The project does not exist."), 2),
        (HubRejected(502, "http_error", "The project does not exist."), 2),
    ],
)
def test_a_refusal_relayed_from_the_hub_is_told_as_the_hub_said_it(monkeypatch, exc, exit_code):
    monkeypatch.setattr(audit, "open_audited", raising(exc))
    result = run("audit", "checkpoint", "--config", "node.toml")
    assert result.exit_code == exit_code
    assert result.stderr.strip() == "error: The project does not exist."


def test_usage_errors_stay_typers_own():
    result = run("audit", "verify", "--no-such-option")
    assert result.exit_code == 2 and "No such option" in result.output
    assert "internal" not in result.output


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("missing/out.csv", "the folder to write the file into does not exist"),
        (".", "--csv names a folder"),
    ],
)
def test_a_csv_that_cannot_be_written_is_refused_before_anything_is_asked(tmp_path, where, said):
    """Before: the count ran at every node and the command then ended in ``internal_error
    (FileNotFoundError)``. The connection file here does not exist: the check comes first."""
    cohort = tmp_path / "cohort.json"
    cohort.write_text('{"name": "x", "index": {"type": "fixed", "date": "2020-01-01"}}')
    result = run(
        "count",
        "--connection", str(tmp_path / "no-connection.json"),
        "--cohort", str(cohort),
        "--csv", str(tmp_path / where),
    )  # fmt: skip
    assert result.exit_code == 2
    assert said in result.stderr
    assert "internal" not in result.stderr
    assert "connection" not in result.stderr
