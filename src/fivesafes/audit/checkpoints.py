"""Signed checkpoints of the audit chain: the head (sequence number and hash) signed with the
service's Ed25519 key, written into the chain itself as an ``audit_checkpoint`` event.

A hash chain shows any edit that was not followed by re-hashing every later event; someone
with write access to the database can re-hash. A checkpoint signed earlier cannot be re-made
without the private key, so a chain rewritten before a checkpoint no longer passes through the
head it signed (``fivesafes.audit.verify``). Each checkpoint is also appended to a *witness
file* outside the database (one JSON object a line), so deleting the checkpoint events as well
is found too.

When to write one (``checkpoint_due``): once ``every_events`` events were appended since the
last checkpoint, or ``every_seconds`` passed since it and at least one event was appended.
``Checkpointer`` asks that every few seconds in a running hub or node; ``fivesafes audit
checkpoint`` writes one on demand.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.audit.chain import AuditTables, append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.protocol.signing import sign, verify

log = logging.getLogger("fivesafes.audit")

CHECKPOINT = AuditEventType.AUDIT_CHECKPOINT
_FIELDS = ("service", "seq", "hash", "signed_at", "signature")


@dataclass(frozen=True)
class Checkpoint:
    """``service`` (``hub:<name>`` or ``node:<name>``) signed that its chain's event ``seq``
    had hash ``hash`` at ``signed_at``."""

    service: str
    seq: int
    hash: str
    signed_at: str
    signature: str

    def statement(self) -> dict[str, Any]:
        """What the signature covers (canonical JSON, as every signature in fivesafes)."""
        return {
            "checkpoint": 1,
            "service": self.service,
            "seq": self.seq,
            "hash": self.hash,
            "signed_at": self.signed_at,
        }

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_json(cls, data: Any) -> Checkpoint:
        """Raises ``ValueError`` unless ``data`` has exactly a checkpoint's fields and types."""
        if not isinstance(data, dict) or set(data) != set(_FIELDS):
            raise ValueError("not a checkpoint")
        seq = data["seq"]
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
            raise ValueError("a checkpoint covers an event number from 1")
        if not all(isinstance(data[name], str) for name in _FIELDS if name != "seq"):
            raise ValueError("a checkpoint's fields are text")
        return cls(**data)

    def verify(self, public_key: str) -> None:
        """Raise ``BadSignature`` unless the service's key signed this checkpoint."""
        verify(self.statement(), self.signature, public_key)


def signed_checkpoint(
    service: str, seq: int, head_hash: str, key: Ed25519PrivateKey, now: datetime
) -> Checkpoint:
    unsigned = Checkpoint(service, seq, head_hash, now.astimezone(UTC).isoformat(), "")
    return Checkpoint(**{**unsigned.to_json(), "signature": sign(unsigned.statement(), key)})


def write_checkpoint(
    session: Session,
    tables: AuditTables,
    key: Ed25519PrivateKey,
    *,
    service: str,
    by: str,
    now: datetime | None = None,
) -> Checkpoint | None:
    """Sign the chain's head and append it as an ``audit_checkpoint`` event, in the caller's
    transaction (the head stays locked from reading it to appending). None if the chain is
    empty."""
    head = session.connection().execute(tables.read_head).one_or_none()
    if head is None or head.seq == 0:
        return None
    checkpoint = signed_checkpoint(service, head.seq, head.hash, key, now or datetime.now(UTC))
    append_event(session, tables, CHECKPOINT, by=by, details=checkpoint.to_json())
    return checkpoint


@dataclass(frozen=True)
class HeadState:
    head: int  # the last event's number (0: empty)
    last_checkpoint_event: int | None  # the number of the latest checkpoint event
    last_checkpoint_at: datetime | None


