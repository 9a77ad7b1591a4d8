"""Verifying a service's audit log: the hash chain, and every signed checkpoint against it.

``verify_audit`` walks the chain once, from the first event to the head, and reports every
problem it finds (up to ``MAX_PROBLEMS``), each at the event where it is seen:

* an event whose stored hash does not match its fields: it was **edited**;
* a gap or a repeat in the numbering: an event was **deleted** or **inserted**;
* an event that does not link to the one before: events were **inserted, deleted or
  reordered** there;
* a head record that does not match the last event: events were deleted or added at the end;
* a checkpoint whose signature does not verify with the service's public key: **forged or
  altered**;
* a checkpoint (in the chain, or in the witness file outside the database) whose event is no
  longer in the chain, or has another hash now: the chain was **rewritten and re-hashed** up
  to that event, or cut short.

Events after the newest checkpoint are protected by the hash chain alone: someone able to
write the database could re-hash them, or append events with correct hashes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.audit.chain import GENESIS_HASH, AuditTables, _fields, event_hash
from fivesafes.audit.checkpoints import CHECKPOINT, Checkpoint, WitnessLine
from fivesafes.protocol.errors import BadSignature

MAX_PROBLEMS = 20


@dataclass(frozen=True)
class Problem:
    seq: int
    what: str


@dataclass(frozen=True)
class AuditReport:
    events: int
    checkpoints: int  # checkpoint events in the chain whose signature verified
    witnessed: int  # checkpoints of the witness file whose signature verified
    last_checkpoint: int | None  # the newest event a verified checkpoint covers, if it holds
    problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def at_seq(self) -> int | None:
        return self.problems[0].seq if self.problems else None

    @property
    def problem(self) -> str | None:
        return self.problems[0].what if self.problems else None


@dataclass
class _Claims:
    """What signed checkpoints say the chain holds: event number -> [(hash, who says so)]."""

    by_seq: dict[int, list[tuple[str, str]]] = field(default_factory=dict)

    def add(self, checkpoint: Checkpoint, source: str) -> None:
        self.by_seq.setdefault(checkpoint.seq, []).append((checkpoint.hash, source))


def verify_audit(
    session: Session,
    tables: AuditTables,
    public_key: str,
    witness: Iterable[WitnessLine] = (),
) -> AuditReport:
    """Check the chain and every checkpoint; ``public_key`` is the service's own (base64)."""
    problems: list[Problem] = []
    claims = _Claims()
    in_chain = _chain_checkpoints(session, tables, public_key, claims, problems)
    witnessed = 0
    for line in witness:
        checkpoint = line.checkpoint
        try:
            if checkpoint is None:
                raise ValueError
            checkpoint.verify(public_key)
        except (BadSignature, ValueError):
            seq = checkpoint.seq if checkpoint is not None else 0
            problems.append(
                Problem(
                    seq,
                    f"line {line.line} of the witness file is not a checkpoint signed "
                    "by this service's key",
                )
            )
            continue
        claims.add(checkpoint, f"the witness file's checkpoint (line {line.line})")
        witnessed += 1
    events, last_checkpoint = _walk(session, tables, claims, problems)
    for seq, said in sorted(claims.by_seq.items()):
        for _, source in said:
            problems.append(
                Problem(
                    seq,
                    f"{source} covers event {seq}, which is no longer in the chain: "
                    "events were deleted",
                )
            )
    problems.sort(key=lambda p: p.seq)
    return AuditReport(events, in_chain, witnessed, last_checkpoint, tuple(problems[:MAX_PROBLEMS]))


def _chain_checkpoints(
    session: Session,
    tables: AuditTables,
    public_key: str,
    claims: _Claims,
    problems: list[Problem],
) -> int:
    """Collect the checkpoint events' claims; report the ones that do not verify."""
    events = tables.events.c
    rows = session.execute(
        select(events.seq, events.details).where(events.event_type == CHECKPOINT.value)
    )
    verified = 0
    for seq, details in rows:
        try:
            checkpoint = Checkpoint.from_json(details)
            checkpoint.verify(public_key)
        except (BadSignature, ValueError):
            problems.append(
                Problem(
                    seq, "the checkpoint is not signed by this service's key: forged or altered"
                )
            )
            continue
        if checkpoint.seq >= seq:
            problems.append(Problem(seq, "the checkpoint claims an event after itself"))
            continue
        claims.add(checkpoint, f"the checkpoint at event {seq}")
        verified += 1
    return verified


def _walk(
    session: Session, tables: AuditTables, claims: _Claims, problems: list[Problem]
) -> tuple[int, int | None]:
    """Walk the chain; return how many events it holds and the newest checkpointed event
    whose hash matched."""
    prev_hash, expected_seq, count = GENESIS_HASH, 1, 0
    last_checkpoint: int | None = None
    query = select(tables.events).order_by(tables.events.c.seq).execution_options(yield_per=1000)
    for row in session.execute(query).mappings():
        data = dict(row)
        seq = data["seq"]
        if seq != expected_seq:
            what = "an event is missing before this one" if seq > expected_seq else "repeated"
            problems.append(Problem(seq, f"{what}: events were deleted or inserted"))
        elif data["prev_hash"] != prev_hash:
            problems.append(
                Problem(
                    seq,
                    "the link to the previous event is broken: events were inserted, "
                    "deleted or reordered here",
                )
            )
        if event_hash(data["prev_hash"], _fields(data)) != data["hash"]:
            problems.append(Problem(seq, "the event was edited"))
        for signed_hash, source in claims.by_seq.pop(seq, []):
            if signed_hash == data["hash"]:
                last_checkpoint = max(last_checkpoint or 0, seq)
            else:
                problems.append(
                    Problem(
                        seq,
                        f"{source} signed another hash for this event: the chain was "
                        "rewritten up to here",
                    )
                )
        prev_hash, expected_seq, count = data["hash"], seq + 1, count + 1
    head = session.execute(select(tables.head).where(tables.head.c.id == 1)).mappings().first()
    last_seq = expected_seq - 1
    if head is None and count:
        problems.append(Problem(last_seq, "the chain's head record is missing"))
    elif head is not None and (head["seq"] != last_seq or head["hash"] != prev_hash):
        problems.append(
            Problem(
                last_seq + 1,
                "the chain's head does not match its last event: events were "
                "deleted or added at the end",
            )
        )
    return count, last_checkpoint
