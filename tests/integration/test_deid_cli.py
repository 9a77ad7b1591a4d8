"""De-identification from the command line, as an operator runs it (the real ``fivesafes``
command): the PHI answer key's archive de-identified with options, the report and its CSV, the
run audited with counts and never a value, and an unknown option refused in words."""

from __future__ import annotations

import csv
import json
import sqlite3

import pydicom

from federation import fs
from fivesafes.data.synth import generate
from fivesafes.imaging.deid.phi_key import load_key, write_phi_archive


def test_an_operator_deidentifies_a_folder(tmp_path):
    node = tmp_path / "tre"
    omop = tmp_path / "omop.duckdb"
    generate(omop, persons=20, seed=5)
    fs("node", "init", "--dir", str(node), "--name", "deid-node",
       "--hub-url", "http://127.0.0.1:9", "--data", str(omop))  # fmt: skip
    config = str(node / "node.toml")
    fs("node", "pseudonym-key", "-c", config)
    write_phi_archive(tmp_path / "phi", files=30, seed=2)
    archive, out, problems = tmp_path / "phi" / "archive", tmp_path / "out", tmp_path / "p.csv"

    refused = fs("node", "imaging", "deid", str(archive), "--out", str(out), "-c", config,
                 "--option", "retain-everything", check=False)  # fmt: skip
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "Unknown de-identification option" in said
    assert "retain-modified-dates" in said and "retain-everything" not in said
    assert "Traceback" not in refused.stdout + refused.stderr and not out.exists()

    run = fs("node", "imaging", "deid", str(archive), "--out", str(out), "-c", config,
             "--option", "retain-modified-dates", "--option", "clean-pixel-data",
             "--option", "clean-descriptors", "--option", "clean-structured-content",
             "--project", "pictures-7", "--by", "op-alice", "--report", str(problems),
             "--json")  # fmt: skip
    report = json.loads(run.stdout)
    written = [p for p in out.rglob("*.dcm")]
    assert report["files"] == 30 and report["written"] == len(written) > 15
    assert (
        report["written"]
        + sum(report["rejected"].values())
        + sum(report["failed_verification"].values())
        + sum(report["duplicates"].values())
        + sum(report["unreadable"].values())
        == 30
    )
    with problems.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 30 - report["written"]
    for path in written:
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
        assert dataset.PatientIdentityRemoved == "YES"
        codes = {item.CodeValue for item in dataset.DeidentificationMethodCodeSequence}
        assert codes == {"113100", "113107", "113101", "113105", "113104"}

    key = load_key(tmp_path / "phi" / "answer-key.json")
    planted = {
        check.value
        for file in key.files
        for check in file.checks
        if check.kind == "removed" and isinstance(check.value, str) and len(check.value) > 3
    }
    with sqlite3.connect(node / "node.db") as con:
        audited = con.execute(
            "SELECT actor, outcome, details FROM audit_events"
            " WHERE event_type = 'imaging_deidentified'"
        ).fetchall()
    assert [(actor, outcome) for actor, outcome, _ in audited] == [("op-alice", "ok")]
    details = json.loads(audited[0][2])
    assert details["written"] == report["written"] and details["project"] == "pictures-7"
    assert planted and not any(value in audited[0][2] for value in planted)
