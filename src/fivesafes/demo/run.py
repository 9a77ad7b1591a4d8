"""``fivesafes demo``: a whole federation on one machine, every part a real process.

A hub and three synthetic hospitals start as separate OS processes talking HTTP on loopback.
The demo enrols the nodes, creates a researcher and a project, has each node's custodian
approve it, runs federated cohort counts and prints them after disclosure control.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from fivesafes.cli.count import render
from fivesafes.client import Federation
from fivesafes.data.synth import generate
from fivesafes.demo.cohorts import DEMO_COHORTS
from fivesafes.demo.processes import Supervisor, free_port, wait_for_health
from fivesafes.hub.enrolment import issue_enrolment_token
from fivesafes.hub.people import create_user, issue_token
from fivesafes.hub.projects import create_project
from fivesafes.hub.service import HubService
from fivesafes.hub.setup import init_hub
from fivesafes.node import setup as node_setup
from fivesafes.node.service import NodeService

console = Console()

# (node name, site profile, share of --persons, seed)
HOSPITALS: list[tuple[str, str, float, int]] = [
    ("northfield", "northfield", 1.0, 101),
    ("riverside", "riverside", 0.6, 202),
    ("lakeside", "lakeside", 1.4, 303),
]
ADMIN = "demo-hub-admin"


def _generate_data(workdir: Path, persons: int) -> dict[str, Path]:
    paths: dict[str, Path] = {}
    columns = (
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        for name, site, share, seed in HOSPITALS:
            n = max(100, int(persons * share))
            path = workdir / name / "omop.duckdb"
            paths[name] = path
            if path.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            bar = progress.add_task(f"{name}: {n:,} persons", total=1.0)

            def report(_stage: str, done: int, total: int, bar: Any = bar) -> None:
                progress.update(bar, completed=done / max(total, 1))

            generate(path, n, seed, site, progress=report)
            progress.update(bar, completed=1.0)
    return paths


def _write_connection(workdir: Path, hub_url: str, token: str, project_id: str) -> Path:
    path = workdir / "connection.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"hub_url": hub_url, "token": token, "project": project_id}, handle, indent=2)
    return path


def build_federation(workdir: Path, persons: int, supervisor: Supervisor) -> Path:
    """Set up and start the whole federation; return the connection file."""
    data = _generate_data(workdir, persons)
    port = free_port()
    hub_url = f"http://127.0.0.1:{port}"
    hub_dir = workdir / "hub"
    if (hub_dir / "hub.toml").exists():
        shutil.rmtree(hub_dir)  # a fresh federation on every run; the data is kept
    hub_config = init_hub(hub_dir, name="demo-hub", port=port)
    hub_process = supervisor.start(
        "hub", ["hub", "serve", "--config", str(hub_dir / "hub.toml")], hub_dir / "hub.log"
    )
    wait_for_health(hub_url, hub_process)
    console.print(f"[green]✓[/] hub listening on {hub_url}")
    hub = HubService(hub_config)
    hub.start()
    try:
        for name, _site, _share, _seed in HOSPITALS:
            node_dir = workdir / name
            for stale in ("node.toml", "node.key", "node.db", "node.db-wal", "node.db-shm"):
                (node_dir / stale).unlink(missing_ok=True)
            token = hub.unit(
                lambda s, name=name: issue_enrolment_token(
                    s, node_name=name, lifetime=timedelta(hours=1), by=ADMIN
                )
            )
            config = node_setup.init_node(
                node_dir,
                name=name,
                hub_url=hub_url,
                data={"engine": "duckdb", "path": str(data[name])},
            )
            node = NodeService(config)
            node.start()
            node_setup.enrol(node, token, expect_fingerprint=hub.info.fingerprint)
            node.stop()
            process = supervisor.start(
                name, ["node", "serve", "--config", str(node_dir / "node.toml")], node_dir / "node.log"
            )
            if not process.alive():
                raise RuntimeError(f"node {name} exited:\n{process.log_tail()}")
            console.print(f"[green]✓[/] node {name} enrolled and polling (data: {data[name]})")

        def setup_people(session: Any) -> tuple[str, str]:
            create_user(session, username="alice", display_name="Dr Alice Researcher",
                        role="researcher", by=ADMIN)  # fmt: skip
            token = issue_token(session, username="alice", lifetime=timedelta(days=7), by=ADMIN)
            project = create_project(
                session,
                title="Lung cancer and smoking across three hospitals",
                members=["alice"],
                nodes=[name for name, *_ in HOSPITALS],
                start_date=date.today(),
                end_date=date.today() + timedelta(days=365),
                by=ADMIN,
            )
            return token, project.id

        token, project_id = hub.unit(setup_people)
        console.print(f"[green]✓[/] researcher alice and project {project_id} created")
    finally:
        hub.stop()
    for name, *_ in HOSPITALS:
        node = NodeService(node_setup.load_config(workdir / name / "node.toml", node_setup.NodeConfig))
        node.start()
        approval = node_setup.approve(node, project_id, by=f"custodian@{name}")
        node.stop()
        console.print(f"[green]✓[/] {name}'s custodian approved {project_id} v{approval.version}")
    return _write_connection(workdir, hub_url, token, project_id)


def wait_until_online(fed: Federation, names: list[str], timeout: float = 60.0) -> None:
    """Nodes show as online once they have warmed up and polled the hub."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        online = {n.name for n in fed.nodes() if n.online and n.last_seen_at is not None}
        if set(names) <= online:
            return
        time.sleep(0.2)
    raise RuntimeError("the nodes did not come online; see the node logs in the workdir")


def run_counts(connection: Path) -> bool:
    ok = True
    with Federation.from_file(connection) as fed:
        wait_until_online(fed, [name for name, *_ in HOSPITALS])
        for title, cohort in DEMO_COHORTS:
            started = time.perf_counter()
            result = fed.count(cohort, timeout=60)
            elapsed = time.perf_counter() - started
            table = render(result)
            table.title = f"{title}  ({elapsed * 1000:.0f} ms)"
            console.print(table)
            ok = ok and result.complete and all(n.state == "succeeded" for n in result.nodes)
    return ok


def run_demo(*, once: bool, workdir: str | None, persons: int) -> int:
    keep = workdir is not None
    root = Path(workdir).resolve() if workdir else Path(tempfile.mkdtemp(prefix="fivesafes-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    console.rule("[bold]fivesafes demo federation")
    try:
        with Supervisor() as supervisor:
            connection = build_federation(root, persons, supervisor)
            ok = run_counts(connection)
            if not ok:
                console.print("[red]Some nodes did not answer; see the logs in the workdir.[/]")
            if once:
                return 0 if ok else 1
            console.print(
                f"\nThe federation keeps running. Connection file: [bold]{connection}[/]\n"
                f"Try: fivesafes count --connection {connection} --cohort my-cohort.json\n"
                "Press Ctrl-C to stop."
            )
            signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
            try:
                while all(s.alive() for s in supervisor.services):
                    time.sleep(0.5)
                console.print("[red]A service stopped unexpectedly; shutting down.[/]")
                return 1
            except KeyboardInterrupt:
                console.print("\nStopping the federation.")
                return 0
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            console.print(f"Everything is kept in {root}")
