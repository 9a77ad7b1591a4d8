"""The hub admin's and the TRE admin's commands for people and tokens, on a hub's and a
node's databases (no service needs to run): what they set is what a login and a token then
hold. The commands run in this process (``fivesafes`` takes seconds to start on a busy
machine), through the command's own error boundary (``fivesafes.cli.main``), and
``tests/integration/test_cli.py`` runs the real command."""

from __future__ import annotations

import re
import subprocess
from datetime import date, timedelta

from typer.testing import CliRunner

from fivesafes.cli.main import app
from fivesafes.governance.accounts import totp
from fivesafes.governance.roles import Role, node_scope
from fivesafes.hub.config import HubConfig
from fivesafes.hub.people import authenticate
from fivesafes.hub.service import HubService
from fivesafes.node.setup import open_node
from fivesafes.settings import load_config
from fivesafes.storage.types import utcnow

PASSWORD = "a long enough passphrase"


def fs(*args: str, check: bool = True, input: str | None = None):
    result = CliRunner().invoke(app, list(args), input=input)
    code, stderr = result.exit_code, result.stderr
    done = subprocess.CompletedProcess(args, code, result.stdout, stderr)
    if check and code != 0:
        raise AssertionError(f"fivesafes {' '.join(args)} failed:\n{result.stdout}\n{stderr}")
    return done


def hub_service(path):
    service = HubService(load_config(path, HubConfig))
    service.start()
    return service


def test_a_hub_admin_sets_up_people_tokens_and_a_project(tmp_path):
    hub = str(tmp_path / "hub" / "hub.toml")
    fs("hub", "init", "--dir", str(tmp_path / "hub"))
    fs(
        "hub",
        "add-organisation",
        "uni-north",
        "--kind",
        "academic",
        "--name",
        "Uni North",
        "-c",
        hub,
    )
    until = (date.today() + timedelta(days=200)).isoformat()
    added = fs(
        "hub", "add-user", "alice", "--name", "Dr Alice", "--organisation", "uni-north",
        "--accredited-until", until, "-c", hub,
    ).stdout  # fmt: skip
    assert "researcher" in added and until in added
    fs("hub", "add-user", "root", "--role", "hub_admin", "-c", hub)
    fs("hub", "grant-role", "alice", "output_checker", "-c", hub)
    fs("hub", "revoke-role", "alice", "output_checker", "-c", hub)
    wrong = fs("hub", "grant-role", "alice", "custodian", "-c", hub, check=False)
    assert wrong.returncode == 2 and "not a role at the hub" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    fs("hub", "set-password", "alice", "--password-stdin", "-c", hub, input=PASSWORD + "\n")
    short = fs("hub", "set-password", "alice", "--password-stdin", "-c", hub, input="short\n",
               check=False)  # fmt: skip
    assert short.returncode == 2 and "at least 12" in short.stderr
    enrolled = fs("hub", "enrol-totp", "alice", "-c", hub).stdout
    secret = re.search(r"secret: ([A-Z2-7]+)", enrolled).group(1)
    assert "otpauth://totp/" in enrolled
    listed = fs("hub", "users", "-c", hub).stdout
    assert "alice" in listed and "researcher@hub" in listed and "enrolled" in listed

    fs("hub", "enrol-node", "northfield", "-c", hub)  # a node name to plan with
    service = hub_service(tmp_path / "hub" / "hub.toml")
    try:
        alice = service.accounts.login("alice", PASSWORD, totp.code_at(secret, utcnow()))
        assert alice.organisation == "uni-north" and alice.holds(Role.RESEARCHER)
        assert alice.accredited_until.isoformat() == until
    finally:
        service.stop()

    no_node = fs(
        "hub", "create-project", "--title", "T", "--member", "alice", "--node", "northfield",
        "-c", hub, check=False,
    )  # fmt: skip
    assert no_node.returncode == 2 and "not yet enrolled" in no_node.stderr
    bad_date = fs("hub", "set-accreditation", "alice", "--until", "31/12/2026", "-c", hub,
                  check=False)  # fmt: skip
    assert bad_date.returncode == 2 and "YYYY-MM-DD" in bad_date.stderr
    fs("hub", "set-accreditation", "alice", "--until", date.today().isoformat(), "-c", hub)
    fs("hub", "disable-user", "root", "-c", hub)
    assert "disabled" in fs("hub", "users", "-c", hub).stdout


