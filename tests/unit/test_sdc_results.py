"""ACRO-style results folders (``fivesafes.sdc.results.write_results``).

The layout follows ACRO 1.0.2's ``Records.finalise(path, "json")`` (``acro/record.py``):
``results.json``, one CSV per output, ``checksums/<file>.txt``. The structural tests run
everywhere; one test also loads our folder with ACRO's own ``load_records`` when ACRO is
installed at /tmp/acro-venv.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from fivesafes.sdc import Checker, Output
from fivesafes.sdc.results import ACRO_FORMAT_VERSION, write_results
from shared_data import shared

REPO = Path(__file__).resolve().parents[2]
# ACRO needs pandas < 3, so it lives in its own venv: benchmarks/setup_acro_env.sh makes .venv-acro
ACRO_PYTHON = next(
    (p for p in (REPO / ".venv-acro/bin/python", Path("/tmp/acro-venv/bin/python")) if p.exists()),
    REPO / ".venv-acro/bin/python",
)
TEST_PANEL = shared("output-checking-data/test_data.dta")
RESULT_KEYS = {
    "uid",
    "status",
    "type",
    "properties",
    "files",
    "outcome",
    "command",
    "summary",
    "timestamp",
    "comments",
    "exception",
    "fair",
}
SECRET = 987654.321  # the only value of the one small cell's person: must never be written


def people(n: int, start: int = 0, **columns: object) -> pd.DataFrame:
    frame = pd.DataFrame({"person_id": range(start, start + n)})
    for name, value in columns.items():
        frame[name] = value
    return frame


def passing() -> Output:
    df = pd.concat(
        [
            people(30, 0, region="north", sex="f"),
            people(40, 30, region="north", sex="m"),
            people(50, 70, region="south", sex="f"),
            people(60, 120, region="south", sex="m"),
        ]
    )
    return Checker().crosstab(df, index="region", columns="sex")


def review() -> Output:
    df = pd.concat([people(20, 0, region="north"), people(20, 20, region="south")])
    df["balance"] = [(-1) ** i * (i + 1) for i in range(40)]  # negatives: a human must look
    return Checker().pivot_table(df, index="region", values="balance", aggfunc="mean")


def failing() -> Output:
    df = pd.concat(
        [
            people(1, 0, region="east", cost=SECRET),
            people(20, 1, region="north", cost=100.0),
            people(20, 21, region="south", cost=120.0),
        ]
    )
    return Checker().pivot_table(df, index="region", values="cost", aggfunc="mean")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    outputs = [("output_0", passing()), ("output_1", review()), ("output_2", failing())]
    assert [o.verdict.value for _, o in outputs] == ["pass", "review", "fail"]
    results_json = write_results(outputs, tmp_path / "results")
    assert results_json == tmp_path / "results" / "results.json"
    return results_json.parent


def test_results_json_has_every_key_acros_loader_reads(folder: Path) -> None:
    document = json.loads((folder / "results.json").read_text())
    assert document["version"] == ACRO_FORMAT_VERSION == "1.0.2"
    assert document["tool"]["name"] == "fivesafes"
    assert list(document["results"]) == ["output_0", "output_1", "output_2"]
    for uid, result in document["results"].items():
        assert set(result) == RESULT_KEYS
        assert result["uid"] == uid
        assert result["type"] == "table"
        assert result["comments"] == [] and result["exception"] == ""
        (file,) = result["files"]
        assert file["name"] == f"{uid}_0.csv" and (folder / file["name"]).is_file()
        assert set(file["sdc"]) == {"summary", "cells"}
        assert set(file["sdc"]["summary"]) == set(file["sdc"]["cells"])
        for rule, cells in file["sdc"]["cells"].items():
            assert file["sdc"]["summary"][rule] == len(cells)
        assert result["summary"].startswith(result["status"])
    statuses = [r["status"] for r in document["results"].values()]
    assert statuses == ["pass", "review", "fail"]


def test_sdc_cells_and_outcome_locate_each_flagged_cell(folder: Path) -> None:
    result = json.loads((folder / "results.json").read_text())["results"]["output_2"]
    sdc = result["files"][0]["sdc"]
    assert [0, 0] in sdc["cells"]["threshold"]  # row "east", the only column
    assert sdc["summary"]["threshold"] == 1
    assert result["outcome"]["mean"]["east"].startswith("threshold")
    clean = json.loads((folder / "results.json").read_text())["results"]["output_0"]
    assert clean["files"][0]["sdc"] == {"summary": {}, "cells": {}}
    assert set(clean["outcome"]["f"].values()) == {"ok"}


def test_csv_is_the_released_table(folder: Path) -> None:
    released = passing().table
    written = pd.read_csv(folder / "output_0_0.csv", index_col=0)
    assert written.to_numpy().tolist() == released.to_numpy().tolist() == [[30, 40], [50, 60]]
    failed = pd.read_csv(folder / "output_2_0.csv", index_col=0)
    assert failed.loc["east"].isna().all()


def test_checksums_verify_every_file(folder: Path) -> None:
    files = sorted(p.name for p in folder.iterdir() if p.is_file())
    assert files == ["output_0_0.csv", "output_1_0.csv", "output_2_0.csv", "results.json"]
    sums = sorted(p.name for p in (folder / "checksums").iterdir())
    assert sums == [f"{name}.txt" for name in files]
    for name in files:
        expected = (folder / "checksums" / f"{name}.txt").read_text()
        assert expected == hashlib.sha256((folder / name).read_bytes()).hexdigest()


def test_no_suppressed_true_value_is_written_anywhere(folder: Path) -> None:
    for file in folder.rglob("*"):
        if file.is_file():
            text = file.read_text()
            assert "987654" not in text and "9.87654" not in text, file.name


def test_refuses_a_non_empty_folder_and_keeps_it(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        write_results([("output_0", passing())], tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    a_file = tmp_path / "keep.txt"
    with pytest.raises(FileExistsError):
        write_results([("output_0", passing())], a_file)


def test_an_existing_empty_folder_is_used(tmp_path: Path) -> None:
    assert write_results([("output_0", passing())], tmp_path).is_file()


@pytest.mark.parametrize(
    ("uids", "message"),
    [
        ([], "no outputs"),
        (["a", "a"], "unique"),
        (["../escape"], "plain file name"),
        (["sub/dir"], "plain file name"),
        ([".hidden"], "plain file name"),
        ([""], "plain file name"),
    ],
)
def test_rejects_bad_uids_before_writing(tmp_path: Path, uids: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        write_results([(uid, passing()) for uid in uids], tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not TEST_PANEL.is_file(), reason=f"{TEST_PANEL} not present")
def test_acro_test_panel_year_by_grant_type(tmp_path: Path) -> None:
    """ACRO's own test panel: AI-SDC/ACRO data/test_data.dta (MIT; commit 397a9a27b177),
    a synthetic charity-finance panel of 153 charities over 2010-2015. A charity is the
    counting unit, so six yearly records of one charity count once."""
    df = pd.read_stata(TEST_PANEL)
    out = Checker("acro").crosstab(df, index="year", columns="grant_type", person="charity")
    write_results([("year_by_grant", out)], tmp_path / "panel")
    result = json.loads((tmp_path / "panel" / "results.json").read_text())["results"]
    assert result["year_by_grant"]["status"] == out.verdict.value
    assert result["year_by_grant"]["properties"]["profile"] == "acro"
    written = pd.read_csv(tmp_path / "panel" / "year_by_grant_0.csv", index_col=0)
    assert written.shape == out.table.shape


@pytest.mark.skipif(
    not ACRO_PYTHON.exists(), reason="ACRO is not installed (run benchmarks/setup_acro_env.sh)"
)
def test_acros_own_loader_reads_our_folder(folder: Path) -> None:
    script = textwrap.dedent(
        """
        import json, sys
        from acro.record import load_records
        records = load_records(sys.argv[1])
        print(json.dumps({
            key: {
                "status": records.get(key).status,
                "type": records.get(key).output_type,
                "shape": list(records.get(key).output[0].shape),
                "summary": records.get(key).sdc["summary"],
            }
            for key in records.get_keys()
        }))
        """
    )
    run = subprocess.run(
        [str(ACRO_PYTHON), "-c", script, str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    loaded = json.loads(run.stdout.strip().splitlines()[-1])
    assert {k: v["status"] for k, v in loaded.items()} == {
        "output_0": "pass",
        "output_1": "review",
        "output_2": "fail",
    }
    assert loaded["output_0"]["shape"] == [2, 3]  # the region label column and f, m
    assert loaded["output_2"]["summary"]["threshold"] == 1


def test_a_check_error_output_is_written_as_fail(tmp_path: Path) -> None:
    """A table that could not be built is a ``fail`` with an empty table and the error named."""
    broken = Output(
        "crosstab",
        "records",
        Checker().profile,
        "records",
        pd.DataFrame(),
        pd.DataFrame(),
        errors=("check-error: table raised KeyError",),
    )
    write_results([("output_0", broken)], tmp_path / "out")
    result = json.loads((tmp_path / "out" / "results.json").read_text())["results"]["output_0"]
    assert result["status"] == "fail"
    assert result["summary"] == "fail; check-error: table raised KeyError"
    assert result["fair"]["check_status"] == {"check-error": "fail"}


def test_folder_meets_the_sacro_viewers_checks(folder: Path) -> None:
    """What AI-SDC/SACRO-Viewer's ``sacro/models.py`` and ``versioning.py`` rely on: one
    ``*.json`` in the folder (else it must guess), ``version`` as major.minor.patch no older
    than the ACRO it supports, every result with at least one file with a ``name``, cells as
    ``[row, col]`` pairs, and each checksum file exactly the file's sha256 hex digest."""
    assert [p.name for p in folder.glob("*.json")] == ["results.json"]
    document = json.loads((folder / "results.json").read_text())
    major, minor, _patch = document["version"].split(".")
    assert (int(major), int(minor)) >= (0, 4)
    for result in document["results"].values():
        assert result["files"] and all("name" in f for f in result["files"])
        for f in result["files"]:
            for positions in f["sdc"]["cells"].values():
                assert all(len(p) == 2 and all(isinstance(x, int) for x in p) for p in positions)
            digest = (folder / "checksums" / f"{f['name']}.txt").read_text(encoding="utf8")
            assert digest == hashlib.sha256((folder / f["name"]).read_bytes()).hexdigest()
