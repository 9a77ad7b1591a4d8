"""Password hashes: Argon2id with argon2-cffi's defaults (RFC 9106's second recommended
profile), re-hashed on login when the parameters move on."""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()


@dataclass(frozen=True)
class Checked:
    ok: bool
    rehash: bool = False


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> Checked:
    if stored is None:
        _spend_the_same_time(password)
        return Checked(False)
    try:
        _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return Checked(False)
    return Checked(True, _HASHER.check_needs_rehash(stored))


@functools.cache
def _dummy() -> str:
    """Verified against when the account does not exist, so an unknown username costs the same
    time. Hashed on first use, not at import: one Argon2id hash (about 0.2 s) that a command
    never checking a password (``fivesafes --help``) need not pay."""
    return _HASHER.hash("not a password of anyone's")


def _spend_the_same_time(password: str) -> None:
    with contextlib.suppress(VerificationError):
        _HASHER.verify(_dummy(), password)
