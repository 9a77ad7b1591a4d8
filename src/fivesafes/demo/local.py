"""A whole federation on one machine: a hub and nodes as OS processes on loopback.

The demo, the integration tests and the benchmarks all build their federations with this
class. Setup goes through the same library functions as the CLI; the services run as
``fivesafes hub serve`` and ``fivesafes node serve`` subprocesses.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import tomli_w
from sqlalchemy.orm import Session

from fivesafes.client import Federation
from fivesafes.demo.processes import Service, Supervisor, free_port, wait_for_health
from fivesafes.hub.config import HubConfig
from fivesafes.hub.enrolment import issue_enrolment_token
from fivesafes.hub.people import create_user, issue_token
from fivesafes.hub.projects import create_project
from fivesafes.hub.service import HubService
from fivesafes.hub.setup import init_hub
from fivesafes.node import setup as node_setup
from fivesafes.node.accounts import create_node_user
from fivesafes.node.config import NodeConfig
from fivesafes.node.service import NodeService
from fivesafes.settings import load_config

T = TypeVar("T")
ADMIN = "local-hub-admin"
CUSTODIAN = "custodian"  # each local node's custodian (and TRE admin) account


def edit_toml(path: Path, section: str, **values: Any) -> None:
    """Change settings of one section of a TOML file (used before a service starts)."""
    document = tomllib.loads(path.read_text())
    document.setdefault(section, {}).update(values)
    path.write_text(tomli_w.dumps(document))


class LocalFederation:
    """Call :meth:`start_hub`, then :meth:`add_node` per node; the supervisor stops them."""

    def __init__(self, root: Path, supervisor: Supervisor) -> None:
        self.root = root
        self.supervisor = supervisor
        self.hub_url = ""
        self.ca_file: Path | None = None
        self.hub_process: Service | None = None
        self.nodes: dict[str, Service] = {}
        self._hub_config_path = root / "hub" / "hub.toml"

    # ---- hub ------------------------------------------------------------------------------

    def start_hub(
        self,
        database_url: str = "sqlite:///hub.db",
        tls: tuple[Path, Path] | None = None,
        name: str = "local-hub",
        profile: str = "default",
        accounts: dict[str, Any] | None = None,
        **settings: Any,
    ) -> None:
        """Create and start a hub; with ``tls`` (certificate, key) it serves HTTPS only.
        ``profile`` names its gate's disclosure profile; ``accounts`` and ``settings``
        override ``[accounts]`` and ``[hub]`` settings (e.g. ``lease_seconds``)."""
        port = free_port()
        self.ca_file = tls[0] if tls else None
        self.hub_url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        init_hub(
            self.root / "hub",
            name=name,
            port=port,
            database_url=database_url,
            tls_cert=tls[0] if tls else None,
            tls_key=tls[1] if tls else None,
            profile=profile,
        )
        if settings:
            edit_toml(self._hub_config_path, "hub", **settings)
        if accounts:
            edit_toml(self._hub_config_path, "accounts", **accounts)
        self.restart_hub()

    def restart_hub(self) -> None:
        self.hub_process = self.supervisor.start(
            "hub",
            ["hub", "serve", "--config", str(self._hub_config_path)],
            self.root / "hub" / "hub.log",
        )
        wait_for_health(self.hub_url, self.hub_process, ca_file=self.ca_file)

    def hub(self) -> HubService:
        """A handle on the hub's database, as the hub admin's CLI has (caller stops it)."""
        service = HubService(load_config(self._hub_config_path, HubConfig))
        service.start()
        return service

    def admin(self, work: Callable[[Session], T]) -> T:
        service = self.hub()
        try:
            return service.unit(work)
        finally:
            service.stop()

    # ---- nodes ----------------------------------------------------------------------------

    def add_node(
        self,
        name: str,
        data: dict[str, Any],
        *,
        start: bool = True,
        node_settings: dict[str, Any] | None = None,
        database_url: str = "sqlite:///node.db",
        profile: str = "default",
        threshold: int | None = None,
        rounding_base: int | None = None,
    ) -> None:
        """Create, enrol and (unless ``start=False``) start a node with OMOP ``data``."""
        token = self.admin(
            lambda s: issue_enrolment_token(
                s, node_name=name, lifetime=timedelta(hours=1), by=ADMIN
            )
        )
        node_setup.init_node(
            self.root / name,
            name=name,
            hub_url=self.hub_url,
            data=data,
            ca_file=self.ca_file,
            database_url=database_url,
            profile=profile,
            threshold=threshold,
            rounding_base=rounding_base,
        )
        if node_settings:
            edit_toml(self.root / name / "node.toml", "node", **node_settings)
        service = self.node_service(name)
        try:
            node_setup.enrol(service, token)
            service.unit(
                lambda s: create_node_user(
                    s,
                    node=name,
                    username=CUSTODIAN,
                    display_name=f"Custodian of {name}",
                    roles=["custodian", "tre_admin"],
                    by="local-tre-admin",
                )
            )
        finally:
            service.stop()
        if start:
            self.start_node(name)

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

    def start_node_portal(self, name: str, **accounts: Any) -> str:
        """``fivesafes node portal`` for node ``name`` on a free loopback port (``accounts``:
        its ``[accounts]`` settings); returns its URL."""
        config = self.root / name / "node.toml"
        port = free_port()
        edit_toml(config, "portal", port=port)
        if accounts:
            edit_toml(config, "accounts", **accounts)
        process = self.supervisor.start(
            f"{name}-portal", ["node", "portal", "--config", str(config)],
            self.root / name / "portal.log",
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        wait_for_health(url, process)
        return url

    def set_password(self, username: str, password: str, node: str | None = None) -> None:
        """Give a hub account (or, with ``node``, that node's account) a web password."""
        service = self.node_service(node) if node else self.hub()
        by = "local-tre-admin" if node else ADMIN
        try:
            store = service.account_store
            service.unit(lambda s: store.set_password(s, username, password, by=by))
        finally:
            service.stop()

    def approve(
        self,
        node: str,
        project_id: str,
        *,
        analyses: list[str] | None = None,
        outputs_to_airlock: bool = False,
    ) -> int:
        """The node's custodian approves the project's current version; returns it."""
        service = self.node_service(node)
        try:
            return node_setup.approve(
                service,
                project_id,
                by=CUSTODIAN,
                analyses=analyses,
                outputs_to_airlock=outputs_to_airlock,
            ).version
        finally:
            service.stop()

    def reject(self, node: str, project_id: str, reason: str) -> None:
        service = self.node_service(node)
        try:
            node_setup.reject(service, project_id, by=CUSTODIAN, reason=reason)
        finally:
            service.stop()

    def revoke(self, node: str, project_id: str) -> None:
        service = self.node_service(node)
        try:
            node_setup.revoke(service, project_id, by=CUSTODIAN)
        finally:
            service.stop()

    # ---- people and projects --------------------------------------------------------------

    def researcher(
        self,
        username: str = "alice",
        lifetime: timedelta = timedelta(days=1),
        name: str = "",
        accredited_until: date | None = None,
        roles: tuple[str, ...] = ("researcher",),
    ) -> str:
        """Create a researcher account (accredited for a year unless ``accredited_until``
        says otherwise) and return an API token for it."""
        until = accredited_until or date.today() + timedelta(days=365)

        def work(session: Session) -> str:
            create_user(
                session, username=username, display_name=name or username, roles=roles,
                accredited_until=until, by=ADMIN,
            )  # fmt: skip
            return issue_token(session, username=username, lifetime=lifetime, by=ADMIN)

        return self.admin(work)

    def token_for(self, username: str, lifetime: timedelta = timedelta(days=1)) -> str:
        return self.admin(lambda s: issue_token(s, username=username, lifetime=lifetime, by=ADMIN))

    def project(
        self,
        members: list[str],
        nodes: list[str],
        *,
        approve: bool = True,
        title: str = "Local project",
        **terms: Any,
    ) -> str:
        """Create a project (``terms``: more of ``hub.projects.create_project``'s, e.g. ``pi``,
        ``start_date``); by default every node's custodian approves it."""
        terms = {
            "start_date": date.today(),
            "end_date": date.today() + timedelta(days=365),
            "purpose": "Testing the federation on synthetic data.",
            **terms,
        }
        project_id = self.admin(
            lambda s: (
                create_project(s, title=title, members=members, nodes=nodes, by=ADMIN, **terms).id
            )
        )
        if approve:
            for node in nodes:
                self.approve(node, project_id)
        return project_id

    def federation(self, token: str, project: str | None = None) -> Federation:
        return Federation(self.hub_url, token, project, ca_file=self.ca_file)
