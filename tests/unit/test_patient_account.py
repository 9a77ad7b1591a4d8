"""The patient data account on a small synthetic site: 60 persons whose CDM keeps the
pseudonym of their NHS number in ``person_source_value``; counts are run and released through
the node's own runner and outbox, and the account is read back from the released person sets.

    condition  persons  project  at the node
    A          1..20    pA       released (20)
    E          1..40    pA       released (40)
    D          1..15    pA       refused: differs from A by 5 (differencing)
    B          21..40   pB       released (20)
    C          1..5     pC       suppressed (5 < 10): a marker, nobody recorded

Person 3 (NHS number 943 476 0003) is behind A, E, D and C: the account lists pA (2 outputs),
never pB, never pC (suppressed) and nothing for D (refused).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta

import duckdb
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from fivesafes.audit.verify import verify_audit
from fivesafes.cli.main import app
from fivesafes.node import runs
from fivesafes.node.db import AUDIT, Approval
from fivesafes.node.patient_account import patient_account
from fivesafes.node.pseudonyms import create_key, load_key, lookup_tag, pseudonym
from fivesafes.node.runner import run_task
from fivesafes.node.service import NodeService
from fivesafes.node.setup import init_node
from fivesafes.protocol.errors import ConfigError, InvalidRequest, NotConfigured
from fivesafes.protocol.models import TaskPayload
from fivesafes.protocol.runs import ReasonCode
from fivesafes.protocol.signing import public_key_text
from fivesafes.settings import load_config
from fixtures_omop import FEMALE, MALE, OmopRows, write_duckdb

A, B, C, D, E = 4001, 4002, 4003, 4004, 4005
GROUPS = {A: range(1, 21), B: range(21, 41), C: range(1, 6), D: range(1, 16), E: range(1, 41)}
KNOWN = "943 476 0003"  # person 3


def nhs(person_id: int) -> str:
    return f"943476{person_id:04d}"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """A node over the synthetic site, with every task of the table above answered."""
    root = tmp_path_factory.mktemp("patient-account")
    rows = OmopRows(
        person=[(p, MALE if p % 2 else FEMALE, 1950 + p % 40) for p in range(1, 61)],
        condition=[(p, c, "2020-03-01") for c, group in GROUPS.items() for p in group],
    )
    cdm = write_duckdb(rows.tables(), root / "omop.duckdb")
    config = init_node(root / "node", name="northfield", hub_url="http://127.0.0.1:9",
                       data={"engine": "duckdb", "path": str(cdm)})  # fmt: skip
    create_key(config.node.pseudonym_key_file)
    key = load_key(config.node.pseudonym_key_file)
    with duckdb.connect(str(cdm)) as con:  # the TRE's pipeline, at ingest
        con.execute("ALTER TABLE person ADD COLUMN person_source_value VARCHAR")
        for p in range(1, 61):
            con.execute("UPDATE person SET person_source_value = ? WHERE person_id = ?",
                        [pseudonym(nhs(p), key), p])  # fmt: skip
    service = NodeService(load_config(root / "node" / "node.toml", type(config)))
    service.start()
    answered = answer_tasks(service)
    yield service, answered
    service.stop()


def answer_tasks(service):
    from fivesafes.data.engines import open_omop

    now = datetime.now(UTC).replace(microsecond=0)
    today = date.today()
    service.unit(lambda s: s.add_all([approval(p, today) for p in ("pA", "pB", "pC")]))
    outcomes = {}
    with open_omop(service.config.data) as db:
        for n, (project, concept) in enumerate([("pA", A), ("pA", E), ("pA", D), ("pB", B),
                                                ("pC", C)]):  # fmt: skip
            task = TaskPayload(
                task_id=f"t{n}", project_id=project, project_version=1, requester="alice",
                analysis="count", targets=["northfield"], issued_at=now,
                expires_at=now + timedelta(minutes=5),
                parameters={"cohort": {"name": f"c{concept}", "criteria": [
                    {"domain": "condition", "concepts": [concept]}]}},
            )  # fmt: skip
            outcome = run_task(task, db, service.config.profile, service.person_sets())
            service.unit(
                lambda s, task=task, outcome=outcome, n=n: runs.record_outcome(
                    s, run_id=f"r{n}", task_id=task.task_id, task=task, outcome=outcome,
                    node="northfield", key=service.key, now=now,
                )
            )  # fmt: skip
            outcomes[concept] = outcome
    return outcomes


def approval(project_id, today):
    return Approval(
        project_id=project_id, version=1, title=f"Project {project_id[1]}", members=["alice"],
        analyses=["count"], start_date=today, end_date=today + timedelta(days=365),
        state="approved", decided_at=datetime.now(UTC), decided_by="custodian",
        record_signature="x",
    )  # fmt: skip


def test_the_site_released_what_the_table_says(node):
    _, outcomes = node
    assert outcomes[A].output["count"]["value"] == 20
    assert outcomes[E].output["count"]["value"] == 40
    assert outcomes[B].output["count"]["value"] == 20
    assert outcomes[C].status == "succeeded" and outcomes[C].output["count"]["suppressed"]
    assert (outcomes[D].status, outcomes[D].reason) == ("refused", ReasonCode.DIFFERENCING_RISK)


def test_a_known_person_sees_the_project_they_contributed_to_and_no_other(node):
    service, _ = node
    account = patient_account(service, by="custodian@northfield", identifier=KNOWN)
    assert account.found and account.node == "northfield"
    (project,) = account.projects  # not pB (not in it), not pC (suppressed), nothing for D
    assert (project.project_id, project.title, project.outputs) == ("pA", "Project A", 2)
    assert project.analyses == ["count"] and project.approval == "approved"
    assert project.start_date == date.today() and project.first_release <= project.last_release
    assert project.purpose is None and project.lay_summary is None  # not in this record yet
    by_id = patient_account(service, by="custodian@northfield", person_id=3)
    assert by_id.projects == account.projects


@pytest.mark.parametrize(
    ("person", "projects"),
    [(25, ["pA", "pB"]), (45, []), (3, ["pA"])],
)
def test_each_person_sees_exactly_their_projects(node, person, projects):
    service, _ = node
    account = patient_account(service, by="custodian", identifier=nhs(person))
    assert account.found and sorted(p.project_id for p in account.projects) == projects


def test_an_unknown_identifier_is_found_nowhere(node):
    service, _ = node
    account = patient_account(service, by="custodian", identifier="111 222 3333")
    assert (account.found, account.projects) == (False, [])


def test_every_lookup_is_audited_without_naming_the_person(node, caplog):
    caplog.set_level(logging.DEBUG)
    service, _ = node
    secret = [KNOWN, nhs(3), pseudonym(KNOWN, load_key(service.config.node.pseudonym_key_file))]
    before = events(service)
    patient_account(service, by="dr-who", identifier=KNOWN)
    patient_account(service, by="dr-who", person_id=3)
    patient_account(service, by="dr-who", person_id=4)
    looked = events(service)[len(before) :]
    assert [(e["event_type"], e["actor"], e["outcome"]) for e in looked] == [
        ("patient_account_viewed", "dr-who", "ok")
    ] * 3
    tags = [e["details"]["tag"] for e in looked]
    assert tags[0] == tags[1] == lookup_tag(service.key, "person:3") != tags[2]
    assert [e["details"]["lookup"] for e in looked] == ["identifier", "person_id", "person_id"]
    everything = json.dumps(events(service), default=str) + caplog.text
    assert not any(s in everything for s in secret)
    assert "person:3" not in everything
    report = service.read(lambda s: verify_audit(s, AUDIT, public_key_text(service.key)))
    assert report.ok


def test_a_failed_lookup_is_audited_too(node, tmp_path):
    service, _ = node
    before = len(events(service))
    with pytest.raises(InvalidRequest):
        patient_account(service, by="dr-who", identifier="   ")
    (event,) = events(service)[before:]
    assert (event["outcome"], event["details"]) == ("failed", {"lookup": "identifier",
                                                               "tag": None})  # fmt: skip


def test_the_identifier_is_normalised_and_the_key_is_needed(tmp_path):
    key = b"k" * 32
    assert pseudonym("943 476 5919", key) == pseudonym(" 943-476-5919\n", key)
    assert pseudonym("ab12", key) == pseudonym("AB 12", key) != pseudonym("ab12", b"j" * 32)
    assert len(pseudonym("943 476 5919", key)) == 45 and pseudonym("1", key).startswith("fsp1:")
    with pytest.raises(NotConfigured) as missing:  # shown in the portal: no server path
        load_key(tmp_path / "none.key")
    assert "fivesafes node pseudonym-key" in missing.value.message
    assert str(tmp_path) not in missing.value.message and missing.value.status == 503
    (tmp_path / "bad.key").write_text("not hex")
    with pytest.raises(NotConfigured) as bad:
        load_key(tmp_path / "bad.key")
    assert str(tmp_path) not in bad.value.message
    create_key(tmp_path / "p.key")
    assert (tmp_path / "p.key").stat().st_mode & 0o777 == 0o600
    with pytest.raises(ConfigError):
        create_key(tmp_path / "p.key")


def test_the_command_line(node):
    service, _ = node
    config = str(service.config.node.key_file.parent / "node.toml")
    runner = CliRunner()
    shown = runner.invoke(app, ["node", "patient-account", "--identifier", "-", "--by", "desk",
                                "--config", config, "--json"], input=KNOWN + "\n")  # fmt: skip
    assert shown.exit_code == 0, shown.output
    account = json.loads(shown.output)
    assert [p["project_id"] for p in account["projects"]] == ["pA"]
    assert account["projects"][0]["outputs"] == 2
    table = runner.invoke(app, ["node", "patient-account", "--person-id", "25", "--by", "desk",
                                "--config", config])  # fmt: skip
    assert table.exit_code == 0 and "Project B" in table.output and "Project A" in table.output
    none = runner.invoke(app, ["node", "patient-account", "--by", "desk", "--config", config])
    assert none.exit_code == 2
    piped = runner.invoke(app, ["node", "pseudonymise", "-", "--config", config],
                          input=f"{nhs(1)}\n{nhs(2)}\n")  # fmt: skip
    key = load_key(service.config.node.pseudonym_key_file)
    assert piped.output.split() == [pseudonym(nhs(1), key), pseudonym(nhs(2), key)]


def events(service):
    query = select(AUDIT.events).order_by(AUDIT.events.c.seq)
    return service.read(lambda s: [dict(r) for r in s.execute(query).mappings()])
