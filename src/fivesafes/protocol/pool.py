"""The wire contract of a pool (issue 18, part 4; docs/pool.md, ADR 0032): a separate secure
environment where the linked persons' minimised, de-identified rows from several nodes are
brought together for a time, approved by each node's custodian.

- **Terms** (:class:`PoolTerms`), made and signed by the hub when a project's member asks for a
  pool: which nodes send which catalogue variables of the project's linked persons, to which
  pool (its node name, address and public key), for what purpose, until when. Each custodian
  approves the terms' digest (``terms_digest``) at their node; a node sends only under terms it
  approved, to the pool whose key signs a fresh challenge (:class:`PoolChallenge`).
- **Extracts** go from each node to the pool (the node calls out; nodes never listen): the
  bytes of ``fivesafes.pool.wire``, over a request signed with the node's key. The pool answers
  with a :class:`PoolReceipt` signed with its key.
- **Events** a node (or the pool) tells the hub (:class:`PoolEvent`): approved, sent, revoked;
  the pool's ready and destroyed (with its signed :class:`DestructionCertificate`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from fivesafes.protocol.models import Identifier, Name, Strict, Username
from fivesafes.protocol.signing import canonical_json

PoolId = Annotated[str, StringConstraints(pattern=r"^pl_[0-9a-f]{12}$")]
Digest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
VariableName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
PublicKey = Annotated[str, StringConstraints(max_length=200)]
Url = Annotated[str, StringConstraints(pattern=r"^https?://[^\s]{1,500}$")]
MAX_POOL_NODES = 8


class PoolState(StrEnum):
    REQUESTED = "requested"  # waiting for the custodians' approvals and extracts
    READY = "ready"  # every extract merged at the pool: analyses may run there
    REVOKED = "revoked"  # a custodian withdrew: the pool destroys its data
    EXPIRED = "expired"  # its time passed: the pool destroys its data
    DESTROYED = "destroyed"  # the pool's certificate of destruction is at the hub


class PoolTerms(Strict):
    """What the hub signs and every custodian approves (by its digest)."""

    pool_id: PoolId
    project_id: Identifier  # the linked project whose link ids key the rows
    pool_project_id: Identifier  # the project analyses run in, at the pool only
    pool_node: Name
    pool_url: Url
    pool_public_key: PublicKey
    variables: Annotated[
        dict[Name, Annotated[list[VariableName], Field(min_length=1, max_length=12)]],
        Field(min_length=2, max_length=MAX_POOL_NODES),
    ]  # node -> the catalogue variables it sends
    node_keys: Annotated[dict[Name, PublicKey], Field(max_length=MAX_POOL_NODES)]
    purpose: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    requested_by: Username
    created_at: datetime
    expires_at: datetime

    @model_validator(mode="after")
    def _keys_for_the_nodes(self) -> PoolTerms:
        if set(self.node_keys) != set(self.variables):
            raise ValueError("the terms name a key for each node that sends, and no other")
        if self.pool_node in self.variables:
            raise ValueError("the pool is not one of the nodes that send to it")
        return self


def terms_digest(payload: dict[str, Any]) -> str:
    """The digest custodians approve: SHA-256 of the terms' canonical JSON."""
    return hashlib.sha256(canonical_json(payload)).hexdigest()


class SignedPoolTerms(Strict):
    payload: dict[str, Any]
    signature: str


class PoolStatus(Strict):
    """The pool as the hub tells a node of it, or the pool itself."""

    terms: SignedPoolTerms
    state: PoolState
    sent: list[Name] = []  # the nodes whose extract the pool has received


class PoolChallenge(Strict):
    """The pool's answer to a node's fresh nonce: proof it holds the terms' key."""

    pool_id: PoolId
    nonce: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
    signature: str  # over {"pool_id", "nonce"}


class PoolReceipt(Strict):
    """The pool's word that it holds a node's extract: its digest and persons, signed."""

    payload: dict[str, Any]  # {"pool_id", "node", "digest", "persons", "received_at"}
    signature: str


class DestructionCertificate(Strict):
    """What the pool signs when it has deleted a pool's data: why, when, and what it deleted
    (each file's name, size and SHA-256 before deletion), counts only."""

    pool_id: PoolId
    project_id: Identifier
    pool_project_id: Identifier
    pool_node: Name
    reason: Literal["expired", "revoked"]
    revoked_by: Name | None = None  # the node whose custodian revoked
    destroyed_at: datetime
    files: Annotated[list[dict[str, Any]], Field(max_length=1000)]
    persons: Annotated[int, Field(ge=0)]
    statement: Annotated[str, StringConstraints(max_length=2000)]


class SignedCertificate(Strict):
    payload: dict[str, Any]
    signature: str  # the pool's key


class PoolEvent(Strict):
    """A node (or the pool) tells the hub what it did under the terms of ``digest``."""

    kind: Literal["approved", "sent", "revoked", "ready", "destroyed"]
    digest: Digest
    persons: Annotated[int, Field(ge=0)] | None = None
    certificate: SignedCertificate | None = None
