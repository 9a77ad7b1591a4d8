"""A table made by ``fivesafes sdc check --profile NAME --out DIR`` carries its profile in a
marker beside it (``output_0_0.sdc.json``), and the airlock's pre-screen judges it under that
profile, or says why not and uses the service's own."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fivesafes.airlock.files import RequestFile, pre_screen
from fivesafes.airlock.screening import screen_files
from fivesafes.airlock.sdc_marker import marker_bytes
from fivesafes.cli.sdc import app
from fivesafes.sdc.profiles import DEFAULT

# persons by region and sex: every cell 10 or more, none a multiple of 10 (ACRO does not round)
CELLS = {("north", "f"): 23, ("north", "m"): 37, ("south", "f"): 41, ("south", "m"): 55}


@pytest.fixture
def made_by_sdc_check(tmp_path: Path) -> tuple[RequestFile, RequestFile]:
    frames, start = [], 0
    for (region, sex), n in CELLS.items():
        frames.append(pd.DataFrame({"person_id": range(start, start + n), "region": region,
                                    "sex": sex}))  # fmt: skip
        start += n
    data = tmp_path / "persons.csv"
    pd.concat(frames).to_csv(data, index=False)
    out = tmp_path / "results"
    done = CliRunner().invoke(app, ["check", str(data), "--index", "region", "--columns", "sex",
                                    "--profile", "acro", "--out", str(out)])  # fmt: skip
    assert done.exit_code == 0, done.output
    table = (out / "output_0_0.csv").read_bytes()
    marker = json.loads((out / "output_0_0.sdc.json").read_text())
    assert marker == {
        "fivesafes_sdc_check": 1,
        "file": "output_0_0.csv",
        "sha256": hashlib.sha256(table).hexdigest(),
        "profile": "acro",
    }
    assert not table.startswith(b"#")  # the table stays a plain CSV
    return (
        RequestFile("output_0_0.csv", table),
        RequestFile("output_0_0.sdc.json", (out / "output_0_0.sdc.json").read_bytes()),
    )


def test_a_table_made_by_sdc_check_is_judged_under_its_own_profile(made_by_sdc_check):
    table, marker = made_by_sdc_check
    screens = screen_files([table, marker], DEFAULT)
    judged = screens["output_0_0.csv"]
    assert judged.summary[0] == (
        "judged under profile 'acro' as made by sdc check (output_0_0.sdc.json)"
    )
    assert (judged.verdict, judged.headline) == ("pass", "passes the checks (2 count columns, "
                                                         "4 cells)")  # fmt: skip
    assert screens["output_0_0.sdc.json"].headline == (
        "an sdc check marker (profile 'acro'): it holds no data"
    )
    alone = screen_files([table], DEFAULT)["output_0_0.csv"]  # the service's default: base 10
    assert alone.headline == "counts not rounded to base 10 (4 cells)"
    assert alone.summary[0] == "judged under this service's profile 'default'"


def marker(table: RequestFile, **changes) -> RequestFile:
    document = json.loads(marker_bytes(table.name, table.content, "acro"))
    document.update(changes)
    return RequestFile("output_0_0.sdc.json", json.dumps(document).encode())


def test_a_marker_that_cannot_be_used_says_why_and_the_service_profile_judges(made_by_sdc_check):
    table, _ = made_by_sdc_check
    cases = {
        "names a profile this service does not know": marker(table, profile="house rules"),
        "is for other bytes (the table changed after sdc check)": marker(table, sha256="0" * 64),
        "cannot be read (its file, sha256 or profile is missing)": marker(table, profile=None),
        "cannot be read (a marker format this service does not read)": marker(
            table, fivesafes_sdc_check=2
        ),
    }
    for why, sidecar in cases.items():
        judged = screen_files([table, sidecar], DEFAULT)["output_0_0.csv"]
        assert judged.summary[0] == (
            "judged under this service's profile 'default': its sdc check marker "
            f"(output_0_0.sdc.json) {why}"
        )
        assert judged.headline == "counts not rounded to base 10 (4 cells)"
        assert "house rules" not in str(judged)  # what the marker said is not repeated


def test_the_service_threshold_holds_when_the_markers_profile_is_looser():
    table = RequestFile("t.csv", b"region,n\nnorth,120\nsouth,5\n")
    sidecar = RequestFile("t.sdc.json", marker_bytes("t.csv", table.content, "datashield"))
    judged = screen_files([table, sidecar], DEFAULT)["t.csv"]
    assert judged.summary[0] == (
        "judged under profile 'datashield' as made by sdc check (t.sdc.json), with this "
        "service's stricter threshold 10"
    )
    assert judged.headline == "unsuppressed small cells: 1 count below 10"


def test_a_marker_holding_more_than_a_marker_is_for_the_checkers_to_look_at():
    table = RequestFile("t.csv", b"region,n\nnorth,120\n")
    document = json.loads(marker_bytes("t.csv", table.content, "acro"))
    smuggled = RequestFile("t.sdc.json", json.dumps({**document, "rows": [[1, 2]]}).encode())
    assert pre_screen(smuggled, 10).verdict == "review"
