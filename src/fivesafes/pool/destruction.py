"""Destroying a pool: at its expiry, when the hub says it is revoked or expired, or when a source
node's custodian revokes it at the pool.

:meth:`Destruction.destroy` deletes the pooled data file (with its ``.wal`` and any partial
merge beside it), every file of the pool's folder (the extracts not yet merged, the record) and
the pool project's released person sets in the pool's state database (the differencing store
holds pooled persons' ids). Each file's name, size and SHA-256 are read just before it is
deleted and go into a :class:`~fivesafes.protocol.pool.DestructionCertificate`, signed with the
pool's key, written to ``certificates/<pool_id>.json``, audited (``pool_destroyed``, with the
certificate's digest) and sent to the hub in a ``destroyed`` event. A pool is destroyed once:
destroying it again returns the same certificate and does nothing more.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Literal

from fivesafes.audit.events import AuditEventType
from fivesafes.pool.host import HubWord, PoolHost
from fivesafes.pool.intake import Clock, utcnow
from fivesafes.pool.records import RECORD, PoolFiles, file_facts
from fivesafes.protocol.errors import FivesafesError, NotFoundOrNoPermission
from fivesafes.protocol.pool import (
    DestructionCertificate,
    PoolEvent,
    PoolTerms,
    SignedCertificate,
    terms_digest,
)
from fivesafes.protocol.signing import canonical_json, sign

log = logging.getLogger("fivesafes.pool")

Reason = Literal["expired", "revoked"]
_WHY = {
    "expired": "its time under the terms ended",
    "revoked": "a custodian of a node that sent to it revoked it",
}


def certificate_digest(signed: SignedCertificate) -> str:
    """SHA-256 of the certificate's canonical JSON: how the audit log names it."""
    return hashlib.sha256(canonical_json(signed.payload)).hexdigest()


class Destruction:
    def __init__(self, host: PoolHost, files: PoolFiles, clock: Clock = utcnow) -> None:
        self.host = host
        self.files = files
        self.clock = clock

    def destroy(
        self,
        pool_id: str,
        reason: Reason,
        *,
        revoked_by: str | None = None,
        word: HubWord | None = None,
    ) -> SignedCertificate:
        """Destroy the pool (its terms from its record here, else from ``word``); its signed
        certificate. Destroying a pool already destroyed returns its certificate."""
        with self.files.lock:
            done = self.files.certificate(pool_id)
            if done is not None:
                self._clear(pool_id, self.files.record(pool_id) is not None)
                return done
            record = self.files.record(pool_id)
            signed_terms = record.terms if record is not None else word.signed if word else None
            if signed_terms is None:
                raise NotFoundOrNoPermission("pool")
            terms = PoolTerms.model_validate(signed_terms.payload)  # checked when it came
            found = self._files(pool_id, held=record is not None)
            facts = [file_facts(path, name) for name, path in found]
            if record is not None:  # kept, so that a destruction cut short lists them still
                known = {f["name"] for f in facts}
                facts = [f for f in record.destroying or [] if f["name"] not in known] + facts
                record.destroying = facts
                self.files.save(pool_id, record)
            self.host.close_project(terms.pool_project_id)
            sets = self.host.forget_released_sets(terms.pool_project_id)
            for _, path in found:
                path.unlink(missing_ok=True)
            record_file = self.files.folder(pool_id) / RECORD
            if record_file.is_file():  # the record goes last, once the certificate is kept
                facts.append(file_facts(record_file, f"{pool_id}/{RECORD}"))
            persons = record.merged.persons if record is not None and record.merged else 0
            certificate = DestructionCertificate(
                pool_id=pool_id,
                project_id=terms.project_id,
                pool_project_id=terms.pool_project_id,
                pool_node=terms.pool_node,
                reason=reason,
                revoked_by=revoked_by if reason == "revoked" else None,
                destroyed_at=self.clock(),
                files=facts,
                persons=persons,
                statement=self._statement(pool_id, reason, len(facts), persons, sets),
            )
            payload = certificate.model_dump(mode="json")
            signed = SignedCertificate(payload=payload, signature=sign(payload, self.host.key))
            self.host.audit(
                AuditEventType.POOL_DESTROYED,
                by=revoked_by or self.host.name,
                project_id=terms.pool_project_id,
                details={
                    "pool_id": pool_id,
                    "reason": reason,
                    "files": len(facts),
                    "bytes": sum(int(f["bytes"]) for f in facts),
                    "persons": persons,
                    "person_sets": sets,
                    "certificate": certificate_digest(signed),
                },
            )
            self.files.save_certificate(pool_id, signed, signed_terms)
            self._clear(pool_id, record is not None)
        self.tell(pool_id)
        return signed

    def tell(self, pool_id: str) -> None:
        """Send the hub the pool's certificate, unless it has it; a failure is retried by the
        sweeper."""
        with self.files.lock:
            signed = self.files.certificate(pool_id)
            terms = self.files.certificate_terms(pool_id)
            if signed is None or terms is None or self.files.told(pool_id):
                return
            digest = terms_digest(terms.payload)
        event = PoolEvent(
            kind="destroyed",
            digest=digest,
            persons=int(signed.payload["persons"]),
            certificate=signed,
        )
        try:
            self.host.tell_hub(pool_id, event)
        except FivesafesError as exc:
            log.warning("pool %s: the hub was not told it is destroyed (%s)", pool_id, exc.code)
            return
        self.files.mark_told(pool_id)

    def _files(self, pool_id: str, *, held: bool) -> list[tuple[str, Path]]:
        """What destroying the pool deletes, each with the name its certificate gives it: the
        data file and its companions (only if this pool is the one held here), then every file
        of the pool's folder but its record (deleted last)."""
        found: list[tuple[str, Path]] = []
        if held:
            found += [(path.name, path) for path in self.files.data_files()]
        folder = self.files.folder(pool_id)
        if folder.is_dir():
            found += [
                (f"{pool_id}/{path.relative_to(folder)}", path)
                for path in sorted(folder.rglob("*"))
                if path.is_file() and path.name != RECORD
            ]
        return found

    def _clear(self, pool_id: str, held: bool) -> None:
        """Whatever is left of the pool (after a crash part-way): its data file if it is the
        pool held here, and its folder."""
        if held:
            for path in self.files.data_files():
                path.unlink(missing_ok=True)
        self.files.remove_folder(pool_id)

    def _statement(self, pool_id: str, reason: Reason, files: int, persons: int, sets: int) -> str:
        return (
            f"The pool {self.host.name} destroyed pool {pool_id} because {_WHY[reason]}. It "
            f"deleted the pooled data of {persons} persons and every extract the nodes sent to "
            f"it: {files} files, each listed with its size and SHA-256 as read just before it "
            f"was deleted. It deleted {sets} released person sets of the pool's project. "
            "Nothing of the pool's rows remains in the pool's files."
        )
