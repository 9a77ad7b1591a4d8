"""The release bundle: an approved request's files, and a manifest the service signs.

The manifest lists every file with its sha256 and size, and both checkers' votes on each file
(their last, after any consolidation, with comments); the service signs it with its Ed25519 key
(``fivesafes.protocol.signing``). A file whose bytes are not those approved cannot be
released: :func:`check_unchanged` compares every file with the hashes recorded at approval,
and :func:`bundle` refuses otherwise. The bundle is a zip: the files, ``manifest.json`` and
``manifest.sig``; :func:`verify_bundle` checks one offline.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fivesafes.airlock.files import RequestFile
from fivesafes.protocol.errors import InvalidRequest
from fivesafes.protocol.signing import canonical_json, sign, verify


class ChangedSinceApproval(InvalidRequest):
    """A file's bytes are not those the checkers approved."""

    code = "changed_since_approval"


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def check_unchanged(files: Sequence[RequestFile], approved: Mapping[str, str]) -> None:
    """Raise ``ChangedSinceApproval`` unless ``files`` are exactly the approved ones, byte
    for byte (``approved``: name -> sha256 recorded when the request was approved)."""
    current = {f.name: sha256(f.content) for f in files}
    if current.keys() != approved.keys():
        raise ChangedSinceApproval("The request's files are not the ones approved.")
    changed = sorted(name for name, digest in current.items() if approved[name] != digest)
    if changed:
        raise ChangedSinceApproval(f"Changed since approval: {', '.join(changed)}.")


@dataclass(frozen=True)
class Bundle:
    manifest: dict[str, Any]
    signature: str
    archive: bytes  # the zip the researcher downloads


def bundle(
    *,
    request_id: str,
    version: int,
    author: str,
    scope: str,
    files: Sequence[RequestFile],
    approved: Mapping[str, str],
    decisions: Sequence[Mapping[str, Any]],
    released_at: datetime,
    service: str,
    key: Ed25519PrivateKey,
) -> Bundle:
    """The signed bundle of an approved request; refuses files changed since approval."""
    check_unchanged(files, approved)
    manifest = {
        "request_id": request_id,
        "version": version,
        "author": author,
        "released_by": service,
        "scope": scope,
        "released_at": released_at.isoformat(),
        "files": [
            {
                "name": f.name,
                "type": f.type.value,
                "description": f.description,
                "sha256": sha256(f.content),
                "bytes": len(f.content),
            }
            for f in files
        ],
        "decisions": [dict(d) for d in decisions],
    }
    signature = sign(manifest, key)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for f in files:
            archive.writestr(f"files/{f.name}", f.content)
        archive.writestr("manifest.json", canonical_json(manifest).decode())
        archive.writestr("manifest.sig", signature)
    return Bundle(manifest, signature, buffer.getvalue())


def verify_bundle(archive: bytes, public_key: str) -> dict[str, Any]:
    """The manifest of a bundle whose signature and every file's hash check out; raises
    ``BadSignature`` or ``ChangedSinceApproval`` otherwise."""
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        manifest = json.loads(opened.read("manifest.json"))
        verify(manifest, opened.read("manifest.sig").decode(), public_key)
        for entry in manifest["files"]:
            if sha256(opened.read(f"files/{entry['name']}")) != entry["sha256"]:
                raise ChangedSinceApproval(f"{entry['name']} does not match the manifest.")
    return dict(manifest)
