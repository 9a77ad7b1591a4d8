"""The node a pool service runs as (``fivesafes pool serve``): the concrete
:class:`~fivesafes.pool.host.PoolHost`.

A pool is a node of the federation (ADR 0032), so its name, key, pinned hub key, state
database, audit chain and signed requests to the hub are its ``NodeService``'s; its data source
(``[data]``, a DuckDB file) is the pooled CDM. The hub's refusals are told as the pool's
receiver tells them: a pool the hub does not know for this node is "not found or no
permission", a hub that cannot be asked is "unavailable".
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, delete, text
from sqlalchemy.orm import Session

from fivesafes.audit.chain import append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.data.source import DuckDBSource
from fivesafes.node.db import AUDIT, Approval
from fivesafes.node.person_set_db import PersonSetRow
from fivesafes.node.service import NodeService
from fivesafes.node.transport import HttpHubTransport, HubRejected, HubUnreachable
from fivesafes.pool.settings import PoolSettings
from fivesafes.protocol.errors import ConfigError, NotFoundOrNoPermission, ServiceUnavailable
from fivesafes.protocol.models import ApprovalReport
from fivesafes.protocol.pool import PoolEvent, PoolStatus
from fivesafes.storage.types import utcnow


def pool_data_path(service: NodeService) -> Path:
    """The pool's data file; a pool's ``[data]`` must be a DuckDB file (the merge writes it)."""
    data = service.config.data
    if not isinstance(data, DuckDBSource):
        raise ConfigError(
            'A pool\'s [data] must be engine = "duckdb" with a path: it merges there.'
        )
    return Path(data.path)


class NodePoolHost:
    """A started ``NodeService`` as the pool's host, with a hub transport of its own."""

    def __init__(self, service: NodeService, transport: HttpHubTransport | None = None) -> None:
        self.service = service
        self.transport = transport or service.transport()
        self._data_path = pool_data_path(service)

    @property
    def name(self) -> str:
        return self.service.name

    @property
    def key(self) -> Ed25519PrivateKey:
        return self.service.key

    @property
    def settings(self) -> PoolSettings:
        return self.service.config.pool

    @property
    def data_path(self) -> Path:
        return self._data_path

    def hub_public_key(self) -> str:
        return self.service.registration().hub_public_key

    def pool_status(self, pool_id: str) -> PoolStatus:
        try:
            return self.transport.pool_status(pool_id)
        except HubUnreachable:
            raise ServiceUnavailable("The hub cannot be reached to say what the pool is.") from None
        except HubRejected as refused:
            if refused.http_status in (403, 404):
                raise NotFoundOrNoPermission("pool") from None
            raise ServiceUnavailable("The hub did not say what the pool is.") from None

    def tell_hub(self, pool_id: str, event: PoolEvent) -> PoolStatus:
        return self.transport.pool_event(pool_id, event)

    def audit(
        self, event: AuditEventType, *, by: str, project_id: str, details: dict[str, Any]
    ) -> None:
        self.service.unit(
            lambda s: append_event(
                s, AUDIT, event, by=by, node=self.name, project_id=project_id, details=details
            )
        )

    def forget_released_sets(self, project_id: str) -> int:
        """Delete the project's released person sets; in SQLite with ``secure_delete`` (the
        freed pages are overwritten with zeros) and the write-ahead log checkpointed and
        truncated after, so that no copy of the deleted sets stays in the database's files."""
        engine: Engine = self.service.sessions.kw["bind"]
        sqlite = engine.dialect.name == "sqlite"

        def work(session: Session) -> int:
            if sqlite:
                session.execute(text("PRAGMA secure_delete = ON"))
            found = session.execute(
                delete(PersonSetRow).where(PersonSetRow.project_id == project_id)
            )
            return int(getattr(found, "rowcount", 0) or 0)

        deleted = self.service.unit(work)
        if sqlite:  # outside any transaction: SQLite checkpoints only then
            raw = engine.raw_connection()
            try:
                raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                raw.close()
        return deleted

    def close_project(self, project_id: str) -> None:
        """The pool revokes its own approval of the pool project (audited as the pool), and
        tells the hub: its node policy then refuses every task of it (``project_not_approved``)."""

        def work(session: Session) -> int | None:
            approval = session.get(Approval, project_id)
            if approval is None or approval.state != "approved":
                return None
            approval.state, approval.decided_at = "revoked", utcnow()
            approval.decided_by = self.name
            why = {"why": "the pool's data destroyed"}
            append_event(session, AUDIT, AuditEventType.PROJECT_REVOKED, by=self.name,
                         project_id=project_id, details=why)  # fmt: skip
            return approval.version

        version = self.service.unit(work)
        if version is not None:
            report = ApprovalReport(project_id=project_id, version=version, decision="revoked")
            with contextlib.suppress(HubRejected, HubUnreachable):
                self.transport.report_approval(report)

    def close(self) -> None:
        self.transport.close()
