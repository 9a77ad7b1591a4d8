"""The hub as one object that routes call: configuration, key, database and wake-ups."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import select

from fivesafes import __version__
from fivesafes.audit.checkpoints import Checkpointer, CheckpointPolicy, service_name
from fivesafes.governance.accounts import Accounts
from fivesafes.hub import runs
from fivesafes.hub.config import HubConfig
from fivesafes.hub.db import AUDIT, Node
from fivesafes.hub.enrolment import EnrolledNodes, enrolled_node
from fivesafes.hub.notify import Notifier
from fivesafes.hub.people import hub_accounts
from fivesafes.protocol.models import HubInfo
from fivesafes.protocol.signing import fingerprint, public_key_text
from fivesafes.storage.service import ServiceCore
from fivesafes.storage.types import utcnow

log = logging.getLogger("fivesafes.hub")
MIGRATIONS = "fivesafes.hub:migrations"


class HubService(ServiceCore):
    def __init__(self, config: HubConfig) -> None:
        super().__init__(
            role="hub",
            key_file=config.hub.key_file,
            database_url=config.hub.database_url,
            migrations=MIGRATIONS,
        )
        self.config = config
        self.notifier = Notifier()
        self.nodes = EnrolledNodes()
        # people's accounts: logins, TOTP, web sessions (fivesafes.governance.accounts)
        self.account_store = hub_accounts(config.accounts, issuer=f"fivesafes {config.hub.name}")
        self.accounts = Accounts(self.account_store, self.unit, self.read)

    def enrolled_node(self, name: str) -> Node | None:
        """The registration of the node called ``name`` (kept once read), or None."""
        node = self.nodes.known(name)
        if node is None:
            node = self.read(lambda s: enrolled_node(s, name))
            node = self.nodes.keep(node) if node is not None else None
        return node

    @property
    def info(self) -> HubInfo:
        public = public_key_text(self.key)
        return HubInfo(
            name=self.config.hub.name,
            version=__version__,
            public_key=public,
            fingerprint=fingerprint(public),
        )

    def checkpointer(self) -> Checkpointer:
        """Signs the audit chain's head as the settings say (``start()`` it while serving)."""
        settings = self.config.hub
        return Checkpointer(
            unit=self.unit,
            tables=AUDIT,
            key=self.key,
            service=service_name("hub", settings.name),
            policy=CheckpointPolicy.of(settings),
        )

    @property
    def lease_for(self) -> timedelta:
        return timedelta(seconds=self.config.hub.lease_seconds)

    @property
    def offline_after(self) -> timedelta:
        return timedelta(seconds=self.config.hub.node_offline_after_seconds)

    def sweep(self) -> None:
        outcome = self.unit(lambda s: runs.sweep(s, self.config.profile, utcnow(), self.key))
        for task_id in outcome.changed_tasks:
            self.notifier.notify(f"task:{task_id}")
        for name in outcome.woken:
            self.notifier.notify(f"node:{name}")
        if outcome.requeued_nodes:
            names = self.unit(
                lambda s: list(
                    s.scalars(select(Node.name).where(Node.id.in_(outcome.requeued_nodes)))
                )
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
