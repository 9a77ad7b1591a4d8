"""A custodian's extraction approvals from the command line (the real ``fivesafes`` command, as
a node's custodian runs it; ADR 0028 point 3): approve extraction with two de-identification
options for a project the node approved, list it, revoke it, list it revoked. An unknown
option, a project the node has not approved and someone who is not a custodian are refused in
words, with a non-zero exit and no trace; the audit chain verifies afterwards.

The node's approval of the project is written into the node's database directly: approving it
by the command line needs a hub serving its signed record (``tests/integration/test_cli.py``
does that whole path), which is not what is tested here."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from federation import fs
from fivesafes.data.synth import generate

OPTIONS = ("--option", "retain-modified-dates", "--option", "clean-descriptors")


def node_with_approved_project(tmp_path) -> str:
    node, omop = tmp_path / "tre", tmp_path / "omop.duckdb"
    generate(omop, persons=20, seed=3)
    fs("node", "init", "--dir", str(node), "--name", "northfield", "--hub-url",
       "http://127.0.0.1:9", "--data", str(omop))  # fmt: skip
    config = str(node / "node.toml")
    fs("node", "add-user", "dr-custodian", "--role", "custodian", "--config", config,
       "--name", "Dr Custodian")  # fmt: skip
    fs("node", "add-user", "carol", "--role", "output_checker", "--config", config)

    from fivesafes.node.db import Approval
    from fivesafes.node.setup import open_node

    approval = Approval(
        project_id="p_lung", version=1, title="Lung imaging", members=["alice"],
        analyses=["count@1"], start_date=date.today(), end_date=date.today() + timedelta(days=365),
        state="approved", decided_at=datetime.now(UTC), decided_by="dr-custodian",
        record_signature="test",
    )  # fmt: skip
    service = open_node(node / "node.toml")
    try:
        service.unit(lambda s: s.add(approval))
    finally:
        service.stop()
    return config


def listed(config: str) -> list[dict]:
    done = fs("node", "extraction", "list", "--config", config, "--json")
    return json.loads(done.stdout)


def refused(*args: str) -> str:
    done = fs(*args, check=False)
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr + done.stdout
    return done.stderr + done.stdout


def test_a_custodian_approves_lists_and_revokes_extraction(tmp_path):
    config = node_with_approved_project(tmp_path)
    by = ("--by", "dr-custodian", "--config", config)
    assert listed(config) == []

    approved = fs("node", "extraction", "approve", "p_lung", *OPTIONS, *by).stdout
    assert "Extraction approved for p_lung at northfield" in approved
    assert "retain-modified-dates, clean-descriptors" in approved
    [row] = listed(config)
    assert (row["project_id"], row["state"], row["profile"], row["options"]) == (
        "p_lung", "approved", "basic", ["retain-modified-dates", "clean-descriptors"],
    )  # fmt: skip
    assert row["decided_by"] == "dr-custodian" and row["reason"] is None
    table = fs("node", "extraction", "list", "--config", config).stdout
    assert "p_lung" in table and "approved" in table and "clean-descriptors" in table

    revoked = fs("node", "extraction", "revoke", "p_lung", "--reason", "scanner list under "
                 "review", *by).stdout  # fmt: skip
    assert "Extraction revoked for p_lung at northfield" in revoked
    [row] = listed(config)
    assert (row["state"], row["options"], row["reason"]) == (
        "revoked", [], "scanner list under review",
    )  # fmt: skip
    assert "revoked" in fs("node", "extraction", "list", "--config", config).stdout

    assert fs("node", "verify-audit", "--config", config).returncode == 0


def test_refusals_are_told_in_words(tmp_path):
    config = node_with_approved_project(tmp_path)
    by = ("--by", "dr-custodian", "--config", config)

    unknown = refused("node", "extraction", "approve", "p_lung", "--option", "retain-uids-42",
                      *by)  # fmt: skip
    assert "error: Unknown de-identification option" in unknown
    assert "clean-pixel-data" in unknown and "retain-uids-42" not in unknown

    other = refused("node", "extraction", "approve", "p_elsewhere", *OPTIONS, *by)
    assert "has not approved the project" in other

    checker = refused("node", "extraction", "approve", "p_lung", *OPTIONS, "--by", "carol",
                      "--config", config)  # fmt: skip
    assert "Only a custodian of northfield approves extraction there" in checker

    nothing = refused("node", "extraction", "revoke", "p_lung", "--reason", "x", *by)
    assert "nothing to revoke" in nothing

    as_json = fs("node", "extraction", "list", "--config", str(tmp_path / "none.toml"),
                 "--json", check=False)  # fmt: skip
    assert as_json.returncode != 0 and "Traceback" not in as_json.stderr
    assert "error" in json.loads(as_json.stdout)
    assert listed(config) == []