def test_tokens_are_scoped_listed_and_revoked(tmp_path):
    hub = str(tmp_path / "hub.toml")
    fs("hub", "init", "--dir", str(tmp_path))
    fs("hub", "add-user", "bob", "-c", hub)
    token = fs(
        "hub", "issue-token", "bob", "--action", "tasks:read", "--action", "projects:read",
        "--days", "2", "-c", hub,
    ).stdout.strip()  # fmt: skip
    full = fs("hub", "issue-token", "bob", "-c", hub).stdout.strip()
    bad = fs("hub", "issue-token", "bob", "--action", "tasks:delete", "-c", hub, check=False)
    assert bad.returncode == 2 and "Unknown action" in bad.stderr
    listed = fs("hub", "tokens", "bob", "-c", hub).stdout
    assert "projects:read, tasks:read" in listed and token not in listed
    service = hub_service(tmp_path / "hub.toml")
    try:
        scoped = service.read(lambda s: authenticate(s, token))
        assert {a.value for a in scoped.scope.actions} == {"tasks:read", "projects:read"}
    finally:
        service.stop()
    fs("hub", "revoke-token", "1", "-c", hub)
    assert "revoked" in fs("hub", "tokens", "bob", "-c", hub).stdout
    service = hub_service(tmp_path / "hub.toml")
    try:
        assert service.read(lambda s: authenticate(s, full)).username == "bob"
    finally:
        service.stop()


def test_a_tre_admin_adds_the_nodes_custodians(tmp_path):
    node = str(tmp_path / "node.toml")
    fs(
        "node", "init", "--dir", str(tmp_path), "--name", "northfield", "--hub-url",
        "http://127.0.0.1:9", "--data", str(tmp_path / "cdm.duckdb"),
    )  # fmt: skip
    fs("node", "add-user", "cora", "--role", "custodian", "--name", "Dr Cora", "-c", node)
    fs("node", "add-user", "tom", "--role", "tre_admin", "--role", "output_checker", "-c", node)
    wrong = fs("node", "add-user", "rita", "--role", "researcher", "-c", node, check=False)
    assert wrong.returncode == 2 and "not a role at a node" in wrong.stderr
    none = fs("node", "add-user", "rita", "-c", node, check=False)
    assert none.returncode == 2
    fs("node", "set-password", "cora", "--password-stdin", "-c", node, input=PASSWORD + "\n")
    secret = re.search(r"secret: ([A-Z2-7]+)", fs("node", "enrol-totp", "cora", "-c", node).stdout)
    fs("node", "grant-role", "cora", "output_checker", "-c", node)
    listed = fs("node", "users", "-c", node).stdout
    assert "custodian@node:northfield" in listed and "tre_admin@node:northfield" in listed
    service = open_node(tmp_path / "node.toml")
    try:
        cora = service.accounts.login("cora", PASSWORD, totp.code_at(secret.group(1), utcnow()))
        assert cora.holds(Role.CUSTODIAN, node_scope("northfield"))
        assert cora.holds(Role.OUTPUT_CHECKER, node_scope("northfield"))
    finally:
        service.stop()
    assert (tmp_path / "accounts.key").exists()  # next to the config, made by init


def test_a_hub_admin_creates_edits_and_shows_a_project(tmp_path):
    from fivesafes.hub.enrolment import enrol_node, issue_enrolment_token
    from fivesafes.protocol.signing import generate_key, public_key_text

    hub = str(tmp_path / "hub.toml")
    fs("hub", "init", "--dir", str(tmp_path))
    until = (date.today() + timedelta(days=30)).isoformat()
    for name in ("alice", "bob"):
        fs("hub", "add-user", name, "--accredited-until", until, "-c", hub)
    service = hub_service(tmp_path / "hub.toml")
    try:

        def enrol(s):
            token = issue_enrolment_token(
                s, node_name="northfield", lifetime=timedelta(hours=1), by="t"
            )
            enrol_node(
                s, token=token, node_name="northfield", public_key=public_key_text(generate_key())
            )

        service.unit(enrol)
    finally:
        service.stop()
    project = fs(
        "hub", "create-project", "--title", "Lung cancer", "--member", "alice", "--pi", "alice",
        "--node", "northfield", "--purpose", "Incidence", "--domain", "omop", "--domain",
        "imaging", "--analysis", "count", "--analysis", "glm@1", "--sensitivity", "sensitive",
        "-c", hub,
    ).stdout.strip()  # fmt: skip
    shown = fs("hub", "project", project, "-c", hub).stdout
    assert "version 1" in shown and "risk tier: 3" in shown  # three factors at tier 2
    assert "count@1, glm@1" in shown and "pending" in shown
    same = fs("hub", "edit-project", project, "--title", "Lung cancer in smokers", "-c", hub)
    assert "same version" in same.stdout
    bumped = fs("hub", "edit-project", project, "--member", "alice", "--member", "bob",
                "--expect-version", "1", "-c", hub)  # fmt: skip
    assert "new version" in bumped.stdout
    stale = fs("hub", "edit-project", project, "--purpose", "x", "--expect-version", "1", "-c", hub,
               check=False)  # fmt: skip
    assert stale.returncode == 2 and "version 2" in stale.stderr
    shown = fs("hub", "project", project, "-c", hub).stdout
    assert "Lung cancer in smokers" in shown and "version 2" in shown and "members" in shown
    bad = fs("hub", "create-project", "--title", "T", "--member", "alice", "--node", "northfield",
             "--domain", "genomics", "-c", hub, check=False)  # fmt: skip
    assert bad.returncode == 2 and "Unknown data domain" in bad.stderr
