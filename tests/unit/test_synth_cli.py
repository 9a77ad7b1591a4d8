"""``fivesafes synth omop`` (unit: the Typer app in-process)."""

import duckdb
import pytest
from typer.testing import CliRunner

from fivesafes.cli.synth import EXIT_REFUSED, EXIT_USAGE, app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["omop", *args])


def test_writes_a_database_and_reports_row_counts(tmp_path):
    out = tmp_path / "site.duckdb"
    result = run("--persons", "200", "--seed", "3", "--site", "lakeside", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "condition_occurrence" in result.output
    assert "persons/s" in result.output
    with duckdb.connect(str(out), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM person").fetchone() == (200,)


def test_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "site.duckdb"
    out.write_text("precious")
    result = run("--persons", "50", "--out", str(out))
    assert result.exit_code == EXIT_REFUSED
    assert "already exists" in result.output
    assert "--force" in result.output
    assert "Traceback" not in result.output
    assert out.read_text() == "precious"


def test_force_overwrites(tmp_path):
    out = tmp_path / "site.duckdb"
    out.write_text("old")
    result = run("--persons", "50", "--out", str(out), "--force")
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(out), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM person").fetchone() == (50,)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--site", "nowhere"], "unknown site profile 'nowhere'"),
        (["--persons", "0"], "--persons"),
        (["--seed", "-1"], "--seed"),
    ],
)
def test_bad_input_is_a_clear_usage_error(tmp_path, args, message):
    result = run("--out", str(tmp_path / "x.duckdb"), *args)
    assert result.exit_code == EXIT_USAGE
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "x.duckdb").exists()


def test_missing_folder_is_a_clear_error(tmp_path):
    result = run("--persons", "10", "--out", str(tmp_path / "no" / "such" / "x.duckdb"))
    assert result.exit_code == EXIT_USAGE
    assert "does not exist" in result.output
    assert "Traceback" not in result.output


def test_help_lists_the_site_profiles():
    result = runner.invoke(app, ["omop", "--help"])
    assert result.exit_code == 0
    for site in ("default", "northfield", "riverside", "lakeside"):
        assert site in result.output
