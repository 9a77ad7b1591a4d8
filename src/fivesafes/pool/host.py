"""What the pool service needs of the node it runs as (ports, injected), and the hub's word on
a pool, checked.

A pool is a node of the federation (ADR 0032): it is enrolled at the hub, holds its own key,
state database and audit chain, and runs analyses through the ordinary node agent. The pool's
own side (``receiver``, ``intake``, ``destruction``) reaches all of that through
:class:`PoolHost`, so it imports nothing of ``fivesafes.node`` and is tested with a fake; the
concrete host is ``fivesafes.node.pool_host``.

The hub's status of a pool is believed only once its terms verify under the hub's key that the
pool pinned at enrolment, name this pool (``pool_node``) and this pool's own public key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from fivesafes.audit.events import AuditEventType
from fivesafes.pool.settings import PoolSettings
from fivesafes.protocol.errors import (
    BadSignature,
    Conflict,
    NotFoundOrNoPermission,
    ServiceUnavailable,
)
from fivesafes.protocol.pool import (
    PoolEvent,
    PoolState,
    PoolStatus,
    PoolTerms,
    SignedPoolTerms,
    terms_digest,
)
from fivesafes.protocol.signing import public_key_text, verify


class PoolHost(Protocol):
    """The node the pool service runs as."""

    @property
    def name(self) -> str:
        """The pool's node name (the terms' ``pool_node``)."""
        ...

    @property
    def key(self) -> Ed25519PrivateKey:
        """The pool's private key: it signs challenges, receipts and certificates."""
        ...

    @property
    def settings(self) -> PoolSettings: ...

    @property
    def data_path(self) -> Path:
        """The pool's data source, the DuckDB file the merge writes and analyses read."""
        ...

    def hub_public_key(self) -> str:
        """The hub's key, pinned at enrolment."""
        ...

    def pool_status(self, pool_id: str) -> PoolStatus:
        """The hub's status of the pool, unchecked; ``NotFoundOrNoPermission`` if the hub has
        none for this node, ``ServiceUnavailable`` if the hub cannot be asked."""
        ...

    def tell_hub(self, pool_id: str, event: PoolEvent) -> PoolStatus:
        """Tell the hub what the pool did; a ``FivesafesError`` if it was not told."""
        ...

    def audit(
        self, event: AuditEventType, *, by: str, project_id: str, details: dict[str, Any]
    ) -> None:
        """Append an event (counts only) to the pool's audit chain."""
        ...

    def forget_released_sets(self, project_id: str) -> int:
        """Delete the project's released person sets (the differencing store holds pooled
        persons' ids); the number of sets deleted."""
        ...

    def close_project(self, project_id: str) -> None:
        """Revoke the pool's own approval of its pool project, so that its agent runs no task
        of it again (whatever handle a worker still holds on the deleted data file)."""
        ...


@dataclass(frozen=True)
class HubWord:
    """The hub's status of a pool, its terms verified."""

    signed: SignedPoolTerms
    terms: PoolTerms
    digest: str  # terms_digest(signed.payload)
    state: PoolState
    sent: tuple[str, ...]


def check_terms(
    signed: SignedPoolTerms, *, hub_key: str, pool_id: str, pool_name: str, pool_key: str
) -> PoolTerms:
    """The terms in ``signed``, once their signature verifies under ``hub_key`` and they are
    this pool's; otherwise a refusal in words."""
    try:
        verify(signed.payload, signed.signature, hub_key)
    except BadSignature:
        raise ServiceUnavailable(
            "The hub's signature on the pool's terms does not verify: the pool takes nothing "
            "under them."
        ) from None
    try:
        terms = PoolTerms.model_validate(signed.payload)
    except ValidationError:
        raise ServiceUnavailable("The hub's terms of this pool are not valid.") from None
    if terms.pool_id != pool_id or terms.pool_node != pool_name:
        raise NotFoundOrNoPermission("pool")
    if terms.pool_public_key != pool_key:
        raise Conflict("The pool's terms name another key than this pool's own.")
    return terms


def hub_word(host: PoolHost, pool_id: str) -> HubWord:
    """Ask the hub for the pool and check what it says (:func:`check_terms`)."""
    status = host.pool_status(pool_id)
    terms = check_terms(
        status.terms,
        hub_key=host.hub_public_key(),
        pool_id=pool_id,
        pool_name=host.name,
        pool_key=public_key_text(host.key),
    )
    digest = terms_digest(status.terms.payload)
    return HubWord(status.terms, terms, digest, status.state, tuple(status.sent))
