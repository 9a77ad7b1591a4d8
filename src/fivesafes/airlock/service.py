"""The airlock of one service (a node or the hub): its scope, its transactions, its key and
its disclosure profile, wired once; each method is one action in one transaction
(``fivesafes.airlock.actions``).

    airlock = Airlock(scope=node_scope("northfield"), unit=sql_unit(core.unit, AIRLOCK, AUDIT),
                      key=core.key, service="node:northfield", profile=config.profile)
    request = airlock.create(title="Smoking by region", project_id="p_1", by=alice)

The same class runs on the in-memory store (``MemoryAirlockStore.transaction`` as ``unit``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from fivesafes.airlock import actions
from fivesafes.airlock.bundle import ChangedSinceApproval
from fivesafes.airlock.files import PreScreen, RequestFile
from fivesafes.airlock.request import ReleaseRequest
from fivesafes.airlock.review import Vote
from fivesafes.airlock.screening import screen_files
from fivesafes.airlock.sql_store import SqlAirlockStore
from fivesafes.airlock.states import RELEASABLE
from fivesafes.airlock.store import AirlockStore, StoredBundle, Summary
from fivesafes.airlock.tables import AirlockTables
from fivesafes.audit.chain import AuditTables
from fivesafes.governance.people import Actor
from fivesafes.governance.roles import Scope
from fivesafes.kit.actions import act
from fivesafes.kit.store import SessionUnit, SqlUnit, Unit
from fivesafes.sdc.profiles import Profile
from fivesafes.storage.types import utcnow

AirlockUnit = Unit[AirlockStore]
"""Runs an airlock action on a store in one transaction: ``MemoryAirlockStore.transaction``,
or :func:`sql_unit` over a service's database."""


def sql_unit(
    unit: SessionUnit,
    tables: AirlockTables,
    audit: AuditTables,
    store: Callable[[Session, AirlockTables, AuditTables], AirlockStore] = SqlAirlockStore,
) -> SqlUnit[AirlockStore]:
    """A service's transactions (``ServiceCore.unit``) as the airlock's: each on a fresh store
    over the unit's session (``SqlAirlockStore``, or a service's own kind of it)."""
    return SqlUnit(unit, lambda session: store(session, tables, audit))


class Airlock:
    def __init__(
        self,
        *,
        scope: Scope,
        unit: AirlockUnit,
        key: Ed25519PrivateKey,
        service: str,
        profile: Profile,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.scope = scope
        self._unit = unit
        self._key = key
        self._service = service
        self._profile = profile
        self._clock = clock

    def screen(self, files: Sequence[RequestFile]) -> dict[str, PreScreen]:
        """The pre-screens of a version's files under this service's profile (a table made by
        ``sdc check``, under its own: ``screening``)."""
        return screen_files(files, self._profile)

    # ---- the author ------------------------------------------------------------------------

    def create(
        self,
        *,
        title: str,
        project_id: str | None,
        by: Actor,
        run_id: str | None = None,
        files: tuple[RequestFile, ...] = (),
    ) -> ReleaseRequest:
        return self._unit(
            lambda s: actions.create_request(
                s,
                scope=self.scope,
                title=title,
                project_id=project_id,
                by=by,
                run_id=run_id,
                files=files,
            )
        )

    def add_file(self, request_id: str, file: RequestFile, *, by: Actor) -> None:
        self._unit(lambda s: actions.add_file(s, request_id, file, by=by))

    def remove_file(self, request_id: str, name: str, *, by: Actor) -> None:
        self._unit(lambda s: actions.remove_file(s, request_id, name, by=by))

    def submit(self, request_id: str, *, by: Actor) -> ReleaseRequest:
        return self._unit(lambda s: actions.submit(s, request_id, by=by, screen=self.screen))

    def revise(self, request_id: str, *, by: Actor) -> ReleaseRequest:
        return self._unit(lambda s: actions.revise(s, request_id, by=by))

    def withdraw(self, request_id: str, *, by: Actor) -> None:
        self._unit(lambda s: actions.withdraw(s, request_id, by=by))

    def release(self, request_id: str, *, by: Actor) -> StoredBundle:
        """The signed bundle: made now for an approved request (for a partly approved one, of
        its approved files), otherwise the latest one made (a released request's, or the files
        released before the others were revised). A file changed since approval refuses, and
        the refusal is audited."""
        if self.show(request_id, by=by).state not in RELEASABLE:
            return self._unit(lambda s: actions.download(s, request_id, by=by))

        def refused(store: AirlockStore, error: ChangedSinceApproval) -> None:
            actions.refuse_release(store, request_id, by=by, why=error.message)

        return act(
            self._unit,
            lambda s: actions.release(
                s, request_id, by=by, key=self._key, service=self._service, now=self._clock()
            ),
            refused=refused,
            refusal=ChangedSinceApproval,
        )

    # ---- the output checkers ----------------------------------------------------------------

    def vote(
        self, request_id: str, file: str, vote: Vote, comment: str = "", *, by: Actor
    ) -> ReleaseRequest:
        return self._unit(lambda s: actions.vote(s, request_id, file, vote, comment, by=by))

    def consolidate(
        self, request_id: str, file: str, vote: Vote, comment: str, *, by: Actor
    ) -> ReleaseRequest:
        return self._unit(lambda s: actions.consolidate(s, request_id, file, vote, comment, by=by))

    def return_request(self, request_id: str, message: str, *, by: Actor) -> ReleaseRequest:
        """A checker returns the request under review to its author with ``message``."""
        return self._unit(lambda s: actions.return_request(s, request_id, message, by=by))

    def queue(self, *, by: Actor) -> list[actions.QueueItem]:
        return self._unit(lambda s: actions.queue(s, self.scope, by=by))

    # ---- reading ------------------------------------------------------------------------------

    def show(self, request_id: str, *, by: Actor) -> actions.RequestView:
        return self._unit(lambda s: actions.show(s, request_id, by=by))

    def file(self, request_id: str, name: str, *, by: Actor) -> bytes:
        return self._unit(lambda s: actions.file_content(s, request_id, name, by=by))

    def requests(self, *, by: Actor) -> list[Summary]:
        return self._unit(lambda s: actions.visible_requests(s, self.scope, by=by))
