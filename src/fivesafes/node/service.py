"""The node as one object: configuration, key, state database, hub transport and data.

The constructor does no I/O; ``start()`` loads the key, opens and migrates the state database.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.node.config import NodeConfig
from fivesafes.node.db import Registration
from fivesafes.node.transport import HttpHubTransport
from fivesafes.protocol.errors import ConfigError
from fivesafes.protocol.signing import load_private_key
from fivesafes.storage.engine import make_engine, make_sessionmaker, transaction
from fivesafes.storage.migrate import upgrade

T = TypeVar("T")
MIGRATIONS = "fivesafes.node:migrations"


class NodeService:
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._key: Ed25519PrivateKey | None = None

    def start(self) -> None:
        self._key = load_private_key(self.config.node.key_file)
        self._engine = make_engine(self.config.node.database_url)
        upgrade(self._engine, MIGRATIONS)
        self._sessions = make_sessionmaker(self._engine)

    def stop(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    @property
    def name(self) -> str:
        return self.config.node.name

    @property
    def key(self) -> Ed25519PrivateKey:
        if self._key is None:
            raise RuntimeError("the node service has not been started")
        return self._key

    def unit(self, work: Callable[[Session], T]) -> T:
        if self._sessions is None:
            raise RuntimeError("the node service has not been started")
        with transaction(self._sessions) as session:
            return work(session)

    def registration(self) -> Registration:
        registration = self.unit(lambda s: s.get(Registration, 1))
        if registration is None:
            raise ConfigError(
                f"Node {self.name!r} is not enrolled yet: run 'fivesafes node enrol' first."
            )
        return registration

    def transport(self) -> HttpHubTransport:
        return HttpHubTransport(
            self.config.node.hub_url, self.name, self.key, self.config.node.ca_file
        )
