"""Every error the hub returns has one JSON shape, reveals nothing, and changes nothing.

The shape is pinned here: ``{"error": {"code": str, "message": str, "details": [{"field",
"problem"}]}}``. Requests carry a sentinel value that must never be echoed back or logged.
"""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from fivesafes.audit.chain import verify_chain
from fivesafes.hub.db import AUDIT, Task
from fivesafes.protocol.signing import generate_key, sign_request

SENTINEL = "PATIENT-SENTINEL-4242"
COHORT = {"name": "c", "criteria": [{"domain": "condition", "concepts": [443388]}]}


def assert_error_shape(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], list)
    for detail in error["details"]:
        assert set(detail) == {"field", "problem"}
    assert "Traceback" not in response.text and SENTINEL not in response.text
    return error


@pytest.fixture
def hub(harness, site_data):
    harness.start_hub(max_request_bytes=64 * 1024)
    harness.add_node(
        "northfield", {"engine": "duckdb", "path": str(site_data["northfield"])}, start=False
    )
    token = harness.researcher("alice")
    harness.researcher("bob")
    project = harness.project(["alice"], ["northfield"], approve=False)
    client = httpx.Client(base_url=harness.hub_url, headers={"Authorization": f"Bearer {token}"})
    yield harness, client, project
    client.close()


def task_body(project, **changes):
    return {"project_id": project, "analysis": "count", "parameters": {"cohort": COHORT}, **changes}


def state_snapshot(harness):
    def work(session):
        tasks = session.scalar(select(func.count()).select_from(Task))
        events = session.scalar(select(func.count()).select_from(AUDIT.events))
        return tasks, events, verify_chain(session, AUDIT).ok

    return harness.admin(work)


def test_bad_requests_get_one_shape_and_change_nothing(hub):
    harness, client, project = hub
    before = state_snapshot(harness)

    r = client.post(
        "/api/v1/tasks",
        content=b'{"project_id": "' + SENTINEL.encode(),
        headers={"content-type": "application/json"},
    )
    assert_error_shape(r, 400, "malformed_request")

    r = client.post("/api/v1/tasks", json=task_body(project, sql=SENTINEL))
    error = assert_error_shape(r, 422, "invalid_request")
    assert any(d["field"] == "sql" for d in error["details"])

    bad_cohort = {"name": SENTINEL, "criteria": [{"domain": "condition", "concepts": [-5]}]}
    r = client.post("/api/v1/tasks", json=task_body(project, parameters={"cohort": bad_cohort}))
    error = assert_error_shape(r, 422, "invalid_request")
    assert any("concepts" in d["field"] for d in error["details"])

    r = client.post(
        "/api/v1/tasks", json=task_body(project, parameters={"cohort": COHORT, "vector": [1, 2]})
    )
    assert_error_shape(r, 422, "invalid_request")

    for formula in (f"{SENTINEL} ~ age", f"lung_cancer ~ {SENTINEL.lower()}"):
        glm = {"cohort": COHORT, "formula": formula, "family": "binomial"}
        r = client.post("/api/v1/tasks", json=task_body(project, analysis="glm", parameters=glm))
        error = assert_error_shape(r, 422, "invalid_request")  # the formula is not echoed
        assert any("variable" in d["problem"] for d in error["details"])

    r = client.post("/api/v1/tasks", json=task_body(project, timeout_seconds=10**9))
    assert_error_shape(r, 422, "invalid_request")

    huge = task_body(project, parameters={"cohort": {**COHORT, "name": SENTINEL * 10_000}})
    r = client.post("/api/v1/tasks", json=huge)
    assert_error_shape(r, 413, "payload_too_large")

    r = client.get("/api/v1/no-such-route")
    assert_error_shape(r, 404, "not_found")

    assert state_snapshot(harness) == before


def test_tokens_invalid_expired_or_missing_get_the_same_answer(hub):
    harness, client, project = hub
    expired = harness.token_for("alice", lifetime=timedelta(seconds=-1))
    answers = []
    for headers in (
        {},
        {"Authorization": "Bearer fs_" + SENTINEL},
        {"Authorization": f"Bearer {expired}"},
        {"Authorization": "Basic abc"},
    ):
        r = httpx.post(f"{harness.hub_url}/api/v1/tasks", json=task_body(project), headers=headers)
        answers.append(assert_error_shape(r, 401, "unauthenticated")["code"])
    assert len(set(answers)) == 1
    r = httpx.post(
        f"{harness.hub_url}/api/v1/tasks",
        json=task_body(project),
        headers={"Authorization": f"Bearer {expired}"},
    )
    r2 = httpx.post(
        f"{harness.hub_url}/api/v1/tasks",
        json=task_body(project),
        headers={"Authorization": "Bearer fs_nonsense"},
    )
    assert r.json() == r2.json()


def test_not_found_and_not_yours_are_one_answer(hub):
    harness, client, project = hub
    bob = harness.token_for("bob")
    task = client.post("/api/v1/tasks", json=task_body(project, timeout_seconds=5))
    assert task.status_code == 201
    task_id = task.json()["task_id"]
    as_bob = httpx.Client(base_url=harness.hub_url, headers={"Authorization": f"Bearer {bob}"})
    not_yours = as_bob.get(f"/api/v1/tasks/{task_id}")
    absent = as_bob.get("/api/v1/tasks/t_doesnotexist")
    assert_error_shape(not_yours, 404, "not_found")
    assert not_yours.json() == absent.json()
    p_not_yours = as_bob.get(f"/api/v1/projects/{project}")
    p_absent = as_bob.get("/api/v1/projects/p_nothere")
    assert_error_shape(p_not_yours, 404, "not_found")
    assert p_not_yours.json() == p_absent.json()
    r = as_bob.post("/api/v1/tasks", json=task_body(project))  # not a member: same as absent
    assert r.status_code == 404 and r.json() == p_absent.json()
    as_bob.close()


def test_unknown_node_keys_and_bad_signatures_are_refused(hub):
    harness, client, project = hub
    path = "/api/v1/node/runs/next?wait=0"
    stranger = sign_request("northfield", generate_key(), "GET", path, b"")  # wrong key
    assert_error_shape(httpx.get(harness.hub_url + path, headers=stranger), 401, "unauthenticated")
    ghost = sign_request("ghost-node", generate_key(), "GET", path, b"")  # not enrolled
    assert_error_shape(httpx.get(harness.hub_url + path, headers=ghost), 401, "unauthenticated")
    assert_error_shape(httpx.get(harness.hub_url + path), 401, "unauthenticated")
    r = httpx.post(
        f"{harness.hub_url}/api/v1/enrol",
        json={"token": "enrol_" + "x" * 40, "node_name": "evil", "public_key": "A" * 43 + "="},
    )
    assert_error_shape(r, 401, "unauthenticated")


def test_error_paths_log_no_submitted_values(hub):
    harness, client, project = hub
    client.post("/api/v1/tasks", json=task_body(project, sql=SENTINEL))
    client.post(
        "/api/v1/tasks", content=SENTINEL.encode(), headers={"content-type": "application/json"}
    )
    log = (harness.root / "hub" / "hub.log").read_text()
    assert SENTINEL not in log


def test_openapi_document_is_served_and_names_the_error_free_contract(hub):
    harness, client, project = hub
    spec = httpx.get(f"{harness.hub_url}/openapi.json").json()
    assert "/api/v1/tasks" in spec["paths"]
    assert "TaskRequest" in json.dumps(spec)
