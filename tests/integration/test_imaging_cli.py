"""The imaging index from the command line, as an operator runs it (the real ``fivesafes``
command): a synthetic archive consistent with the node's CDM, indexed, audited, indexed again
(nothing read), and the unmapped texts listed."""

from __future__ import annotations

import csv
import getpass
import json
import sqlite3

from federation import fs
from fivesafes.data.synth import generate


def test_an_operator_indexes_an_archive(tmp_path):
    node = tmp_path / "tre"
    omop = tmp_path / "omop.duckdb"
    generate(omop, persons=150, seed=5)
    fs(
        "node",
        "init",
        "--dir",
        str(node),
        "--name",
        "imaging-node",
        "--hub-url",
        "http://127.0.0.1:9",
        "--data",
        str(omop),
    )
    config = str(node / "node.toml")

    # without a pseudonym key nothing is indexed: a PatientID would be linked to nobody
    refused = fs("node", "imaging", "index", str(tmp_path), "-c", config, check=False)
    assert refused.returncode != 0 and "pseudonym key" in refused.stdout + refused.stderr

    fs("node", "pseudonym-key", "-c", config)
    made = fs(
        "synth",
        "dicom",
        "--omop",
        str(omop),
        "--out",
        str(tmp_path / "dicom"),
        "--persons-limit",
        "60",
        "--pseudonym-key",
        str(node / "pseudonym.key"),
    )
    assert "files/s" in made.stdout
    again = fs("synth", "dicom", "--omop", str(omop), "--out", str(tmp_path / "dicom"), check=False)
    assert again.returncode == 1 and "not empty" in again.stdout + again.stderr
    with (tmp_path / "dicom" / "ground-truth" / "series.csv").open() as handle:
        planted = list(csv.DictReader(handle))

    archive = tmp_path / "dicom" / "archive"
    problems = tmp_path / "problems.csv"
    run = fs(
        "node",
        "imaging",
        "index",
        str(archive),
        "-c",
        config,
        "--by",
        "op-alice",
        "--workers",
        "2",
        "--report",
        str(problems),
        "--json",
    )
    report = json.loads(run.stdout)
    assert report["finished"] and report["series"] == len(planted)
    assert report["instances"] == sum(int(r["n_instances"]) for r in planted)
    assert report["links"]["linked"] == sum(1 for r in planted if r["person_id"])
    with problems.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == sum(report["duplicates"].values()) > 0
    assert {r["status"] for r in rows} == {"duplicate"}

    with sqlite3.connect(node / "node.db") as con:
        events = con.execute(
            "SELECT actor, outcome, details FROM audit_events WHERE event_type = 'imaging_indexed'"
        ).fetchall()
    # the refused run is audited too, as the login name when no --by is given
    assert [(actor, outcome) for actor, outcome, _ in events] == [
        (getpass.getuser(), "failed"),
        ("op-alice", "ok"),
    ]
    details = json.loads(events[1][2])
    assert details["paths"] == [str(archive)] and details["files_found"] == report["found"]
    assert details["files_read"] == report["read"] and details["series"] == report["series"]

    shown = fs("node", "imaging", "index", str(archive), "-c", config, "--by", "op-alice")
    assert "unchanged since the last run (not read)" in shown.stdout
    assert "0 files read" in shown.stdout

    unmapped = json.loads(fs("node", "imaging", "unmapped", "-c", config, "--json").stdout)
    assert unmapped["series"] == len(planted)
    assert unmapped["body_part_unknown"] == sum(1 for r in planted if not r["body_part"])
    assert all(row["series"] > 0 for row in unmapped["contrast"])
