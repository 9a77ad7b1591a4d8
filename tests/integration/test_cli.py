"""The README's two-machine walk-through, run with the real ``fivesafes`` command."""

from __future__ import annotations

import csv
import json
import subprocess
import time
from datetime import date, timedelta

import pytest

from federation import fs
from fivesafes.data.synth import concepts as c
from fivesafes.demo.processes import Supervisor, free_port, wait_for_health


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout.strip().splitlines()[-1].strip()


def test_deploy_a_hub_and_a_node_with_the_cli(tmp_path, site_data):
    hub_dir, node_dir = tmp_path / "hub-machine", tmp_path / "tre-machine"
    port = free_port()
    hub_url = f"http://127.0.0.1:{port}"
    hub_toml = str(hub_dir / "hub.toml")
    node_toml = str(node_dir / "node.toml")

    fs("hub", "init", "--dir", str(hub_dir), "--name", "national-hub", "--port", str(port))
    with Supervisor() as supervisor:
        hub = supervisor.start("hub", ["hub", "serve", "--config", hub_toml], hub_dir / "hub.log")
        wait_for_health(hub_url, hub)

        enrolment = fs("hub", "enrol-node", "northfield", "--config", hub_toml)
        token = enrolment.stdout.split("usable once):")[1].split()[0]
        fingerprint = enrolment.stdout.split("Hub key fingerprint:")[1].split()[0]

        fs(
            "node",
            "init",
            "--dir",
            str(node_dir),
            "--name",
            "northfield",
            "--hub-url",
            hub_url,
            "--data",
            str(site_data["northfield"]),
        )
        fs(
            "node",
            "enrol",
            "--config",
            node_toml,
            "--token",
            token,
            "--expect-fingerprint",
            fingerprint,
        )
        again = fs("node", "enrol", "--config", node_toml, "--token", token, check=False)
        assert again.returncode == 2 and "Traceback" not in again.stderr

        supervisor.start(
            "northfield", ["node", "serve", "--config", node_toml], node_dir / "node.log"
        )

        accredited = (date.today() + timedelta(days=90)).isoformat()
        fs(
            "hub", "add-user", "alice", "--config", hub_toml, "--name", "Alice",
            "--accredited-until", accredited,
        )  # fmt: skip
        fs(
            "node", "add-user", "dr-custodian", "--role", "custodian", "--config", node_toml,
            "--name", "Dr Custodian",
        )  # fmt: skip
        api_token = last_line(fs("hub", "issue-token", "alice", "--config", hub_toml))
        project = last_line(
            fs(
                "hub",
                "create-project",
                "--config",
                hub_toml,
                "--title",
                "Lung cancer study",
                "--member",
                "alice",
                "--node",
                "northfield",
            )
        )
        declined = fs(
            "node", "approve", project, "--config", node_toml, "--by", "dr-custodian",
            input="n\n", check=False,
        )  # fmt: skip
        assert declined.returncode == 1
        approved = fs(
            "node", "approve", project, "--config", node_toml, "--by", "dr-custodian", "--yes"
        )
        assert "Lung cancer study" in approved.stdout and "alice" in approved.stdout

        connection = tmp_path / "connection.json"
        connection.write_text(
            json.dumps({"hub_url": hub_url, "token": api_token, "project": project})
        )
        cohort = tmp_path / "cohort.json"
        cohort.write_text(
            json.dumps(
                {"name": "lc", "criteria": [{"domain": "condition", "concepts": [c.LUNG_CANCER]}]}
            )
        )
        counted = json.loads(
            fs("count", "--connection", str(connection), "--cohort", str(cohort), "--json").stdout
        )
        assert counted["nodes"][0]["state"] == "succeeded"
        assert counted["total"] == counted["nodes"][0]["value"] and counted["total"] >= 10

        out = tmp_path / "count.csv"  # the result as its page in the hub's portal shows it
        table = fs("count", "--connection", str(connection), "--cohort", str(cohort),
                   "--csv", str(out)).stdout  # fmt: skip
        assert "northfield" in table and "TOTAL" in table and f"CSV: {out}" in table
        written = list(csv.DictReader(out.open(newline="", encoding="utf-8")))
        released = [(r["node"], r["answer"], r["count"]) for r in written if r["table"] != "notes"]
        total = str(counted["total"])
        assert released == [("northfield", "succeeded", total), ("total", "complete", total)]

        listed = json.loads(fs("tasks", "--connection", str(connection), "--json").stdout)
        assert [t["asked"] for t in listed] == ['count of "lc"', 'count of "lc"']
        assert listed[0]["nodes"] == {"succeeded": 1} and listed[0]["project_id"] == project
        assert listed[0]["created_at"] >= listed[1]["created_at"]  # newest first
        paged = json.loads(fs("tasks", "--connection", str(connection), "--json", "--limit",
                              "1", "--offset", "1").stdout)  # fmt: skip
        assert [t["task_id"] for t in paged] == [listed[1]["task_id"]]
        assert 'count of "lc"' in fs("tasks", "--connection", str(connection)).stdout
        elsewhere = fs("tasks", "--connection", str(connection), "--project", "p_none", "--json")
        assert json.loads(elsewhere.stdout) == []  # a project not hers lists nothing

        assert "online" in fs("hub", "nodes", "--config", hub_toml).stdout
        nodes = fs("nodes", "--connection", str(connection)).stdout  # the researcher's view
        assert "northfield" in nodes and "online" in nodes and "UTC)" in nodes
        [node] = json.loads(fs("nodes", "--connection", str(connection), "--json").stdout)
        assert node["name"] == "northfield" and node["online"] is True
        runs = fs("node", "runs", "--config", node_toml).stdout
        assert runs.count("succeeded") == 2
        assert "approved" in fs("node", "approvals", "--config", node_toml).stdout
        assert "audit chain intact" in fs("hub", "verify-audit", "--config", hub_toml).stdout
        assert "audit chain intact" in fs("node", "verify-audit", "--config", node_toml).stdout
        shown = fs("node", "show-config", "--config", node_toml).stdout
        assert '"threshold": 10' in shown and '"differencing": "refuse"' in shown

        fs("node", "revoke", project, "--config", node_toml, "--by", "dr-custodian")
        none = fs("count", "--connection", str(connection), "--cohort", str(cohort), "--json",
                  check=False)  # fmt: skip
        assert none.returncode == 1  # no node released a value: no count to read
        refused = json.loads(none.stdout)  # one JSON document; the verdict on stderr
        assert refused["nodes"][0]["reason"] == "project_not_approved"
        assert refused["outcome"] == (
            "0 of 1 nodes released a count; 1 refused (project_not_approved)"
        )
        assert "No node released a count: 1 refused (project_not_approved)" in none.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("count", "--connection", "/nonexistent/connection.json", "--cohort", "/etc/hostname"),
        ("hub", "nodes", "--config", "/nonexistent/hub.toml"),
        ("node", "runs", "--config", "/nonexistent/node.toml"),
    ],
)
def test_cli_errors_are_one_line_not_a_traceback(args):
    result = fs(*args, check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert "error" in result.stderr.lower()


def test_hub_init_refuses_to_overwrite(tmp_path):
    fs("hub", "init", "--dir", str(tmp_path))
    key_before = (tmp_path / "hub.key").read_bytes()
    again = fs("hub", "init", "--dir", str(tmp_path), check=False)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert (tmp_path / "hub.key").read_bytes() == key_before


def test_node_init_refuses_plain_http_off_loopback(tmp_path, site_data):
    result = fs(
        "node",
        "init",
        "--dir",
        str(tmp_path),
        "--name",
        "n1",
        "--hub-url",
        "http://hub.example.org",
        "--data",
        str(site_data["northfield"]),
        check=False,
    )
    assert result.returncode == 2 and "plain HTTP" in result.stderr
    assert not (tmp_path / "node.toml").exists() and not (tmp_path / "node.key").exists()
    time.sleep(0)


@pytest.mark.parametrize(
    ("service", "options", "named"),
    [
        ("node", ["--threshold", "5"], "threshold=5 would loosen profile 'default'"),
        ("node", ["--profile", "acro", "--rounding-base", "10"], None),
        ("hub", ["--profile", "lenient"], "unknown profile 'lenient'"),
        ("hub", ["--profile", "opensafely", "--rounding-base", "7"], "rounding_base=7"),
    ],
)
def test_init_takes_a_named_profile_and_only_tightens_it(tmp_path, service, options, named):
    required = (
        ["--name", "north", "--hub-url", "http://127.0.0.1:9", "--data", str(tmp_path / "x")]
        if service == "node"
        else []
    )
    result = fs(service, "init", "--dir", str(tmp_path / service), *required, *options, check=False)
    written = tmp_path / service / f"{service}.toml"
    if named is None:
        assert result.returncode == 0, result.stderr
        assert 'profile = "acro"' in written.read_text()
        return
    assert result.returncode != 0 and named in result.stderr
    assert "Traceback" not in result.stderr
    assert not written.exists()  # nothing half-written
