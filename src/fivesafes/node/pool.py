"""A source node's part in a pool (docs/pool.md, ADR 0032): its custodian reads and approves the
pool's terms, the node sends its extract to the pool, and the custodian may revoke.

The terms come from the hub, signed with its key (checked against the key this node pinned at
enrolment); the custodian approves their digest, and the node sends only under the terms it
approved, only while they stand (not revoked, not expired), only to the pool whose key signs a
fresh challenge, and only the catalogue variables the terms name for this node (the extract is
made by the operator's command, which holds the linkage secret for the date shifts, and handed
here as bytes). The pool's receipt, signed with the same key, names the digest of the bytes it
holds. Every step is audited at the node and told to the hub; the persons sent are kept for
the patient data account.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import delete, insert, select, update

from fivesafes.audit.chain import append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.node.accounts import acting
from fivesafes.node.db import AUDIT, POOLS, Approval
from fivesafes.node.service import NodeService
from fivesafes.protocol.errors import BadSignature, InvalidRequest, ServiceUnavailable
from fivesafes.protocol.pool import (
    PoolChallenge,
    PoolEvent,
    PoolReceipt,
    PoolState,
    PoolTerms,
    terms_digest,
)
from fivesafes.protocol.signing import sign_request, verify
from fivesafes.storage.types import utcnow

DIGEST_HEADER = "X-Fivesafes-Terms-Digest"
SEND_TIMEOUT = 600.0


@dataclass(frozen=True)
class Terms:
    """A pool's terms as this node checked them: the hub's signature verified."""

    terms: PoolTerms
    digest: str
    state: PoolState
    sent: list[str]


class PoolUnreachable(ServiceUnavailable):
    """The pool's address does not answer."""


def terms(service: NodeService, pool_id: str) -> Terms:
    """The pool's terms from the hub, their signature checked, naming this node as a sender."""
    transport = service.transport()
    try:
        found = transport.pool_status(pool_id)
    finally:
        transport.close()
    try:
        verify(found.terms.payload, found.terms.signature, service.registration().hub_public_key)
    except (BadSignature, ValueError):
        raise InvalidRequest(
            "The pool's terms are not signed by the hub this node trusts."
        ) from None
    checked = PoolTerms.model_validate(found.terms.payload)
    if service.name not in checked.variables:
        raise InvalidRequest("The pool's terms do not name this node as one that sends.")
    return Terms(checked, terms_digest(found.terms.payload), found.state, found.sent)


def _check_standing(found: Terms, now: datetime) -> None:
    if found.state is not PoolState.REQUESTED or now >= found.terms.expires_at:
        raise InvalidRequest(f"The pool is {found.state.value}: it takes no extract now.")


def approve(service: NodeService, pool_id: str, *, by: str) -> Terms:
    """The custodian approves the terms' digest (the linked project approved here first)."""
    found = terms(service, pool_id)
    now = utcnow()
    _check_standing(found, now)
    approval = service.read(lambda s: s.get(Approval, found.terms.project_id))
    if approval is None or approval.state != "approved":
        raise InvalidRequest("This node has not approved the linked project the pool is of.")

    def record(session: Any) -> None:
        who = acting(session, by, service.name).username
        session.execute(delete(POOLS.decisions).where(POOLS.decisions.c.pool_id == pool_id))
        session.execute(insert(POOLS.decisions).values(
            pool_id=pool_id, project_id=found.terms.project_id, digest=found.digest,
            state="approved", decided_by=who, decided_at=now,
            expires_at=found.terms.expires_at, sent_at=None, persons=None,
        ))  # fmt: skip
        append_event(session, AUDIT, AuditEventType.POOL_APPROVED, by=who, node=service.name,
                     details={"pool_id": pool_id, "digest": found.digest,
                              "variables": found.terms.variables[service.name]})  # fmt: skip

    service.unit(record)
    _tell_hub(service, pool_id, PoolEvent(kind="approved", digest=found.digest))
    return found


def _decision(service: NodeService, pool_id: str) -> Any:
    D = POOLS.decisions
    return service.read(lambda s: s.execute(select(D).where(D.c.pool_id == pool_id)).first())


def send(
    service: NodeService,
    pool_id: str,
    make: Callable[[PoolTerms], tuple[bytes, list[int]]],
    *,
    by: str,
) -> dict[str, Any]:
    """Send this node's extract under the approved terms: ``make(terms)`` gives its bytes and
    the persons whose rows they hold. The pool's receipt, checked: what it says it holds."""
    found = terms(service, pool_id)
    now = utcnow()
    _check_standing(found, now)
    decision = _decision(service, pool_id)
    if decision is None or decision.state != "approved" or decision.digest != found.digest:
        raise InvalidRequest("This node's custodian has not approved these terms of the pool "
                             "(approve them with 'fivesafes node pool approve').")  # fmt: skip
    body, persons = make(found.terms)
    if not persons:
        raise InvalidRequest("This node holds no linked person of the project to send.")
    digest = hashlib.sha256(body).hexdigest()
    receipt = _post_extract(service, found, body)
    if receipt.get("digest") != digest or receipt.get("node") != service.name:
        raise InvalidRequest("The pool's receipt does not name what was sent.")

    def record(session: Any) -> None:
        who = acting(session, by, service.name).username
        D, P = POOLS.decisions, POOLS.persons
        session.execute(update(D).where(D.c.pool_id == pool_id).values(
            state="sent", sent_at=now, persons=len(persons)))  # fmt: skip
        session.execute(delete(P).where(P.c.pool_id == pool_id))
        session.execute(insert(P), [{"pool_id": pool_id, "person_id": p} for p in persons])
        append_event(session, AUDIT, AuditEventType.POOL_SENT, by=who, node=service.name,
                     details={"pool_id": pool_id, "persons": len(persons),
                              "digest": digest})  # fmt: skip

    service.unit(record)
    _tell_hub(service, pool_id, PoolEvent(kind="sent", digest=found.digest, persons=len(persons)))
    return receipt


