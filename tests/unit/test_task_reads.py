"""A researcher's reads of a task at the hub (``GET /api/v1/tasks/{id}``): the view of its runs,
one answer for "absent or not yours", and the long-poll, which checks the caller at every look
and answers a task still running once its wait is over. In process (httpx over ASGI)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from fivesafes.analyses.registry import REGISTRY
from fivesafes.hub import runs
from fivesafes.hub.app import create_app
from fivesafes.hub.config import HubConfig
from fivesafes.hub.db import Node
from fivesafes.hub.enrolment import enrol_node, issue_enrolment_token
from fivesafes.hub.people import create_user, issue_token
from fivesafes.hub.projects import create_project
from fivesafes.hub.service import HubService
from fivesafes.hub.tasks import create_task
from fivesafes.protocol.models import ResultPayload, SignedResult
from fivesafes.protocol.signing import generate_key, public_key_text, save_private_key, sign
from fivesafes.sdc.profiles import DEFAULT
from fivesafes.storage.types import utcnow

COHORT = {"name": "c", "criteria": [{"domain": "condition", "concepts": [443388]}]}
NODES = ("south", "north")  # enrolled in this order: the view lists them by name


def get(app: Any, path: str, token: str, **params: Any) -> httpx.Response:
    """One request to ``app`` in this process, in a thread of its own with its own loop."""

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            headers = {"Authorization": f"Bearer {token}"}
            return await client.get(path, params=params, headers=headers, timeout=30)

    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, send()).result()


@dataclass
class Hub:
    service: HubService
    app: Any
    keys: dict[str, Any]
    member: str
    stranger: str
    task_id: str

    def finish(self, name: str) -> None:
        """``name``'s node leases its run and answers it, as its agent would."""

        def work(session: Any) -> None:
            node = session.query(Node).filter_by(name=name).one()
            lease = runs.lease_next_run(session, node, utcnow(), timedelta(seconds=30))
            assert lease is not None
            payload = ResultPayload(
                run_id=lease.run_id,
                task_id=self.task_id,
                node=name,
                status="succeeded",
                output={
                    "count": {"value": 120, "suppressed": False, "rule": "r"},
                    "gate": {"verdict": "pass", "profile": "default", "rules": []},
                },
                finished_at=utcnow(),
            ).model_dump(mode="json")
            result = SignedResult(payload=payload, signature=sign(payload, self.keys[name]))
            runs.submit_result(session, node, result, DEFAULT, utcnow(), self.service.key)

        self.service.unit(work)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    save_private_key(generate_key(), tmp_path / "hub.key")
    config = HubConfig.model_validate({"hub": {
        "key_file": str(tmp_path / "hub.key"), "database_url": f"sqlite:///{tmp_path / 'hub.db'}",
        "audit_witness_file": str(tmp_path / "witness.jsonl")}})  # fmt: skip
    service = HubService(config)
    service.start()
    keys = {name: generate_key() for name in NODES}

    def setup(s: Any) -> tuple[str, str, str]:
        for name, key in keys.items():
            token = issue_enrolment_token(s, node_name=name, lifetime=timedelta(hours=1), by="a")
            enrol_node(s, token=token, node_name=name, public_key=public_key_text(key))
        until = date.today() + timedelta(days=30)
        alice = create_user(s, username="alice", display_name="A", role="researcher",
                            accredited_until=until, by="a")  # fmt: skip
        create_user(s, username="bob", display_name="B", role="researcher",
                    accredited_until=until, by="a")  # fmt: skip
        project = create_project(s, title="P", members=["alice"], nodes=list(NODES),
                                 start_date=date.today(), end_date=until, by="a")  # fmt: skip
        request = REGISTRY.task_request.model_validate({
            "project_id": project.id, "analysis": "count", "parameters": {"cohort": COHORT},
            "timeout_seconds": 600})  # fmt: skip
        task, _ = create_task(s, request, by=alice, key=service.key)
        member = issue_token(s, username="alice", lifetime=timedelta(hours=1), by="a")
        stranger = issue_token(s, username="bob", lifetime=timedelta(hours=1), by="a")
        return member, stranger, task.id

    member, stranger, task_id = service.unit(setup)
    yield Hub(service, create_app(service), keys, member, stranger, task_id)
    service.stop()


def test_the_view_lists_each_nodes_run_by_name(hub: Hub) -> None:
    hub.finish("north")
    view = get(hub.app, f"/api/v1/tasks/{hub.task_id}", hub.member).json()
    assert view["state"] == "running"
    assert [(r["node"], r["state"]) for r in view["runs"]] == [
        ("north", "succeeded"),
        ("south", "queued"),
    ]
    north = view["runs"][0]
    assert north["output"]["count"]["value"] == 120 and north["finished_at"] is not None
    hub.finish("south")
    view = get(hub.app, f"/api/v1/tasks/{hub.task_id}", hub.member).json()
    assert view["state"] == "complete" and view["combined"]["total"]["value"] == 240


@pytest.mark.parametrize("wait", [0, 5])
def test_absent_or_not_yours_is_one_answer_waiting_or_not(hub: Hub, wait: int) -> None:
    started = time.monotonic()
    theirs = get(hub.app, f"/api/v1/tasks/{hub.task_id}", hub.stranger, wait=wait)
    absent = get(hub.app, "/api/v1/tasks/t_0000000000000000", hub.member, wait=wait)
    assert theirs.status_code == absent.status_code == 404
    assert theirs.json()["error"]["code"] == absent.json()["error"]["code"]
    assert time.monotonic() - started < 2  # refused at the first look, never held


def test_a_task_still_running_is_answered_when_the_wait_is_over(hub: Hub) -> None:
    started = time.monotonic()
    view = get(hub.app, f"/api/v1/tasks/{hub.task_id}", hub.member, wait=1.5)
    assert 1.5 <= time.monotonic() - started < 5
    assert view.status_code == 200 and view.json()["state"] == "running"
    assert [r["node"] for r in view.json()["runs"]] == ["north", "south"]


def test_a_wait_ends_when_the_task_completes(hub: Hub) -> None:
    hub.finish("north")
    with ThreadPoolExecutor(max_workers=1) as thread:
        waiting = thread.submit(get, hub.app, f"/api/v1/tasks/{hub.task_id}", hub.member, wait=20)
        time.sleep(0.3)
        hub.finish("south")
        view = waiting.result(timeout=10).json()
    assert view["state"] == "complete" and view["combined"]["total"]["value"] == 240