def head_state(session: Session, tables: AuditTables) -> HeadState:
    """The head and the latest checkpoint event (found by scanning back from the head)."""
    head = session.execute(select(tables.head.c.seq).where(tables.head.c.id == 1)).scalar()
    events = tables.events.c
    last = session.execute(
        select(events.seq, events.at)
        .where(events.event_type == CHECKPOINT.value)
        .order_by(events.seq.desc())
        .limit(1)
    ).first()
    at = None if last is None else last.at
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return HeadState(head or 0, None if last is None else last.seq, at)


def checkpoint_due(
    state: HeadState, now: datetime, every_events: int, every_seconds: float
) -> bool:
    """Whether a checkpoint should be written: events were appended since the last one, and
    either ``every_events`` of them or ``every_seconds`` passed (or there was none yet)."""
    appended = state.head - (state.last_checkpoint_event or 0)
    if appended <= 0:
        return False
    if state.last_checkpoint_event is None or appended >= every_events:
        return True
    assert state.last_checkpoint_at is not None
    return now - state.last_checkpoint_at >= timedelta(seconds=every_seconds)


# ---- the witness file ------------------------------------------------------------------------


def append_witness(path: Path, checkpoint: Checkpoint) -> None:
    """Append one checkpoint as a JSON line (created mode 600 if absent), flushed to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(checkpoint.to_json(), sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class WitnessLine:
    line: int
    checkpoint: Checkpoint | None  # None: the line is not a checkpoint


def read_witness(path: Path) -> Iterator[WitnessLine]:
    """Every line of the witness file (nothing if there is no file)."""
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                yield WitnessLine(number, Checkpoint.from_json(json.loads(text)))
            except ValueError:
                yield WitnessLine(number, None)


# ---- writing them while a service runs ------------------------------------------------------


Unit = Callable[[Callable[[Session], Any]], Any]


@dataclass(frozen=True)
class CheckpointPolicy:
    every_events: int
    every_seconds: float
    witness: Path | None

    @classmethod
    def of(cls, settings: Any) -> CheckpointPolicy:
        """From a service's settings (``[hub]`` or ``[node]``: ``audit_checkpoint_events``,
        ``audit_checkpoint_seconds``, ``audit_witness_file``)."""
        return cls(
            settings.audit_checkpoint_events,
            settings.audit_checkpoint_seconds,
            settings.audit_witness_file,
        )


class Checkpointer:
    """Writes a checkpoint whenever one is due, checking every ``poll`` seconds on its own
    thread, and a last one at ``stop()``. The constructor does no I/O; ``start()`` starts."""

    def __init__(
        self,
        *,
        unit: Unit,
        tables: AuditTables,
        key: Ed25519PrivateKey,
        service: str,
        policy: CheckpointPolicy,
        poll: float = 5.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._unit = unit
        self._tables = tables
        self._key = key
        self._service = service
        self._policy = policy
        self._poll = min(poll, policy.every_seconds)
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self, *, force: bool = False) -> Checkpoint | None:
        """Write a checkpoint if one is due (or, with ``force``, if anything is new)."""
        policy = self._policy

        def work(session: Session) -> Checkpoint | None:
            state = head_state(session, self._tables)
            due = checkpoint_due(
                state,
                self._clock(),
                1 if force else policy.every_events,
                0 if force else policy.every_seconds,
            )
            if not due:
                return None
            return write_checkpoint(
                session,
                self._tables,
                self._key,
                service=self._service,
                by=self._service,
                now=self._clock(),
            )

        checkpoint: Checkpoint | None = self._unit(work)
        if checkpoint is not None and policy.witness is not None:
            append_witness(policy.witness, checkpoint)
        return checkpoint

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="audit-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and write a last checkpoint if anything was appended since."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._safely(force=True)

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            self._safely()

    def _safely(self, *, force: bool = False) -> None:
        try:
            self.tick(force=force)
        except Exception as exc:  # noqa: BLE001 - a failed checkpoint is retried next time
            log.error("writing an audit checkpoint failed with %s", type(exc).__name__)


def service_name(role: str, name: str) -> str:
    """How a checkpoint names the service that signed it."""
    return f"{role}:{name}"
