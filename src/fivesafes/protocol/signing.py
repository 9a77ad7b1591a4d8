"""Ed25519 keys, canonical JSON and signatures for tasks, results and node requests.

A signature covers the canonical JSON of a payload (sorted keys, no spaces, UTF-8), so the same
object signs to the same bytes in every process. Node requests to the hub are signed over the
method, path, a timestamp and the SHA-256 of the body.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fivesafes.protocol.errors import BadSignature, ConfigError

SIGNATURE_HEADER = "X-Fivesafes-Signature"
NODE_HEADER = "X-Fivesafes-Node"
TIMESTAMP_HEADER = "X-Fivesafes-Timestamp"
MAX_CLOCK_SKEW_SECONDS = 300


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise BadSignature("A key or signature is not valid base64.") from exc


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def save_private_key(key: Ed25519PrivateKey, path: Path) -> None:
    """Write a PEM private key readable only by its owner; refuse to overwrite."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"Cannot read the private key at {path}.") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"The key at {path} is not an Ed25519 key.")
    return key


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The raw 32-byte public key in base64: how keys travel in configs and on the wire."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return b64(raw)


def parse_public_key(text: str) -> Ed25519PublicKey:
    raw = unb64(text)
    if len(raw) != 32:
        raise BadSignature("A public key must be 32 bytes of Ed25519.")
    return Ed25519PublicKey.from_public_bytes(raw)


def fingerprint(public_key: str) -> str:
    """A short, human-comparable fingerprint of a public key (SHA-256, 16 bytes, grouped)."""
    digest = hashlib.sha256(unb64(public_key)).hexdigest()[:32]
    return ":".join(digest[i : i + 4] for i in range(0, 32, 4))


def sign(payload: Any, key: Ed25519PrivateKey) -> str:
    return b64(key.sign(canonical_json(payload)))


def verify(payload: Any, signature: str, public_key: str | Ed25519PublicKey) -> None:
    """Raise BadSignature unless ``signature`` is ``public_key``'s signature of ``payload``."""
    public = parse_public_key(public_key) if isinstance(public_key, str) else public_key
    try:
        public.verify(unb64(signature), canonical_json(payload))
    except InvalidSignature as exc:
        raise BadSignature("The signature does not match.") from exc


def request_message(method: str, path: str, timestamp: str, body: bytes) -> bytes:
    body_hash = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path}\n{timestamp}\n{body_hash}".encode()


def sign_request(
    node_name: str, key: Ed25519PrivateKey, method: str, path: str, body: bytes
) -> dict[str, str]:
    """Headers that authenticate a node's request to the hub."""
    timestamp = str(int(time.time()))
    signature = b64(key.sign(request_message(method, path, timestamp, body)))
    return {NODE_HEADER: node_name, TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature}


def verify_request(
    public_key: str, method: str, path: str, timestamp: str, body: bytes, signature: str
) -> None:
    try:
        sent_at = int(timestamp)
    except ValueError as exc:
        raise BadSignature("The request timestamp is not an integer.") from exc
    if abs(time.time() - sent_at) > MAX_CLOCK_SKEW_SECONDS:
        raise BadSignature("The request timestamp is outside the allowed clock skew.")
    try:
        parse_public_key(public_key).verify(
            unb64(signature), request_message(method, path, timestamp, body)
        )
    except InvalidSignature as exc:
        raise BadSignature("The request signature does not match.") from exc
