"""The hub as one object that routes call: configuration, key, database and wake-ups."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes import __version__
from fivesafes.audit.chain import append_event
from fivesafes.audit.checkpoints import Checkpointer, CheckpointPolicy, service_name
from fivesafes.audit.events import AuditEventType
from fivesafes.governance.accounts import Accounts
from fivesafes.hub import linkage, review, runs
from fivesafes.hub.config import HubConfig
from fivesafes.hub.db import AUDIT, Node
from fivesafes.hub.enrolment import EnrolledNodes, enrolled_node
from fivesafes.hub.notify import Notifier
from fivesafes.hub.people import hub_accounts
from fivesafes.linkage.match_sql import Spill
from fivesafes.pathology.trail import ViewportTrail
from fivesafes.protocol.models import HubInfo
from fivesafes.protocol.signing import fingerprint, public_key_text
from fivesafes.slides.pack import TilePack
from fivesafes.slides.tile_cache import SlideTiles
from fivesafes.storage.service import ServiceCore
from fivesafes.storage.types import utcnow

log = logging.getLogger("fivesafes.hub")
MIGRATIONS = "fivesafes.hub:migrations"
REVIEW_SWEEP_SECONDS = 60.0  # how often slides of ended projects are looked for


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
        # the review store: released slides' packs, their tiles served, readers' trails
        self.review_root = config.hub.review_store
        self.review_tiles = SlideTiles(self._review_pack, opener=TilePack.open)
        self.trail = ViewportTrail()
        self.review_access = review.ReviewAccess(self.read)
        self._review_swept = 0.0
        self._linkage_wake: asyncio.Event | None = None

    def _review_pack(self, review_id: str) -> Path | None:
        found = review.pack_path(self.review_root, review_id)
        return found if found.is_file() else None

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
        self.flush_trail()
        if time.monotonic() - self._review_swept >= REVIEW_SWEEP_SECONDS:
            self._review_swept = time.monotonic()
            self.delete_ended_reviews()

    def flush_trail(self, *, everything: bool = False) -> int:
        """Write the readers' viewport trail that is due into the audit log."""
        entries = self.trail.due(everything=everything)
        if entries:

            def write(session: Session) -> None:
                for e in entries:
                    append_event(session, AUDIT, AuditEventType.SLIDE_VIEWED, by=e.reader,
                                 project_id=e.project_id, details=e.details())  # fmt: skip

            self.unit(write)
        return len(entries)

    def delete_ended_reviews(self) -> list[str]:
        """Delete the review store's slides whose project has ended (its purpose is over)."""
        now = utcnow()
        gone = self.read(lambda s: review.ended(s, now.date()))
        for review_id in gone:

            def delete(session: Session, rid: str = review_id) -> bool:
                return review.delete(session, rid, self.review_root, reason="the project ended",
                                     by=self.config.hub.name, node=None, now=now)  # fmt: skip

            self.unit(delete)
            self.review_tiles.forget(review_id)
            self.review_access.forget(review_id)
        return gone

    def link_pending(self) -> list[str]:
        """Run the linkage of every project whose uploads all wait (``hub.linkage``)."""
        root = self.config.hub.linkage_store
        spill = Spill(root / ".spill", memory_limit=self.config.hub.linkage_memory_limit)
        return linkage.run_pending(self.unit, self.read, root, spill, utcnow)

    def wake_linkage(self) -> None:
        """A project's last upload came in: link it now rather than at the next look."""
        if self._linkage_wake is not None:
            self._linkage_wake.set()

    async def link_forever(self) -> None:
        """Background loop: the linkage worker, one run at a time, away from the requests."""
        self._linkage_wake = asyncio.Event()
        while True:
            try:
                await asyncio.to_thread(self.link_pending)
            except Exception as exc:  # noqa: BLE001 - logged by type: a run's data never
                log.error("linkage worker failed (%s); retrying", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                wait = self.config.hub.sweep_interval_seconds
                await asyncio.wait_for(self._linkage_wake.wait(), wait)
            self._linkage_wake.clear()

    async def sweep_forever(self) -> None:
        """Background loop: expire leases and deadlines even when nobody is polling."""
        while True:
            try:
                await asyncio.to_thread(self.sweep)
            except Exception:
                log.exception("sweep failed; retrying")
            await asyncio.sleep(self.config.hub.sweep_interval_seconds)
