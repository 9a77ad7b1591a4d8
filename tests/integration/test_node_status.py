"""Whether each node is online, and when it was last seen, as a researcher sees it: the hub
portal's nodes page and project page, ``GET /api/v1/nodes`` and ``fivesafes nodes`` (issue 13,
D). A node is online while its agent has polled the hub within ``[hub]
node_offline_after_seconds`` (5 s here): a real hub and node process; the node is stopped and
goes offline on every one of them; a node that never polled is offline, "never" seen.
"""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from federation import fs
from fivesafes.hub.db import Node
from fivesafes.storage.types import utcnow
from portal import person, session_for, start_portal_hub


class World:
    def __init__(self, harness, data, tmp) -> None:
        self.harness = harness
        start_portal_hub(harness)  # node_offline_after_seconds = 5
        harness.add_node("northfield", {"engine": "duckdb", "path": str(data)})
        harness.add_node("riverside", {"engine": "duckdb", "path": str(data)}, start=False)
        alice = person(harness, "alice", totp=False)
        self.portal = session_for(harness, "alice")
        self.project = harness.project(["alice"], ["northfield", "riverside"], approve=False,
                                       pi="alice")  # fmt: skip
        self.connection = tmp / "connection.json"
        self.connection.write_text(json.dumps(
            {"hub_url": harness.hub_url, "token": alice.token, "project": self.project}
        ))  # fmt: skip
        self.token = alice.token

    def api(self) -> dict:
        with self.harness.federation(self.token) as fed:
            return {n.name: n for n in fed.nodes()}

    def until(self, online: bool, timeout: float = 60) -> None:
        started = time.monotonic()
        while self.api()["northfield"].online != online:
            assert time.monotonic() - started < timeout, f"northfield never went {online}"
            time.sleep(0.5)

    def cli(self) -> tuple[dict, str]:
        listed = json.loads(fs("nodes", "--connection", str(self.connection), "--json").stdout)
        table = fs("nodes", "--connection", str(self.connection)).stdout
        return {n["name"]: n for n in listed}, table

    def nodes_page(self) -> dict[str, tuple[str, str]]:
        """Per node on the portal's nodes page: its status and its "last seen" in words."""
        page = self.portal.get("/nodes")
        assert page.status_code == 200, page.text
        rows = re.findall(
            r'<tr><td>([a-z]+)</td>\s*<td class="node-(?:online|offline)">([a-z]+)</td>\s*'
            r"<td>(.*?)</td>",
            page.text,
            re.S,
        )
        return {name: (status, " ".join(re.sub(r"<[^>]+>", " ", seen).split()))
                for name, status, seen in rows}  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from federation import Harness
    from fivesafes.data.synth import generate
    from fivesafes.demo.processes import Supervisor

    root = tmp_path_factory.mktemp("nodestatus")
    data = root / "site.duckdb"
    generate(data, 200, 41, "northfield")
    with Supervisor() as supervisor:
        yield World(Harness(root / "fed", supervisor), data, root)


SEEN = re.compile(r"(just now|\d+ seconds? ago) \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)")


def test_a_polling_node_is_online_everywhere_and_one_never_seen_offline(world):
    world.until(online=True)
    listed, table = world.cli()
    assert listed["northfield"]["online"] is True and listed["northfield"]["last_seen_at"]
    assert listed["riverside"]["online"] is False and listed["riverside"]["last_seen_at"] is None
    assert re.search(r"northfield\s+│\s+online\s+│\s+" + SEEN.pattern, table), table
    assert re.search(r"riverside\s+│\s+offline\s+│\s+never", table), table
    assert "1 of 2 online" in table
    shown = world.nodes_page()
    assert shown["northfield"][0] == "online" and SEEN.fullmatch(shown["northfield"][1])
    assert shown["riverside"] == ("offline", "never")
    project = world.portal.get(f"/projects/{world.project}").text  # each of its nodes
    assert re.search(r'<td class="node-online">online</td>', project)
    assert re.search(r'<td class="node-offline">offline</td>\s*<td>never</td>', project)
    assert "within the last 5 seconds" in world.portal.get("/nodes").text  # what online means


def test_a_node_that_stops_polling_goes_offline(world):
    world.until(online=True)
    world.harness.nodes["northfield"].stop()
    world.until(online=False, timeout=30)  # 5 s after its last poll
    listed, table = world.cli()
    assert listed["northfield"]["online"] is False and listed["northfield"]["last_seen_at"]
    assert re.search(r"northfield\s+│\s+offline\s+│\s+\d+ seconds ago \(", table), table
    status, seen = world.nodes_page()["northfield"]
    assert status == "offline" and re.fullmatch(r"\d+ seconds ago \(.* UTC\)", seen)
    world.harness.start_node("northfield")
    world.until(online=True)  # and back when it polls again


def test_last_seen_minutes_ago_reads_so_with_the_utc_time(world):
    then = utcnow() - timedelta(minutes=3, seconds=10)
    world.harness.admin(
        lambda s: s.execute(update(Node).where(Node.name == "riverside").values(last_seen_at=then))
    )
    status, seen = world.nodes_page()["riverside"]
    assert status == "offline"
    assert seen == f"3 minutes ago ({then.strftime('%Y-%m-%d %H:%M:%S')} UTC)"
    _, table = world.cli()
    assert "3 minutes ago" in table
