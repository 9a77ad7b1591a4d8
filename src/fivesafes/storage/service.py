"""What the hub and the node have in common: a signing key and a state database.

The constructor does no I/O; ``start()`` loads the key and opens and migrates the database;
``unit(work)`` runs ``work`` in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.protocol.signing import load_private_key
from fivesafes.storage.engine import make_engine, make_sessionmaker, transaction
from fivesafes.storage.migrate import upgrade

T = TypeVar("T")


class ServiceCore:
    def __init__(self, *, role: str, key_file: Path, database_url: str, migrations: str) -> None:
        self._role = role
        self._key_file = key_file
        self._database_url = database_url
        self._migrations = migrations
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._key: Ed25519PrivateKey | None = None

    def start(self) -> None:
        self._key = load_private_key(self._key_file)
        self._engine = make_engine(self._database_url)
        upgrade(self._engine, self._migrations)
        self._sessions = make_sessionmaker(self._engine)

    def stop(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    @property
    def key(self) -> Ed25519PrivateKey:
        if self._key is None:
            raise RuntimeError(f"the {self._role} service has not been started")
        return self._key

    @property
    def sessions(self) -> sessionmaker[Session]:
        if self._sessions is None:
            raise RuntimeError(f"the {self._role} service has not been started")
        return self._sessions

    def unit(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one transaction: committed if it returns, rolled back if it raises."""
        if self._sessions is None:
            raise RuntimeError(f"the {self._role} service has not been started")
        with transaction(self._sessions) as session:
            return work(session)

    def read(self, work: Callable[[Session], T]) -> T:
        """Run ``work``, which only reads, in one transaction that never waits for writers."""
        if self._sessions is None:
            raise RuntimeError(f"the {self._role} service has not been started")
        with transaction(self._sessions, read_only=True) as session:
            return work(session)
