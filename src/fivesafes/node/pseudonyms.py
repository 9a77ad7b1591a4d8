"""Pseudonyms: a person's identifier (an NHS number, a hospital number) turned, with a key that
never leaves the node, into the value the node's CDM keeps in ``person.person_source_value``.

    pseudonym = "fsp1:" + hex(HMAC-SHA256(key, "fivesafes-person-v1" NUL normalised))[:40]

The TRE's pipeline writes the same pseudonym at ingest (``fivesafes node pseudonymise``); the
patient data account maps an identifier to the node's ``person_id`` by recomputing it (ADR
0021). Normalising makes the usual ways of writing one identifier one pseudonym: Unicode NFKC,
spaces, hyphens and dots removed, upper case (``943 476 5919`` = ``943-476-5919``).

The key is 32 random bytes, hex in a file readable only by its owner (``pseudonym_key_file``).
Nothing here logs or raises with an identifier or a pseudonym.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import unicodedata
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fivesafes.protocol.errors import ConfigError, InvalidRequest, NotConfigured

log = logging.getLogger("fivesafes.node.pseudonyms")

PREFIX = "fsp1:"
KEY_BYTES = 32
_DOMAIN = b"fivesafes-person-v1\x00"
_SEPARATORS = re.compile(r"[\s\-.]+")
MAX_IDENTIFIER = 200


def normalise(identifier: str) -> str:
    """One spelling per identifier; ``InvalidRequest`` (never quoting it) if nothing is left."""
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", identifier)).upper()
    if not text or len(text) > MAX_IDENTIFIER or not text.isprintable():
        raise InvalidRequest("An identifier must be 1 to 200 printable characters.")
    return text


def pseudonym(identifier: str, key: bytes) -> str:
    """The pseudonym of ``identifier`` under this node's key (45 characters: fits the CDM's
    ``person_source_value``, varchar(50))."""
    digest = hmac.new(key, _DOMAIN + normalise(identifier).encode(), hashlib.sha256)
    return PREFIX + digest.hexdigest()[:40]


def create_key(path: Path) -> None:
    """Write a new random key to ``path`` (mode 600); refuse to overwrite one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise ConfigError(f"{path} already exists; refusing to overwrite a pseudonym key.") from exc
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(KEY_BYTES) + "\n")


def load_key(path: Path) -> bytes:
    """The node's pseudonym key; ``NotConfigured`` in words if there is none or it is not a
    key (the message is shown in the portal: it never names the file's path, which the node's
    log does, for its operator)."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        log.warning("no pseudonym key at %s (pseudonym_key_file)", path)
        raise NotConfigured(
            "This node has no pseudonym key, so it cannot look a person up by identifier "
            "(a person_id still works): its operator creates one with 'fivesafes node "
            "pseudonym-key' and gives the same key to the pipeline that writes "
            "person_source_value."
        ) from None
    except OSError:
        log.warning("cannot read the pseudonym key at %s", path)
        raise NotConfigured("This node cannot read its pseudonym key; ask its operator.") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < KEY_BYTES:
        log.warning("the pseudonym key at %s is not %d bytes of hex", path, KEY_BYTES)
        raise NotConfigured("This node's pseudonym key is not valid; ask its operator.")
    return key


def lookup_tag(node_key: Ed25519PrivateKey, person: str) -> str:
    """What the audit log keeps of whose account was looked up: a keyed hash of the person
    (``person:<id>`` or ``pseudonym:<p>``), with a key derived from the node's signing key. The
    node's operator can tell whether one person's account was looked up, and by whom; nobody
    without the node's key can tell whose it was."""
    raw = node_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    audit_key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"fivesafes account lookup v1"
    ).derive(raw)
    return hmac.new(audit_key, person.encode(), hashlib.sha256).hexdigest()[:32]
