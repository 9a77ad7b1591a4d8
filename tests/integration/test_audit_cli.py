"""Audit checkpoints with real processes: a running hub and node sign their chain's head by
themselves and when they stop, ``fivesafes audit checkpoint`` signs on demand, and
``fivesafes audit verify`` finds a rewrite of the hub's database that re-computed every hash."""

from __future__ import annotations

import time

from audit_tampering import read_rows, rehashed, write_rows
from federation import fs
from fivesafes.data.synth import concepts as c
from fivesafes.demo.local import edit_toml
from fivesafes.hub.db import AUDIT

LUNG_CANCER = {"name": "lc", "criteria": [{"domain": "condition", "concepts": [c.LUNG_CANCER]}]}


def wait_for_lines(path, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text().strip():
            return path.read_text().splitlines()
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint in {path}")


def test_services_sign_checkpoints_and_verify_finds_a_rehashed_rewrite(harness, site_data):
    harness.start_hub(audit_checkpoint_events=1, audit_checkpoint_seconds=0.5)
    harness.add_node("northfield", {"engine": "duckdb", "path": str(site_data["northfield"])},
                     start=False)  # fmt: skip
    node_toml = harness.root / "northfield" / "node.toml"
    hub_toml = harness.root / "hub" / "hub.toml"
    edit_toml(node_toml, "node", audit_checkpoint_events=1, audit_checkpoint_seconds=0.5)
    harness.start_node("northfield")
    fed = harness.federation(harness.researcher(), harness.project(["alice"], ["northfield"]))
    assert fed.count(LUNG_CANCER).per_node["northfield"] is not None

    wait_for_lines(harness.root / "hub" / "audit-checkpoints.jsonl")
    wait_for_lines(harness.root / "northfield" / "audit-checkpoints.jsonl")
    verified = fs("audit", "verify", "--config", str(hub_toml)).stdout
    assert "audit chain intact" in verified and "checkpoints signed by key" in verified

    harness.nodes["northfield"].stop()  # a last checkpoint as it stops
    assert "Nothing was appended" in fs("audit", "checkpoint", "--config", str(node_toml)).stdout
    shown = fs("node", "verify-audit", "--config", str(node_toml)).stdout
    assert "audit chain intact" in shown and "newest covering event" in shown

    harness.hub_process.stop()
    hub = harness.hub()
    try:

        def rewrite(session):  # someone with the database's password, and time
            rows = read_rows(session, AUDIT)
            rows[2]["actor"] = "mallory"
            write_rows(session, AUDIT, rehashed(rows), move_head=True)

        hub.unit(rewrite)
    finally:
        hub.stop()
    broken = fs("audit", "verify", "--config", str(hub_toml), check=False)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "rewritten up to here" in broken.stdout and "Traceback" not in broken.stderr
    assert "rewritten" in fs("hub", "verify-audit", "--config", str(hub_toml), check=False).stdout
