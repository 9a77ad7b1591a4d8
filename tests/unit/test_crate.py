"""A task's Five Safes RO-Crate, from a hub whose task ran at three nodes: one released its
count, one suppressed it, one refused it (differencing). The crate is RO-Crate 1.1 JSON-LD with
the profile's entities; every file entity has its file with the right SHA-256 and size; every
reference resolves; the hub's signature covers every file, and a changed byte is found."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from fivesafes.analyses.registry import REGISTRY
from fivesafes.cli.main import app
from fivesafes.hub import runs
from fivesafes.hub.config import HubConfig
from fivesafes.hub.crate import export_crate, verify_crate
from fivesafes.hub.crate_metadata import CONTEXT, PROFILE
from fivesafes.hub.db import AUDIT, Node
from fivesafes.hub.enrolment import enrol_node, issue_enrolment_token
from fivesafes.hub.people import create_organisation, create_user
from fivesafes.hub.projects import create_project, record_approval_report
from fivesafes.hub.service import HubService
from fivesafes.hub.setup import init_hub
from fivesafes.hub.tasks import create_task
from fivesafes.protocol.errors import BadSignature, InvalidRequest, NotFoundOrNoPermission
from fivesafes.protocol.models import ApprovalReport, ResultPayload, SignedResult
from fivesafes.protocol.signing import generate_key, public_key_text, sign, verify
from fivesafes.settings import load_config
from fivesafes.storage.types import utcnow

COHORT = {"name": "lung cancer", "criteria": [{"domain": "condition", "concepts": [443388]}]}
GATE_PASS = {"verdict": "pass", "profile": "default", "rules": ["rounded to 10"]}
GATE_FAIL = {"verdict": "fail", "profile": "default", "rules": ["threshold"]}
NODES = ("east", "north", "south")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """A hub with one completed count task: north released 120, south suppressed, east
    refused for a differencing risk."""
    root = tmp_path_factory.mktemp("crate-hub")
    init_hub(root / "hub", name="national-hub")
    service = HubService(load_config(root / "hub" / "hub.toml", HubConfig))
    service.start()
    keys = {name: generate_key() for name in NODES}
    task_id = service.unit(lambda s: build(s, service, keys))
    for name in NODES:
        lease = service.unit(lambda s, name=name: runs.lease_next_run(
            s, node(s, name), utcnow(), timedelta(seconds=60)))  # fmt: skip
        outcome = {
            "north": ("succeeded", None, {"count": {"value": 120, "suppressed": False,
                                                    "rule": "rounded to 10"}, "gate": GATE_PASS}),
            "south": ("succeeded", None, {"count": {"value": None, "suppressed": True,
                                                    "rule": "fewer than 10"}, "gate": GATE_FAIL}),
            "east": ("refused", "differencing_risk", None),
        }[name]  # fmt: skip
        payload = ResultPayload(run_id=lease.run_id, task_id=task_id, node=name,
                                status=outcome[0], reason=outcome[1], output=outcome[2],
                                finished_at=utcnow()).model_dump(mode="json")  # fmt: skip
        signed = SignedResult(payload=payload, signature=sign(payload, keys[name]))
        service.unit(lambda s, name=name, signed=signed: runs.submit_result(
            s, node(s, name), signed, service.config.profile, utcnow(), service.key))  # fmt: skip
    yield service, task_id, root
    service.stop()


def node(session, name):
    return session.scalar(select(Node).where(Node.name == name))


def build(s, service, keys):
    for name, key in keys.items():
        token = issue_enrolment_token(s, node_name=name, lifetime=timedelta(hours=1), by="a")
        enrol_node(s, token=token, node_name=name, public_key=public_key_text(key))
    create_organisation(s, name="uni-north", display_name="University of the North",
                        kind="academic", by="a")  # fmt: skip
    s.execute(update(Node).where(Node.name == "north").values(organisation="uni-north"))
    alice = create_user(s, username="alice", display_name="Dr Alice Researcher",
                        role="researcher", organisation="uni-north",
                        accredited_until=date.today() + timedelta(days=30), by="a")  # fmt: skip
    project = create_project(
        s, title="Lung cancer and smoking", members=["alice"], nodes=list(NODES),
        start_date=date.today(), end_date=date.today() + timedelta(days=30),
        lay_summary="Who gets lung cancer?", purpose="Incidence by smoking status.", by="a",
    )  # fmt: skip
    for name in NODES:
        record_approval_report(s, node(s, name), ApprovalReport(
            project_id=project.id, version=1, decision="approved"))  # fmt: skip
    request = REGISTRY.task_request.model_validate(
        {"project_id": project.id, "analysis": "count", "parameters": {"cohort": COHORT},
         "timeout_seconds": 60}
    )  # fmt: skip
    task, _ = create_task(s, request, by=alice, key=service.key)
    return task.id


def export(service, task_id, out):
    return service.unit(
        lambda s: export_crate(
            s, task_id, out, hub_name="national-hub", key=service.key, by="hub-admin"
        )
    )


@pytest.fixture(scope="module")
def crate(hub, tmp_path_factory):
    service, task_id, _ = hub
    out = tmp_path_factory.mktemp("crate") / "t"
    export(service, task_id, out)
    return out, json.loads((out / "ro-crate-metadata.json").read_text())


def refs(value):
    """Every {"@id": ...} reference inside an entity."""
    if isinstance(value, dict):
        if set(value) == {"@id"}:
            yield value["@id"]
        else:
            for v in value.values():
                yield from refs(v)
    elif isinstance(value, list):
        for v in value:
            yield from refs(v)


def test_the_crate_is_ro_crate_1_1_json_ld_with_a_root_dataset(crate):
    _, metadata = crate
    assert set(metadata) == {"@context", "@graph"}
    assert metadata["@context"] == CONTEXT
    assert metadata["@context"][0] == "https://w3id.org/ro/crate/1.1/context"
    ids = [e["@id"] for e in metadata["@graph"]]
    assert len(ids) == len(set(ids)) and all("@type" in e for e in metadata["@graph"])
    graph = {e["@id"]: e for e in metadata["@graph"]}
    descriptor = graph["ro-crate-metadata.json"]
    assert descriptor["@type"] == "CreativeWork" and descriptor["about"] == {"@id": "./"}
    assert descriptor["conformsTo"] == {"@id": "https://w3id.org/ro/crate/1.1"}
    root = graph["./"]
    assert root["@type"] == "Dataset" and root["conformsTo"] == {"@id": PROFILE}
    assert graph[PROFILE]["@type"] == "Profile"
    assert {"name", "description", "datePublished", "license"} <= set(root)
    for entity in metadata["@graph"]:  # every local reference resolves
        for target in refs({k: v for k, v in entity.items() if k != "@id"}):
            assert target in graph or target.startswith("https://"), (entity["@id"], target)


def test_every_file_entity_has_its_file_with_the_right_sha256(crate, hub):
    out, metadata = crate
    service, _, _ = hub
    files = [e for e in metadata["@graph"] if e["@type"] == "File"]
    assert sorted(f["@id"] for f in files) == [
        "outputs/combined.json", "outputs/east.json", "outputs/north.json",
        "outputs/south.json", "request/task.json", "signature.json",
    ]  # fmt: skip
    assert sorted(p["@id"] for p in next(e for e in metadata["@graph"] if e["@id"] == "./")[
        "hasPart"]) == sorted(f["@id"] for f in files)  # fmt: skip
    verify_crate(out, public_key_text(service.key))  # sha256, sizes, nothing more, signature


def test_the_profile_entities_describe_the_request_approvals_runs_and_outputs(crate, hub):
    out, metadata = crate
    service, task_id, _ = hub
    graph = {e["@id"]: e for e in metadata["@graph"]}
    root = graph["./"]
    request = graph[f"#task-{task_id}"]
    assert request["@type"] == "CreateAction" and {"@id": request["@id"]} == root["mentions"][0]
    assert request["actionStatus"] == "http://schema.org/CompletedActionStatus"
    assert request["result"] == [{"@id": "outputs/combined.json"}]
    assert {"@id": "request/task.json"} in request["object"]
    person = graph[request["agent"]["@id"]]
    assert (person["@type"], person["name"]) == ("Person", "Dr Alice Researcher")
    assert graph[person["affiliation"]["@id"]]["name"] == "University of the North"
    project = graph[root["sourceOrganization"]["@id"]]
    assert (project["@type"], project["name"]) == ("Project", "Lung cancer and smoking")
    assert project["description"] == "Who gets lung cancer?"
    assert root["mainEntity"] == request["instrument"]
    for name in NODES:
        signoff = graph[f"#signoff-{name}"]
        assert signoff["additionalType"] == {"@id": "https://w3id.org/shp#SignOff"}
        assert signoff["name"] == f"Sign-off at {name}: approved (project version 1)"
    run_actions = {e["agent"]["@id"]: e for e in metadata["@graph"]
                   if e["@id"].startswith("#run-")}  # fmt: skip
    assert run_actions["#node-east"]["actionStatus"].endswith("FailedActionStatus")
    assert run_actions["#node-east"]["error"].startswith("differencing_risk")
    assert run_actions["#node-north"]["result"] == [{"@id": "outputs/north.json"}]
    assert graph["#disclosure-north"]["name"].endswith("pass (profile default)")
    assert graph["#disclosure-south"]["name"].endswith("fail (profile default)")
    assert graph["#disclosure-east"]["actionStatus"].endswith("FailedActionStatus")
    assert graph["#node-north"]["parentOrganization"]["@id"] in graph
    north = json.loads((out / "outputs/north.json").read_text())
    assert north["output"]["count"]["value"] == 120 and north["node_signature"]
    south = json.loads((out / "outputs/south.json").read_text())
    assert south["output"]["count"] == {"value": None, "suppressed": True, "rule": "fewer than 10"}
    combined = json.loads((out / "outputs/combined.json").read_text())
    assert combined["state"] == "complete" and combined["combined"]


def test_the_signed_task_verifies_with_the_hubs_key(crate, hub):
    out, _ = crate
    service, task_id, _ = hub
    signed = json.loads((out / "request/task.json").read_text())
    verify(signed["payload"], signed["signature"], public_key_text(service.key))
    assert signed["payload"]["task_id"] == task_id


def test_a_changed_byte_or_another_key_is_found(crate, hub, tmp_path):
    import shutil

    out, _ = crate
    service, _, _ = hub
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    with pytest.raises(BadSignature):
        verify_crate(copy, public_key_text(generate_key()))
    path = copy / "outputs/north.json"
    path.write_text(path.read_text().replace("120", "130"))
    with pytest.raises(InvalidRequest, match=r"outputs/north\.json"):
        verify_crate(copy, public_key_text(service.key))
    (copy / "extra.txt").write_text("x")
    with pytest.raises(InvalidRequest, match=r"extra\.txt"):
        verify_crate(copy, public_key_text(service.key))


def test_exports_are_audited_and_refuse_a_used_folder_or_an_unknown_task(crate, hub, tmp_path):
    out, _ = crate
    service, task_id, _ = hub
    with pytest.raises(InvalidRequest):
        export(service, task_id, out)
    with pytest.raises(NotFoundOrNoPermission):
        export(service, "t_nope", tmp_path / "nope")
    events = service.read(lambda s: list(s.execute(
        select(AUDIT.events.c.actor, AUDIT.events.c.task_id)
        .where(AUDIT.events.c.event_type == "task_record_exported"))))  # fmt: skip
    assert ("hub-admin", task_id) in [tuple(e) for e in events]


def test_the_command_line(hub, tmp_path):
    service, task_id, root = hub
    out = tmp_path / "cli-crate"
    result = CliRunner().invoke(app, ["hub", "export-crate", task_id, "--out", str(out),
                                      "--config", str(root / "hub" / "hub.toml")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "ro-crate-metadata.json" in result.output and "outputs/north.json" in result.output
    verify_crate(out, public_key_text(service.key))
