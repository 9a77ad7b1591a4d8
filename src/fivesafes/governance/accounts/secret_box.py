"""Secrets at rest (TOTP seeds): AES-256-GCM with the service's accounts key (ADR 0016).

The key is 32 random bytes in its own file (``[accounts] secret_key_file``, mode 600), made by
``init`` or at first need. Each value is bound to what it belongs to (associated data, e.g.
``totp:<user id>``), so a secret copied to another account's row does not decrypt.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fivesafes.protocol.errors import ConfigError

PREFIX = "v1:"
KEY_BYTES = 32


class SecretUnreadable(Exception):
    """A stored secret does not decrypt with this key (another key, or edited)."""


def create_key_file(path: Path) -> None:
    """Write a new key; refuse to overwrite one (every secret it protects would be lost)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode() + "\n")


class SecretBox:
    """Encrypts and decrypts with the key in ``path``; reads it at first use (no I/O in the
    constructor) and creates it then if it does not exist yet."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._aead: AESGCM | None = None

    def _key(self) -> AESGCM:
        if self._aead is None:
            if not self.path.exists():
                with contextlib.suppress(FileExistsError):  # another process made it just now
                    create_key_file(self.path)
            try:
                key = base64.b64decode(self.path.read_text().strip(), validate=True)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"Cannot read the accounts key at {self.path}.") from exc
            if len(key) != KEY_BYTES:
                raise ConfigError(f"The accounts key at {self.path} is not a 256-bit key.")
            self._aead = AESGCM(key)
        return self._aead

    def seal(self, plaintext: str, bound_to: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._key().encrypt(nonce, plaintext.encode(), bound_to.encode())
        return PREFIX + base64.b64encode(nonce + sealed).decode()

    def open(self, stored: str, bound_to: str) -> str:
        if not stored.startswith(PREFIX):
            raise SecretUnreadable("unknown format")
        try:
            raw = base64.b64decode(stored[len(PREFIX) :], validate=True)
            plain = self._key().decrypt(raw[:12], raw[12:], bound_to.encode())
        except (ValueError, InvalidTag) as exc:
            raise SecretUnreadable(type(exc).__name__) from None
        return plain.decode()
