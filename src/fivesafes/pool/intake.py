"""The pool takes the nodes' extracts, and merges them once every node of the terms has sent.

:meth:`Intake.receive` is called by the receiver (``fivesafes.pool.receiver``) with a request
already authenticated as a node of the hub's verified terms. It refuses, in words and storing
nothing, unless

- the pool is open: the hub says ``requested``, its time has not passed, it was not destroyed
  here, it has not merged yet, and this service holds no other pool (one pool at a time);
- the node approved these terms (the digest it sends is the terms' digest);
- the bytes are an extract ``fivesafes.pool.wire`` reads, within ``[pool] max_extract_bytes``,
  and its variables are exactly those the terms name for the node.

It keeps the bytes as ``<pool_id>/<node>.extract`` (mode 600; a node that sends again before
the merge replaces its extract), audits ``pool_extract_received`` (persons and digest), and
answers a receipt signed with the pool's key. When the last node has sent, :meth:`merge` writes
the pooled CDM beside the data file and moves it into place, deletes the extracts, audits
``pool_merged`` (counts) and tells the hub the pool is ``ready``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime

from fivesafes.audit.events import AuditEventType
from fivesafes.pool.checks import Bounds, ExtractRefused
from fivesafes.pool.extract import Extract
from fivesafes.pool.host import HubWord, PoolHost
from fivesafes.pool.merge import MergeReport, merge
from fivesafes.pool.records import Merged, PoolFiles, PoolRecord, Received, write_private
from fivesafes.protocol.errors import Conflict, FivesafesError, InvalidRequest
from fivesafes.protocol.pool import PoolEvent, PoolReceipt, PoolState, PoolTerms, terms_digest
from fivesafes.protocol.signing import sign

log = logging.getLogger("fivesafes.pool")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """``moment`` with a time zone (a naive one is UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def check_open(files: PoolFiles, word: HubWord, now: datetime) -> None:
    """Refuse unless the pool takes extracts now (see the module's first rule)."""
    pool_id = word.terms.pool_id
    if files.certificate(pool_id) is not None:
        raise Conflict("The pool has been destroyed: it takes nothing more.")
    if word.state != PoolState.REQUESTED:
        raise Conflict(f"The pool is {word.state.value}: it takes no extract.")
    if now >= aware(word.terms.expires_at):
        raise Conflict("The pool's time has passed: it takes no extract.")
    if any(held != pool_id for held in files.held()):
        raise Conflict("This pool service holds another pool until that one is destroyed.")


class Intake:
    def __init__(self, host: PoolHost, files: PoolFiles, clock: Clock = utcnow) -> None:
        self.host = host
        self.files = files
        self.clock = clock

    @property
    def bounds(self) -> Bounds:
        return Bounds(max_bytes=self.host.settings.max_extract_bytes)

    def receive(self, word: HubWord, node: str, approved: str, body: bytes) -> PoolReceipt:
        """Take ``node``'s extract ``body`` under the terms whose digest it ``approved``."""
        terms = word.terms
        if approved != word.digest:
            raise Conflict(
                "The terms this node approved are not the pool's (their digests differ)."
            )
        check_open(self.files, word, self.clock())
        try:
            extract = Extract.from_bytes(body, self.bounds)
        except ExtractRefused as refused:
            raise InvalidRequest(f"The extract was refused: {refused}") from None
        if set(extract.variables) != set(terms.variables[node]):  # the wire refuses repeats
            raise InvalidRequest(
                "The extract's variables are not those the terms name for this node."
            )
        digest = hashlib.sha256(body).hexdigest()
        persons = len(extract.link_ids)
        with self.files.lock:
            now = self.clock()
            check_open(self.files, word, now)
            record = self.files.record(terms.pool_id) or PoolRecord(terms=word.signed)
            if terms_digest(record.terms.payload) != word.digest:
                raise Conflict(
                    "The hub's terms of this pool changed since it first took an extract."
                )
            if record.merged is not None:
                raise Conflict("The pool has merged every extract: it takes no more.")
            write_private(self.files.extract_path(terms.pool_id, node), body)
            record.received[node] = Received(digest=digest, persons=persons, received_at=now)
            self.files.save(terms.pool_id, record)
            self.host.audit(
                AuditEventType.POOL_EXTRACT_RECEIVED,
                by=node,
                project_id=terms.pool_project_id,
                details={
                    "pool_id": terms.pool_id,
                    "node": node,
                    "persons": persons,
                    "digest": digest,
                },
            )
            payload = {
                "pool_id": terms.pool_id,
                "node": node,
                "digest": digest,
                "persons": persons,
                "received_at": now.isoformat(),
            }
            receipt = PoolReceipt(payload=payload, signature=sign(payload, self.host.key))
            if set(record.received) == set(terms.variables):
                try:
                    self.merge(terms.pool_id)
                except Exception as exc:  # noqa: BLE001 - the extract is kept; the sweeper retries
                    log.error("pool %s: the merge failed (%s)", terms.pool_id, type(exc).__name__)
        return receipt

    def merge(self, pool_id: str) -> None:
        """Merge the pool's extracts into its data file, once every node of its terms sent."""
        with self.files.lock:
            record = self.files.record(pool_id)
            if record is None or record.merged is not None:
                return
            terms = PoolTerms.model_validate(record.terms.payload)
            nodes = sorted(terms.variables)
            if set(record.received) != set(nodes):
                return
            extracts = {
                node: Extract.from_bytes(
                    self.files.extract_path(pool_id, node).read_bytes(), self.bounds
                )
                for node in nodes
            }
            report = self._write(extracts, nodes)
            del extracts
            record.merged = Merged(
                persons=report.persons_pooled,
                persons_per_node=dict(report.persons_per_node),
                rows=dict(report.rows),
                merged_at=self.clock(),
            )
            self.files.save(pool_id, record)
            for node in nodes:
                self.files.extract_path(pool_id, node).unlink(missing_ok=True)
            self.host.audit(
                AuditEventType.POOL_MERGED,
                by=self.host.name,
                project_id=terms.pool_project_id,
                details={
                    "pool_id": pool_id,
                    "persons": report.persons_pooled,
                    "persons_per_node": dict(report.persons_per_node),
                    "rows": dict(report.rows),
                    "gender_disagreements": report.gender_disagreements,
                    "birth_disagreements": report.birth_disagreements,
                    "sources": {v: list(n) for v, n in report.sources.items()},
                },
            )
            self.tell_ready(pool_id)

    def _write(self, extracts: dict[str, Extract], nodes: list[str]) -> MergeReport:
        """The merge into a file beside the data file (mode 600), then moved into place."""
        merging = self.files.merging_path()
        data = self.files.data_path
        merging.parent.mkdir(parents=True, exist_ok=True)
        for stale in (merging, merging.with_name(f"{merging.name}.wal")):
            stale.unlink(missing_ok=True)
        try:
            report = merge(extracts, merging, order=nodes, bounds=self.bounds)
            os.chmod(merging, 0o600)
            data.with_name(f"{data.name}.wal").unlink(missing_ok=True)
            os.replace(merging, data)
        except BaseException:
            with contextlib.suppress(OSError):
                merging.unlink(missing_ok=True)
            raise
        return report

    def tell_ready(self, pool_id: str) -> None:
        """Tell the hub the pool is ready (if it was not told yet); a failure is retried by
        the sweeper."""
        with self.files.lock:
            record = self.files.record(pool_id)
            if record is None or record.merged is None or record.merged.told_hub:
                return
            event = PoolEvent(
                kind="ready",
                digest=terms_digest(record.terms.payload),
                persons=record.merged.persons,
            )
            try:
                self.host.tell_hub(pool_id, event)
            except FivesafesError as exc:
                log.warning("pool %s: the hub was not told it is ready (%s)", pool_id, exc.code)
                return
            record.merged = record.merged.model_copy(update={"told_hub": True})
            self.files.save(pool_id, record)
