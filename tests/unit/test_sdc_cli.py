"""``fivesafes sdc check`` (unit: the Typer app in-process, on small CSV/Parquet files)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fivesafes.cli.sdc import app
from fivesafes.cli.sdc_run import EXIT_NOT_RELEASABLE, EXIT_USAGE

runner = CliRunner()
SECRET = 424242.5  # the one person of the small "east" cell: never printed or written


def run(*args: str):
    return runner.invoke(app, ["check", *args])


def group(n: int, start: int, **columns: object) -> pd.DataFrame:
    frame = pd.DataFrame({"person_id": range(start, start + n)})
    for name, value in columns.items():
        frame[name] = value
    return frame


@pytest.fixture
def safe_csv(tmp_path: Path) -> Path:
    df = pd.concat(
        [
            group(30, 0, region="north", sex="f", cost=100.0),
            group(40, 30, region="north", sex="m", cost=110.0),
            group(50, 70, region="south", sex="f", cost=120.0),
            group(60, 120, region="south", sex="m", cost=130.0),
        ]
    )
    path = tmp_path / "safe.csv"
    df.to_csv(path, index=False)
    return path


@pytest.fixture
def risky_parquet(tmp_path: Path) -> Path:
    df = pd.concat(
        [
            group(1, 0, region="east", cost=SECRET),
            group(20, 1, region="north", cost=100.0),
            group(20, 21, region="south", cost=120.0),
        ]
    )
    path = tmp_path / "risky.parquet"
    df.to_parquet(path)
    return path


def test_a_safe_crosstab_passes_with_exit_0(safe_csv: Path) -> None:
    result = run(str(safe_csv), "--index", "region", "--columns", "sex")
    assert result.exit_code == 0, result.output
    assert "verdict: PASS" in result.output
    assert "no cell flagged" in result.output
    for count in ("30", "40", "50", "60"):
        assert count in result.output


def test_a_failing_pivot_exits_1_and_never_shows_the_true_value(risky_parquet: Path) -> None:
    result = run(str(risky_parquet), "--index", "region", "--values", "cost")
    assert result.exit_code == EXIT_NOT_RELEASABLE
    assert "verdict: FAIL" in result.output
    assert "[east, mean] threshold" in result.output
    assert "424242" not in result.output


def test_a_suppressed_table_says_what_was_done_and_what_remains(risky_parquet: Path) -> None:
    """Not a bare FAIL: the small cell and its complement are suppressed in the printed table,
    and nothing flagged is left in it; still exit 1, as an output checker approves it."""
    result = run(str(risky_parquet), "--index", "region", "--values", "cost")
    assert result.exit_code == EXIT_NOT_RELEASABLE
    lines = result.output.splitlines()
    assert lines[0] == "verdict: FAIL — flagged cells suppressed in the table below"
    assert lines[1] == (
        "done: suppressed 2 of 3 cells (threshold 1, nk-dominance 1, p-percent 1, secondary 1)"
    )
    assert lines[2].startswith("remains: no flagged cell is released")
    assert "424242" not in result.output


def test_dispositions_in_json(risky_parquet: Path, safe_csv: Path) -> None:
    def disposition(*args: str) -> dict:
        result = run(*args, "--json")
        return json.loads(result.stdout)["disposition"]

    suppressed = disposition(str(risky_parquet), "--index", "region", "--values", "cost")
    assert suppressed["state"] == "suppressed"
    assert (suppressed["cells"], suppressed["suppressed_cells"]) == (3, 2)
    assert suppressed["suppressed"]["secondary"] == 1
    withheld = disposition(
        str(safe_csv), "--index", "region", "--values", "cost", "--aggfunc", "max"
    )
    assert withheld["state"] == "withheld"
    assert withheld["remains"] == "nothing may be released from this table"
    passed = disposition(str(safe_csv), "--index", "region", "--columns", "sex")
    assert passed["state"] == "release"
    assert passed["done"] == "rounded counts to base 10"


def test_several_statistics_with_repeated_aggfunc(safe_csv: Path) -> None:
    result = run(
        str(safe_csv),
        "--index",
        "region",
        "--values",
        "cost",
        "--aggfunc",
        "mean",
        "--aggfunc",
        "sum",
        "--json",
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["table"]["columns"] == ["mean", "sum"]
    assert document["report"]["statistic"] == "mean, sum of cost"


def test_review_also_exits_1(tmp_path: Path) -> None:
    df = pd.concat([group(20, 0, region="north"), group(20, 20, region="south")])
    df["balance"] = [(-1) ** i * (i + 1) for i in range(40)]
    path = tmp_path / "signed.csv"
    df.to_csv(path, index=False)
    result = run(str(path), "--index", "region", "--values", "balance", "--aggfunc", "sum")
    assert result.exit_code == EXIT_NOT_RELEASABLE
    assert "verdict: REVIEW — released cells need an output checker's review" in result.output
    assert "for an output checker to review (negative 2)" in result.output


def test_json_output_and_results_folder(risky_parquet: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = run(
        str(risky_parquet),
        "--index",
        "region",
        "--values",
        "cost",
        "--aggfunc",
        "mean",
        "--profile",
        "acro",
        "--out",
        str(out),
        "--json",
    )
    assert result.exit_code == EXIT_NOT_RELEASABLE
    document = json.loads(result.stdout)
    assert document["verdict"] == "fail"
    assert document["report"]["profile"] == "acro"
    assert document["table"]["index"] == ["east", "north", "south"]
    assert document["table"]["data"][0] == [None]
    assert document["results"] == str(out / "results.json")
    results = json.loads((out / "results.json").read_text())
    assert results["results"]["output_0"]["status"] == "fail"
    assert (out / "checksums" / "output_0_0.csv.txt").is_file()
    for file in out.rglob("*"):
        if file.is_file():
            assert "424242" not in file.read_text()


def test_repeated_index_and_columns(safe_csv: Path) -> None:
    result = run(
        str(safe_csv), "--index", "region", "--index", "sex", "--json", "--person", "person_id"
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["table"]["index_names"] == ["region", "sex"]
    assert document["table"]["index"] == ["north, f", "north, m", "south, f", "south, m"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--index", "nope"], "columns not in the data: ['nope']"),
        (["--index", "region", "--columns", "sex", "--person", "pid"], "['pid']"),
        (["--index", "region", "--profile", "lax"], "unknown profile 'lax'"),
        (["--index", "region", "--values", "sex"], "values column 'sex' is not numeric"),
        (["--index", "region", "--values", "cost", "--aggfunc", "prod"], "unsupported aggfunc"),
        (["--index", "region", "--aggfunc", "sum"], "--aggfunc needs --values"),
    ],
)
def test_usage_errors_are_one_line_exit_2(safe_csv: Path, args: list[str], message: str) -> None:
    result = run(str(safe_csv), *args)
    assert result.exit_code == EXIT_USAGE, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_missing_unsupported_and_unreadable_files(tmp_path: Path) -> None:
    missing = run(str(tmp_path / "nope.csv"), "--index", "a")
    assert missing.exit_code == EXIT_USAGE and "no such file" in missing.output
    text = tmp_path / "data.txt"
    text.write_text("a\n1\n")
    unsupported = run(str(text), "--index", "a")
    assert unsupported.exit_code == EXIT_USAGE and "unsupported file type" in unsupported.output
    broken = tmp_path / "broken.parquet"
    broken.write_text("secret-value-17,not parquet")
    unreadable = run(str(broken), "--index", "a")
    assert unreadable.exit_code == EXIT_USAGE and "could not read" in unreadable.output
    assert "secret-value-17" not in unreadable.output
    assert "Traceback" not in unreadable.output


def test_refuses_a_non_empty_out_folder_before_reading(safe_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    result = run(str(safe_csv), "--index", "region", "--out", str(out))
    assert result.exit_code == EXIT_USAGE
    assert "not an empty folder" in result.output
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
