"""The hub as one object that routes call: configuration, key, database and wake-ups.

The constructor does no I/O; ``start()`` opens and migrates the database and loads the key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from fivesafes import __version__
from fivesafes.hub import runs
from fivesafes.hub.config import HubConfig
from fivesafes.hub.db import Node
from fivesafes.hub.notify import Notifier
from fivesafes.protocol.models import HubInfo
from fivesafes.protocol.signing import fingerprint, load_private_key, public_key_text
from fivesafes.storage.engine import make_engine, make_sessionmaker, transaction
from fivesafes.storage.migrate import upgrade
from fivesafes.storage.types import utcnow

log = logging.getLogger("fivesafes.hub")
T = TypeVar("T")
MIGRATIONS = "fivesafes.hub:migrations"


class HubService:
    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.notifier = Notifier()
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._key: Ed25519PrivateKey | None = None

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._key = load_private_key(self.config.hub.key_file)
        self._engine = make_engine(self.config.hub.database_url)
        upgrade(self._engine, MIGRATIONS)
        self._sessions = make_sessionmaker(self._engine)

    def stop(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    @property
    def key(self) -> Ed25519PrivateKey:
        if self._key is None:
            raise RuntimeError("the hub service has not been started")
        return self._key

    @property
    def info(self) -> HubInfo:
        public = public_key_text(self.key)
        return HubInfo(
            name=self.config.hub.name,
            version=__version__,
            public_key=public,
            fingerprint=fingerprint(public),
        )

    @property
    def lease_for(self) -> timedelta:
        return timedelta(seconds=self.config.hub.lease_seconds)

    @property
    def offline_after(self) -> timedelta:
        return timedelta(seconds=self.config.hub.node_offline_after_seconds)

    # ---- units of work --------------------------------------------------------------------

    def unit(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one transaction."""
        if self._sessions is None:
            raise RuntimeError("the hub service has not been started")
        with transaction(self._sessions) as session:
            return work(session)

    def sweep(self) -> None:
        outcome = self.unit(lambda s: runs.sweep(s, self.config.gate, utcnow()))
        for task_id in outcome.changed_tasks:
            self.notifier.notify(f"task:{task_id}")
        if outcome.requeued_nodes:
            names = self.unit(
                lambda s: [s.get(Node, i).name for i in outcome.requeued_nodes if s.get(Node, i)]  # type: ignore[union-attr]
            )
            for name in names:
                self.notifier.notify(f"node:{name}")

    async def sweep_forever(self) -> None:
        """Background loop: expire leases and deadlines even when nobody is polling."""
        while True:
            try:
                await asyncio.to_thread(self.sweep)
            except Exception:
                log.exception("sweep failed; retrying")
            await asyncio.sleep(self.config.hub.sweep_interval_seconds)
