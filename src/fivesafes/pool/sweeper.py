"""The pool's sweeper: every ``[pool] sweep_seconds``, for each pool held here,

1. destroy it once its terms' ``expires_at`` has passed, by the pool's own clock and the terms
   it keeps, whether or not the hub can be reached (``expired``);
2. ask the hub, and destroy it if the hub says it is revoked, expired or destroyed;
3. merge it if every node has sent and the merge has not happened (a failed merge is retried),
   and tell the hub it is ready if the hub was not told;

then send the hub each certificate of destruction it does not have yet.

:meth:`Sweeper.step` is one pass (tests call it directly); :meth:`start` runs passes in a thread
until :meth:`stop`. A pass that fails for one pool is logged by the error's type and the next
pool is swept.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from fivesafes.pool.destruction import Destruction, Reason
from fivesafes.pool.host import PoolHost, hub_word
from fivesafes.pool.intake import Clock, Intake, aware, utcnow
from fivesafes.pool.records import PoolFiles
from fivesafes.protocol.errors import FivesafesError
from fivesafes.protocol.pool import PoolState, PoolTerms

log = logging.getLogger("fivesafes.pool")

HUB_SAYS: dict[PoolState, Reason] = {
    PoolState.REVOKED: "revoked",
    PoolState.EXPIRED: "expired",
    PoolState.DESTROYED: "revoked",  # the hub holds it destroyed: whatever is here goes
}


class Sweeper:
    def __init__(
        self,
        host: PoolHost,
        files: PoolFiles,
        intake: Intake,
        destruction: Destruction,
        clock: Clock = utcnow,
    ) -> None:
        self.host = host
        self.files = files
        self.intake = intake
        self.destruction = destruction
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> None:
        """One pass over the pools held here, then over the certificates the hub lacks."""
        now = self.clock()
        for pool_id in self.files.held():
            try:
                self._sweep(pool_id, now)
            except Exception as exc:  # noqa: BLE001 - one pool's failure must not stop the rest
                log.error("pool %s: the sweep failed (%s)", pool_id, type(exc).__name__)
        for pool_id in self.files.certified():
            if not self.files.told(pool_id):
                self.destruction.tell(pool_id)

    def _sweep(self, pool_id: str, now: datetime) -> None:
        record = self.files.record(pool_id)
        if record is None:
            return
        terms = PoolTerms.model_validate(record.terms.payload)
        if now >= aware(terms.expires_at):
            self.destruction.destroy(pool_id, "expired")
            return
        try:
            word = hub_word(self.host, pool_id)
        except FivesafesError as exc:
            log.warning("pool %s: the hub's word could not be had (%s)", pool_id, exc.code)
        else:
            reason = HUB_SAYS.get(word.state)
            if reason is not None:
                self.destruction.destroy(pool_id, reason)
                return
        if record.merged is None:
            self.intake.merge(pool_id)
        else:
            self.intake.tell_ready(pool_id)

    def start(self) -> None:
        """Sweep now, then every ``sweep_seconds``, in a thread of its own."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pool-sweeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        interval = self.host.settings.sweep_seconds
        while not self._stop.is_set():
            try:
                self.step()
            except Exception as exc:  # noqa: BLE001 - the sweeper outlives one bad pass
                log.error("the pool sweep failed (%s)", type(exc).__name__)
            self._stop.wait(interval)
