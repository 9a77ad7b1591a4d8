"""Safe settings: a node's agent never listens; it only calls out to the hub."""

from __future__ import annotations

import os
import time
from pathlib import Path


def listening_inodes() -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # TCP_LISTEN
                inodes.add(fields[9])
    return inodes


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def test_node_process_has_no_listening_socket(harness, site_data):
    harness.start_hub()
    harness.add_node("northfield", {"engine": "duckdb", "path": str(site_data["northfield"])})
    token = harness.researcher()
    project = harness.project(["alice"], ["northfield"])
    with harness.federation(token, project) as fed:
        deadline = time.monotonic() + 30
        while not all(n.online for n in fed.nodes()) and time.monotonic() < deadline:
            time.sleep(0.1)
        node_pid = harness.nodes["northfield"].process.pid
        hub_pid = harness.hub_process.process.pid
        node_sockets = socket_inodes(node_pid)
        assert node_sockets, "the node should hold an outbound connection to the hub"
        assert not node_sockets & listening_inodes()
        # the check can fail: the hub, which does listen, is caught by it
        assert socket_inodes(hub_pid) & listening_inodes()
