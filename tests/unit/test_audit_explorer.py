"""The one audit explorer (``fivesafes.web.audit_explorer``): the hub's portal and the node's
mount the same page, and over each one's own log it shows the same columns and verdict,
filters, pages and marks a broken event the same way. In process: a real hub app and a real
node portal app on SQLite, the signed-in person given, no network."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from fivesafes.audit.chain import AuditTables, append_event
from fivesafes.audit.checkpoints import write_checkpoint
from fivesafes.audit.events import AuditEventType
from fivesafes.governance.accounts import WebSession
from fivesafes.governance.people import Account
from fivesafes.governance.roles import HUB, Grant, Role, node_scope
from fivesafes.hub import db as hub_db
from fivesafes.hub.app import create_app
from fivesafes.hub.config import HubConfig
from fivesafes.hub.portal.audit import audit_site as hub_audit_site
from fivesafes.hub.service import HubService
from fivesafes.node import db as node_db
from fivesafes.node.config import NodeConfig
from fivesafes.node.portal.app import create_portal_app
from fivesafes.node.portal.audit import audit_site as node_audit_site
from fivesafes.node.service import NodeService
from fivesafes.protocol.signing import generate_key, save_private_key
from fivesafes.storage.service import ServiceCore
from fivesafes.web.audit_explorer.routes import audit_router
from fivesafes.web.signin import signed_in

NODE = "northfield"
EVENTS = 25  # then a signed checkpoint, the 26th


class Client:
    """Requests to an app in this process (httpx over ASGI), one event loop each, in a thread
    of its own (a browser test earlier in the session may leave a loop running in this one)."""

    def __init__(self, app: Any) -> None:
        self.transport = httpx.ASGITransport(app=app)

    def get(self, path: str, **options: Any) -> httpx.Response:
        async def get() -> httpx.Response:
            async with httpx.AsyncClient(transport=self.transport, base_url="http://portal") as c:
                return await c.get(path, **options)

        with ThreadPoolExecutor(max_workers=1) as thread:
            return thread.submit(asyncio.run, get()).result()


@dataclass
class Site:
    kind: str
    service: ServiceCore
    tables: AuditTables
    app: FastAPI
    client: Client


def hub_site(tmp: Path) -> Site:
    config = HubConfig.model_validate({"hub": {
        "key_file": str(tmp / "hub.key"), "database_url": f"sqlite:///{tmp / 'hub.db'}",
        "audit_witness_file": str(tmp / "hub-witness.jsonl")}})  # fmt: skip
    service = HubService(config)
    app = create_app(service)
    return Site("hub", service, hub_db.AUDIT, app, Client(app))


def node_site(tmp: Path) -> Site:
    config = NodeConfig.model_validate({
        "node": {"name": NODE, "hub_url": "http://127.0.0.1:1",
                 "key_file": str(tmp / "node.key"), "database_url": f"sqlite:///{tmp / 'node.db'}",
                 "audit_witness_file": str(tmp / "node-witness.jsonl")},
        "data": {"engine": "duckdb", "path": str(tmp / "none.duckdb")}})  # fmt: skip
    service = NodeService(config)
    portal = create_portal_app(service)
    return Site("node", service, node_db.AUDIT, portal.app, Client(portal))


def reader(kind: str) -> WebSession:
    """Who may read the log there: a hub admin at the hub, a TRE admin at the node."""
    grant = Grant(Role.HUB_ADMIN, HUB) if kind == "hub" else Grant(Role.TRE_ADMIN, node_scope(NODE))
    account = Account(id=1, username="root", display_name="Root", grants=frozenset({grant}))
    return WebSession(account, "csrf", datetime.now(UTC) + timedelta(hours=1))


def fill(site: Site) -> None:
    """The same log at either service: 25 events, every fifth of project p2 at node n2 (with
    a run), then a signed checkpoint."""

    def write(session: Any) -> None:
        for i in range(1, EVENTS + 1):
            fifth = i % 5 == 0
            append_event(
                session, site.tables, AuditEventType.TASK_CREATED, by=f"user{i}",
                project_id="p2" if fifth else "p1", node="n2" if fifth else None,
                task_id=f"t{i}", run_id=f"r{i}" if fifth else None, details={"i": i},
            )  # fmt: skip
        write_checkpoint(session, site.tables, site.service.key, service="test", by="system")

    site.service.unit(write)


@pytest.fixture(params=["hub", "node"])
def site(request, tmp_path) -> Iterator[Site]:
    save_private_key(generate_key(), tmp_path / f"{request.param}.key")
    made = (hub_site if request.param == "hub" else node_site)(tmp_path)
    made.service.start()
    made.app.dependency_overrides[signed_in] = lambda: reader(made.kind)
    fill(made)
    yield made
    made.service.stop()


def seqs(page: str) -> list[int]:
    """The numbers of the events in the table, top to bottom."""
    return [int(n) for n in re.findall(r'<th scope="row"[^>]*>(\d+)</th>', page)]


def head_and_verdict(page: str) -> tuple[str, str]:
    thead = re.search(r"<thead>.*?</thead>", page, re.S)
    verdict = re.search(r'<p class="verdict-pass" role="status">(.*?);', page, re.S)
    assert thead and verdict, page
    return thead.group(0), verdict.group(1)


def test_the_hub_and_the_node_mount_the_one_explorer(tmp_path):
    """Both apps route ``/audit`` to the explorer of ``fivesafes.web.audit_explorer``, each
    through its own site: its own log, its own rule of who may read it."""
    hub, node = hub_site(tmp_path), node_site(tmp_path)
    explorer = audit_router(hub_audit_site(hub.service)).routes[0]
    for made in (hub, node):
        endpoints = [c.endpoint for r in made.app.routes if hasattr(r, "effective_route_contexts")
                     for c in r.effective_route_contexts() if c.path == "/audit"]  # fmt: skip
        assert [e.__code__ for e in endpoints] == [explorer.endpoint.__code__]  # type: ignore[attr-defined]
    assert hub_audit_site(hub.service).tables is hub_db.AUDIT
    assert node_audit_site(node.service).tables is node_db.AUDIT


def test_each_page_shows_the_same_columns_and_verdict(tmp_path):
    save_private_key(generate_key(), tmp_path / "hub.key")
    save_private_key(generate_key(), tmp_path / "node.key")
    pages = []
    for made in (hub_site(tmp_path), node_site(tmp_path)):
        made.service.start()
        made.app.dependency_overrides[signed_in] = lambda kind=made.kind: reader(kind)
        fill(made)
        pages.append(made.client.get("/audit").text)
        made.service.stop()
    hub_page, node_page = pages
    assert head_and_verdict(hub_page) == head_and_verdict(node_page)
    assert "<strong>Intact.</strong> The chain holds: 26 events" in hub_page
    assert seqs(hub_page) == seqs(node_page) == list(range(26, 0, -1))
    assert "fivesafes hub" in hub_page and "fivesafes node" in node_page  # each its own frame


def test_someone_who_may_not_read_the_log_is_refused(site):
    site.app.dependency_overrides[signed_in] = lambda: reader(
        "node" if site.kind == "hub" else "hub"
    )
    assert site.client.get("/audit").status_code == 403


def test_filters_narrow_the_events(site):
    p2 = site.client.get("/audit", params={"project_id": "p2"}).text
    assert seqs(p2) == [25, 20, 15, 10, 5] and "5 event(s)" in p2
    assert seqs(site.client.get("/audit", params={"node": "n2", "task_id": "t10"}).text) == [10]
    assert seqs(site.client.get("/audit", params={"actor": " user7 "}).text) == [7]
    up_to = site.client.get("/audit", params={"to_event": "3"}).text
    assert seqs(up_to) == [3, 2, 1] and "up to event 3" in up_to
    today = datetime.now(UTC).date()
    assert len(seqs(site.client.get("/audit", params={"since": today.isoformat()}).text)) == 26
    blank = site.client.get("/audit", params={"since": "", "until": "", "node": ""})
    assert len(seqs(blank.text)) == 26  # the form's empty fields are no filter
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert "No events match." in site.client.get("/audit", params={"since": tomorrow}).text
    kind = site.client.get("/audit", params={"event_type": "audit_checkpoint"}).text
    assert seqs(kind) == [26]
    details = html.unescape(kind)
    assert '"seq": 25' in details and "signature" not in details  # not the signature


@pytest.mark.parametrize("params", [
    {"event_type": "no_such_event"}, {"since": "2030-01-02", "until": "2030-01-01"},
    {"before": "0"}, {"size": "9"}, {"page": "x"}, {"actor": "a" * 129},
])  # fmt: skip
def test_a_filter_nobody_can_mean_is_refused(site, params):
    assert site.client.get("/audit", params=params).status_code == 422


def test_pages_walk_from_the_newest_by_event_and_by_number(site):
    first = site.client.get("/audit", params={"size": "10"}).text
    assert seqs(first) == list(range(26, 16, -1)) and "page 1 of 3" in first
    older = re.search(r'href="/audit\?before=(\d+)&amp;size=10" [^>]*rel="next"', first)
    assert older and older.group(1) == "17" and 'rel="first"' not in first
    second = site.client.get("/audit", params={"before": "17", "size": "10"}).text
    assert seqs(second) == list(range(16, 6, -1)) and "page 2 of 3" in second
    assert 'href="/audit?size=10" ' in second and 'rel="prev"' not in second  # newest is newer
    third = site.client.get("/audit", params={"before": "7", "size": "10"}).text
    assert seqs(third) == list(range(6, 0, -1)) and "page 3 of 3" in third
    assert 'href="/audit?before=17&amp;size=10" ' in third and 'rel="next"' not in third
    by_number = site.client.get("/audit", params={"page": "3", "size": "10"}).text
    assert seqs(by_number) == seqs(third)
    filtered = site.client.get("/audit", params={"project_id": "p1", "size": "10"}).text
    assert 'href="/audit?project_id=p1&amp;before=' in filtered  # the filter stays
    swapped = site.client.get("/audit", params={"page": "2"}, headers={"HX-Request": "true"})
    assert swapped.status_code == 200 and 'id="events"' in swapped.text


def test_a_broken_event_is_marked_where_it_is_shown(site):
    e = site.tables.events.c
    site.service.unit(lambda s: s.execute(update(site.tables.events)
                                          .where(e.seq == 12).values(actor="mallory")))  # fmt: skip
    page = site.client.get("/audit").text
    assert "Broken at event 12." in page and "The chain is broken" in page
    assert f"changed outside the {site.kind}" in page
    assert 'href="/audit?to_event=12"' in page
    row = re.search(r'<tr class="broken" id="event-12">(.*?)</tr>', page, re.S)
    assert (
        row and "mallory" in row.group(1) and "broken</span>: the event was edited" in row.group(1)
    )
    assert page.count('class="broken" id=') == 1  # no other event is marked
