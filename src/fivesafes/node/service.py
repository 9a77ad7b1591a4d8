"""The node as one object: configuration, key, state database and hub transport."""

from __future__ import annotations

from fivesafes.audit.checkpoints import Checkpointer, CheckpointPolicy, service_name
from fivesafes.governance.accounts import Accounts
from fivesafes.node.accounts import node_accounts
from fivesafes.node.config import NodeConfig
from fivesafes.node.db import AUDIT, Registration
from fivesafes.node.person_sets import SqlPersonSetStore
from fivesafes.node.transport import HttpHubTransport
from fivesafes.protocol.errors import ConfigError
from fivesafes.storage.service import ServiceCore

MIGRATIONS = "fivesafes.node:migrations"


class NodeService(ServiceCore):
    def __init__(self, config: NodeConfig) -> None:
        super().__init__(
            role="node",
            key_file=config.node.key_file,
            database_url=config.node.database_url,
            migrations=MIGRATIONS,
        )
        self.config = config
        # the node's own people (custodians, TRE admins, output checkers) log in here
        self.account_store = node_accounts(config.accounts, issuer=f"fivesafes {config.node.name}")
        self.accounts = Accounts(self.account_store, self.unit, self.read)

    @property
    def name(self) -> str:
        return self.config.node.name

    def registration(self) -> Registration:
        registration = self.unit(lambda s: s.get(Registration, 1))
        if registration is None:
            raise ConfigError(
                f"Node {self.name!r} is not enrolled yet: run 'fivesafes node enrol' first."
            )
        return registration

    def person_sets(self) -> SqlPersonSetStore:
        """The persons behind every output this node released, per project."""
        return SqlPersonSetStore(self.sessions)

    def checkpointer(self) -> Checkpointer:
        """Signs the audit chain's head as the settings say (``start()`` it while serving)."""
        settings = self.config.node
        return Checkpointer(
            unit=self.unit,
            tables=AUDIT,
            key=self.key,
            service=service_name("node", self.name),
            policy=CheckpointPolicy.of(settings),
        )

    def transport(self) -> HttpHubTransport:
        return HttpHubTransport(
            self.config.node.hub_url, self.name, self.key, self.config.node.ca_file
        )