def revoke(service: NodeService, pool_id: str, *, by: str) -> Terms:
    """The custodian withdraws: recorded and audited here, told to the hub and to the pool,
    which destroys the pooled data (at its next look at the hub if it cannot be reached now)."""
    found = terms(service, pool_id)
    decision = _decision(service, pool_id)
    if decision is None:
        raise InvalidRequest("This node never approved the pool: there is nothing to revoke.")

    def record(session: Any) -> None:
        who = acting(session, by, service.name).username
        D = POOLS.decisions
        session.execute(update(D).where(D.c.pool_id == pool_id).values(state="revoked"))
        append_event(session, AUDIT, AuditEventType.POOL_REVOKED, by=who, node=service.name,
                     details={"pool_id": pool_id, "digest": found.digest})  # fmt: skip

    service.unit(record)
    _tell_hub(service, pool_id, PoolEvent(kind="revoked", digest=found.digest))
    # if the pool cannot be told now, the hub's record stands: the pool reads it at its next look
    with contextlib.suppress(PoolUnreachable, InvalidRequest):
        _signed_to_pool(service, found, "POST", f"/pool/v1/pools/{pool_id}/revoke", b"")
    return found


def _tell_hub(service: NodeService, pool_id: str, event: PoolEvent) -> None:
    transport = service.transport()
    try:
        transport.pool_event(pool_id, event)
    finally:
        transport.close()


def _signed_to_pool(
    service: NodeService, found: Terms, method: str, path: str, body: bytes,
    headers: dict[str, str] | None = None,
) -> httpx.Response:  # fmt: skip
    signed = sign_request(service.name, service.key, method, path, body)
    signed[DIGEST_HEADER] = found.digest
    signed.update(headers or {})
    try:
        with httpx.Client(base_url=found.terms.pool_url, timeout=SEND_TIMEOUT) as client:
            response = client.request(method, path, content=body or None, headers=signed)
    except httpx.TransportError as exc:
        raise PoolUnreachable(f"Cannot reach the pool: {type(exc).__name__}.") from None
    if response.status_code >= 400:
        try:
            message = str(response.json().get("error", {}).get("message", ""))[:300]
        except ValueError:
            message = ""
        raise InvalidRequest(f"The pool refused: {message or response.status_code}")
    return response


def _post_extract(service: NodeService, found: Terms, body: bytes) -> dict[str, Any]:
    """Challenge the pool with a fresh nonce (its answer must verify with the terms' pool key),
    then send the extract and check the receipt's signature."""
    pool_id, key = found.terms.pool_id, found.terms.pool_public_key
    nonce = secrets.token_hex(16)
    try:
        with httpx.Client(base_url=found.terms.pool_url, timeout=30.0) as client:
            answer = client.get(f"/pool/v1/pools/{pool_id}/challenge", params={"nonce": nonce})
    except httpx.TransportError as exc:
        raise PoolUnreachable(f"Cannot reach the pool: {type(exc).__name__}.") from None
    try:
        challenge = PoolChallenge.model_validate(answer.json())
        if challenge.nonce != nonce or challenge.pool_id != pool_id:
            raise ValueError
        verify({"pool_id": pool_id, "nonce": nonce}, challenge.signature, key)
    except (ValueError, BadSignature):
        raise InvalidRequest("The address in the terms did not prove it holds the pool's key: "
                             "nothing was sent.") from None  # fmt: skip
    response = _signed_to_pool(
        service, found, "POST", f"/pool/v1/pools/{pool_id}/extract", body,
        {"content-type": "application/octet-stream"},
    )  # fmt: skip
    try:
        receipt = PoolReceipt.model_validate(response.json())
        verify(receipt.payload, receipt.signature, key)
    except (ValueError, BadSignature):
        raise InvalidRequest("The pool's receipt is not signed by the pool's key.") from None
    return receipt.payload


def pools_of_persons(session: Any, persons: list[int]) -> list[dict[str, Any]]:
    """The pools any of ``persons`` was sent to from this node (the patient data account):
    the pool, its project as this node approved it, when sent, until when; never a row."""
    if not persons:
        return []
    D, P = POOLS.decisions, POOLS.persons
    rows = session.execute(
        select(D).join(P, P.c.pool_id == D.c.pool_id).where(P.c.person_id.in_(persons))
    ).all()
    shown: dict[str, dict[str, Any]] = {}
    for row in rows:
        approval = session.get(Approval, row.project_id)
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
        shown[row.pool_id] = {
            "pool_id": row.pool_id,
            "project_id": row.project_id,
            "title": approval.title if approval else None,
            "sent_at": row.sent_at,
            "expires_at": expires,
            "state": row.state,
        }
    return [shown[k] for k in sorted(shown)]
