"""The wire contract of linkage between a node and the hub's linkage unit (issue 18,
docs/linkage.md): what a node pushes (its records' tokens and hardened Bloom-filter encodings
under a random reference each, in chunks) and what it fetches back (its own references' link
ids). No identifier, no person id, no key: a token is 64 hex digits, an encoding its 1,024 bits
in base64 (172 characters), a reference 16 hex digits, a link id ``lk_`` and 16."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

MAX_CHUNK_RECORDS = 20_000
Hex16 = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
Token = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Kind = Annotated[str, Field(pattern=r"^[a-z][a-z_]{0,31}$")]
LinkId = Annotated[str, Field(pattern=r"^lk_[0-9a-f]{16}$")]
ENCODING_BYTES = 128  # 1,024 bits (``linkage.encodings.BITS``)
Encoding = Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]{170}[AEIMQUYcgkosw048]=$")]
"""128 bytes in base64, written one way only (the last character's unused bits zero)."""


class TokenRecord(BaseModel):
    """One record of a node: its tokens, and its hardened encoding (None: not sent, so the
    record is linked by its tokens only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ref: Hex16
    tokens: Annotated[dict[Kind, Token], Field(max_length=8)]
    encoding: Encoding | None = None


class TokenChunk(BaseModel):
    """Some of a node's records for a project's linkage; ``final`` on the last chunk of the
    run. A chunk of another run starts the node's upload afresh."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    run: Hex16
    fingerprint: Hex16  # of the project's key: every node's must be the same
    records: Annotated[list[TokenRecord], Field(max_length=MAX_CHUNK_RECORDS)]
    final: bool = False


class UploadState(BaseModel):
    run: str
    records: int
    state: str  # receiving | complete | refused | linking | failed | linked | delivered
    waiting_for: list[str] = []  # nodes whose upload is not complete yet
    note: str = ""  # why a linkage was refused, in words


class LinkedRecord(BaseModel):
    ref: Hex16
    link_id: LinkId


class LinkMapping(BaseModel):
    """A node's own records that were linked, and their link ids (nothing of other nodes')."""

    run: Hex16
    links: list[LinkedRecord]
