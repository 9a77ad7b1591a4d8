"""A real federation for integration tests: a hub and nodes as OS processes on loopback.

Setup goes through the same library functions the CLI and the demo use; services run as
``fivesafes hub serve`` / ``fivesafes node serve`` subprocesses. Nothing of ours is mocked.
"""

from __future__ import annotations

import os
import tomllib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import tomli_w

from fivesafes.client import Federation
from fivesafes.demo.processes import Service, Supervisor, free_port, wait_for_health
from fivesafes.hub.config import HubConfig
from fivesafes.hub.enrolment import issue_enrolment_token
from fivesafes.hub.people import create_user, issue_token
from fivesafes.hub.projects import create_project
from fivesafes.hub.service import HubService
from fivesafes.hub.setup import init_hub
from fivesafes.node import setup as node_setup
from fivesafes.node.config import NodeConfig
from fivesafes.node.service import NodeService
from fivesafes.settings import load_config

PG_ADMIN_URL = os.environ.get(
    "FIVESAFES_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test; dropped afterwards."""
    name = f"fivesafes_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def edit_toml(path: Path, section: str, **values: Any) -> None:
    document = tomllib.loads(path.read_text())
    document.setdefault(section, {}).update(values)
    path.write_text(tomli_w.dumps(document))


class Harness:
    """One federation under test. Call :meth:`start_hub`, then :meth:`add_node` per node."""

    def __init__(self, root: Path, supervisor: Supervisor) -> None:
        self.root = root
        self.supervisor = supervisor
        self.hub_url = ""
        self.hub_process: Service | None = None
        self.nodes: dict[str, Service] = {}
        self._hub_config_path = root / "hub" / "hub.toml"
        self.ca_file: Path | None = None

    # ---- hub ------------------------------------------------------------------------------

    def start_hub(
        self,
        database_url: str = "sqlite:///hub.db",
        tls: tuple[Path, Path] | None = None,
        **settings: Any,
    ) -> None:
        """Start a hub; with ``tls`` (certificate, key) it serves HTTPS only."""
        port = free_port()
        self.ca_file = tls[0] if tls else None
        self.hub_url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        init_hub(
            self.root / "hub",
            name="test-hub",
            port=port,
            database_url=database_url,
            tls_cert=tls[0] if tls else None,
            tls_key=tls[1] if tls else None,
        )
        defaults = {"sweep_interval_seconds": 0.2, "node_offline_after_seconds": 5}
        edit_toml(self._hub_config_path, "hub", **{**defaults, **settings})
        self.restart_hub()

    def restart_hub(self) -> None:
        self.hub_process = self.supervisor.start(
            "hub",
            ["hub", "serve", "--config", str(self._hub_config_path)],
            self.root / "hub" / "hub.log",
        )
        wait_for_health(self.hub_url, self.hub_process, verify=str(self.ca_file) if self.ca_file else True)

    def hub(self) -> HubService:
        """A handle on the hub's database, as the hub admin's CLI has (caller stops it)."""
        service = HubService(load_config(self._hub_config_path, HubConfig))
        service.start()
        return service

    def admin(self, work: Any) -> Any:
        service = self.hub()
        try:
            return service.unit(work)
        finally:
            service.stop()

    # ---- nodes ----------------------------------------------------------------------------

    def add_node(
        self, name: str, data: dict[str, Any], *, start: bool = True, **gate: int
    ) -> NodeService:
        token = self.admin(
            lambda s: issue_enrolment_token(
                s, node_name=name, lifetime=timedelta(hours=1), by="admin"
            )
        )
        config = node_setup.init_node(
            self.root / name, name=name, hub_url=self.hub_url, data=data, ca_file=self.ca_file, **gate
        )
        edit_toml(
            self.root / name / "node.toml", "node", poll_wait_seconds=5, retry_max_seconds=1.0
        )
        service = NodeService(config)
        service.start()
        node_setup.enrol(service, token)
        service.stop()
        if start:
            self.start_node(name)
        return self.node_service(name)

    def node_service(self, name: str) -> NodeService:
        service = NodeService(load_config(self.root / name / "node.toml", NodeConfig))
        service.start()
        return service

    def start_node(self, name: str) -> Service:
        process = self.supervisor.start(
            name,
            ["node", "serve", "--config", str(self.root / name / "node.toml")],
            self.root / name / "node.log",
        )
        self.nodes[name] = process
        return process

    def approve(self, node: str, project_id: str) -> None:
        service = self.node_service(node)
        try:
            node_setup.approve(service, project_id, by=f"custodian@{node}")
        finally:
            service.stop()

    def revoke(self, node: str, project_id: str) -> None:
        service = self.node_service(node)
        try:
            node_setup.revoke(service, project_id, by=f"custodian@{node}")
        finally:
            service.stop()

    # ---- people and projects --------------------------------------------------------------

    def researcher(self, username: str = "alice", lifetime: timedelta = timedelta(days=1)) -> str:
        def work(session: Any) -> str:
            create_user(
                session, username=username, display_name=username, role="researcher", by="admin"
            )
            return issue_token(session, username=username, lifetime=lifetime, by="admin")

        return str(self.admin(work))

    def token_for(self, username: str, lifetime: timedelta = timedelta(days=1)) -> str:
        return str(
            self.admin(lambda s: issue_token(s, username=username, lifetime=lifetime, by="admin"))
        )

    def project(self, members: list[str], nodes: list[str], *, approve: bool = True) -> str:
        project_id = str(
            self.admin(
                lambda s: (
                    create_project(
                        s,
                        title="Test project",
                        members=members,
                        nodes=nodes,
                        start_date=date.today(),
                        end_date=date.today() + timedelta(days=30),
                        by="admin",
                    ).id
                )
            )
        )
        if approve:
            for node in nodes:
                self.approve(node, project_id)
        return project_id

    def federation(self, token: str, project: str | None = None) -> Federation:
        return Federation(self.hub_url, token, project, ca_file=self.ca_file)
