"""``fivesafes node load-omop`` as an operator runs it: the real command, into a node's
configured data source or an explicit ``--to``; its report, ``--strict``, and one-line errors
that change nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from federation import fs
from fivesafes.cli.main import app

PERSON = "person_id,gender_concept_id,year_of_birth,race_concept_id,ethnicity_concept_id"


def csv_folder(folder: Path, *person_rows: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "PERSON.csv").write_text("\n".join([PERSON, *person_rows]) + "\n")
    return folder


def persons(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute("SELECT count(*) FROM person").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def node(tmp_path: Path) -> tuple[Path, Path]:
    """A node configured (``fivesafes node init``) with a DuckDB file that does not exist yet."""
    data = tmp_path / "node" / "omop.duckdb"
    fs(
        "node", "init", "--dir", str(tmp_path / "node"), "--name", "n1",
        "--hub-url", "http://127.0.0.1:9", "--data", str(data),
    )  # fmt: skip
    return tmp_path / "node" / "node.toml", data


def test_load_into_the_configured_node_then_reload_and_refuse(tmp_path, node):
    config, data = node
    good = csv_folder(tmp_path / "good", "1,8507,1950,0,0", "2,8532,1960,0,0", "3,8532,,0,0")
    result = fs("node", "load-omop", str(good), "--config", str(config))
    assert "PERSON.csv" in result.stdout and "year_of_birth is required" in result.stdout
    assert "(rows 3)" in result.stdout and "Loaded" in result.stdout
    assert persons(data) == 2

    strict = fs("node", "load-omop", str(good), "--config", str(config), "--strict", check=False)
    assert strict.returncode == 1 and "--strict" in strict.stderr
    assert "Traceback" not in strict.stdout + strict.stderr

    report = json.loads(
        fs("node", "load-omop", str(good), "--to", str(tmp_path / "other.duckdb"), "--json").stdout
    )
    person = next(t for t in report["tables"] if t["table"] == "person")
    assert (person["read"], person["loaded"], person["rejected"]) == (3, 2, 1)
    assert person["rejections"] == [
        {"reason": "year_of_birth is required", "rows": 1, "examples": [3]}
    ]


def test_a_broken_table_is_a_one_line_error_and_the_node_keeps_its_data(tmp_path, node):
    config, data = node
    fs(
        "node",
        "load-omop",
        str(csv_folder(tmp_path / "good", "1,8507,1950,0,0")),
        "-c",
        str(config),
    )
    broken = csv_folder(tmp_path / "broken", "1,8507,1950,0,0", "2,8507,secret,0,0,0")
    result = fs("node", "load-omop", str(broken), "--config", str(config), check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: PERSON.csv is not a valid CSV file at line 3: expected 5 fields, found 6"
    ]
    assert "secret" not in result.stdout + result.stderr
    assert persons(data) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nonexistent/cdm", "--to", "{tmp}/a.duckdb"], "no file or folder at /nonexistent/cdm"),
        (["postgresql://u@127.0.0.1/db", "--to", "{tmp}/a.duckdb"], "needs --source-schema"),
        (["{src}", "--to", "{tmp}/a.duckdb", "--config", "node.toml"], "not both"),
        (["{src}", "--to-schema", "cdm"], "goes with --to"),
        (["{src}", "--to", "postgresql://u@127.0.0.1/db"], "needs --to-schema"),
        (["{src}", "--to", "{tmp}/missing/a.duckdb"], "does not exist"),
        (["{src}", "--to", "{tmp}/a.duckdb", "--source-schema", "cdm"], "not a folder"),
        (["{src}/PERSON.csv", "--to", "{tmp}/a.duckdb"], "is not a folder of CSV files"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, message):
    src = csv_folder(tmp_path / "src", "1,8507,1950,0,0")
    argv = [a.format(src=src, tmp=tmp_path) for a in args]
    result = CliRunner().invoke(app, ["node", "load-omop", *argv])
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert not (tmp_path / "a.duckdb").exists()


def test_the_real_command_errors_in_one_line(tmp_path):
    result = fs(
        "node", "load-omop", str(tmp_path), "--config", str(tmp_path / "absent.toml"), check=False
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: No configuration file at {tmp_path / 'absent.toml'}."
    ]


def test_a_duckdb_file_a_running_node_holds_open_is_refused_untouched(tmp_path):
    target = tmp_path / "omop.duckdb"
    fs(
        "node",
        "load-omop",
        str(csv_folder(tmp_path / "one", "1,8507,1950,0,0")),
        "--to",
        str(target),
    )
    holder = subprocess.Popen(  # a node keeps its data open read-only while it serves
        [
            sys.executable, "-c",
            textwrap.dedent(f"""
                import duckdb, sys, time
                con = duckdb.connect({str(target)!r}, read_only=True)
                print("open", flush=True)
                sys.stdin.read()
            """),
        ],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        two = csv_folder(tmp_path / "two", "1,8507,1950,0,0", "2,8507,1950,0,0")
        result = fs("node", "load-omop", str(two), "--to", str(target), check=False)
        assert result.returncode == 2 and "in use by another process" in result.stderr
    finally:
        holder.communicate("", timeout=30)
    assert persons(target) == 1
