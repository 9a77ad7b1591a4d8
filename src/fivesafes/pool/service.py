"""The pool service's parts put together around one :class:`~fivesafes.pool.host.PoolHost`:
its files, the intake of extracts, destruction and the sweeper, sharing one lock; and what the
receiver answers besides extracts (a challenge, a pool's state, a revocation) and what
``fivesafes pool status`` shows, counts only.
"""

from __future__ import annotations

from typing import Any

from fivesafes.pool.destruction import Destruction
from fivesafes.pool.host import HubWord, PoolHost, check_terms, hub_word
from fivesafes.pool.intake import Clock, Intake, utcnow
from fivesafes.pool.records import PoolFiles
from fivesafes.pool.sweeper import Sweeper
from fivesafes.protocol.errors import Conflict, ServiceUnavailable
from fivesafes.protocol.pool import (
    PoolChallenge,
    PoolState,
    PoolStatus,
    PoolTerms,
    SignedCertificate,
    terms_digest,
)
from fivesafes.protocol.signing import public_key_text, sign


class PoolService:
    def __init__(self, host: PoolHost, clock: Clock = utcnow) -> None:
        settings = host.settings
        self.host = host
        self.files = PoolFiles(settings.store, settings.certificates, host.data_path)
        self.intake = Intake(host, self.files, clock)
        self.destruction = Destruction(host, self.files, clock)
        self.sweeper = Sweeper(host, self.files, self.intake, self.destruction, clock)

    def challenge(self, pool_id: str, nonce: str) -> PoolChallenge:
        """The pool's signature over ``{"pool_id", "nonce"}``, for a pool whose terms the hub
        signed for this pool, that it could still take."""
        hub_word(self.host, pool_id)
        if self.files.certificate(pool_id) is not None:
            raise Conflict("The pool has been destroyed: it takes nothing more.")
        if any(held != pool_id for held in self.files.held()):
            raise Conflict("This pool service holds another pool until that one is destroyed.")
        payload = {"pool_id": pool_id, "nonce": nonce}
        return PoolChallenge(pool_id=pool_id, nonce=nonce, signature=sign(payload, self.host.key))

    def known(self, pool_id: str) -> HubWord:
        """The hub's word on the pool; if the hub cannot be had, the terms kept here (checked
        again under the hub's key), so that a node can still revoke or ask."""
        try:
            return hub_word(self.host, pool_id)
        except ServiceUnavailable:
            record = self.files.record(pool_id)
            signed = record.terms if record else self.files.certificate_terms(pool_id)
            if signed is None:
                raise
        terms = check_terms(
            signed,
            hub_key=self.host.hub_public_key(),
            pool_id=pool_id,
            pool_name=self.host.name,
            pool_key=public_key_text(self.host.key),
        )
        return HubWord(signed, terms, terms_digest(signed.payload), PoolState.REQUESTED, ())

    def revoke(self, word: HubWord, node: str) -> SignedCertificate:
        """A source node's custodian withdrew: destroy the pool now."""
        return self.destruction.destroy(word.terms.pool_id, "revoked", revoked_by=node, word=word)

    def state(self, word: HubWord) -> PoolStatus:
        """The pool as it stands here: destroyed (a certificate), revoked or expired (the
        hub's word, not swept yet), ready (merged) or requested; the nodes whose extract it
        received."""
        pool_id = word.terms.pool_id
        record = self.files.record(pool_id)
        if self.files.certificate(pool_id) is not None:
            state = PoolState.DESTROYED
        elif word.state in (PoolState.REVOKED, PoolState.EXPIRED):
            state = word.state
        elif record is not None and record.merged is not None:
            state = PoolState.READY
        else:
            state = PoolState.REQUESTED
        sent = sorted(record.received) if record is not None else []
        return PoolStatus(terms=word.signed, state=state, sent=sent)


def summary(files: PoolFiles) -> list[dict[str, Any]]:
    """Every pool held or destroyed here, from the pool's own records: counts only."""
    rows: list[dict[str, Any]] = []
    for pool_id in files.held():
        record = files.record(pool_id)
        if record is None:
            continue
        terms = PoolTerms.model_validate(record.terms.payload)
        merged = record.merged
        rows.append(
            {
                "pool_id": pool_id,
                "state": "ready" if merged else "receiving",
                "pool_project_id": terms.pool_project_id,
                "expires_at": terms.expires_at.isoformat(),
                "nodes": sorted(terms.variables),
                "received": {n: r.persons for n, r in sorted(record.received.items())},
                "persons_pooled": merged.persons if merged else None,
                "rows": dict(merged.rows) if merged else {},
                "hub_told_ready": merged.told_hub if merged else False,
            }
        )
    for pool_id in files.certified():
        signed = files.certificate(pool_id)
        if signed is None:
            continue
        payload = signed.payload
        rows.append(
            {
                "pool_id": pool_id,
                "state": "destroyed",
                "pool_project_id": payload.get("pool_project_id"),
                "reason": payload.get("reason"),
                "destroyed_at": payload.get("destroyed_at"),
                "files_deleted": len(payload.get("files", [])),
                "persons_pooled": payload.get("persons"),
                "hub_has_certificate": files.told(pool_id),
            }
        )
    return rows
