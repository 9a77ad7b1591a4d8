"""Linkage tokens: keyed hashes of normalised identifiers, under a key for one project.

Every node of a federation that links holds the same **linkage secret** (32 random bytes in a
file of mode 600, made at one node and carried to the others by their custodians: the key
ceremony, docs/linkage.md); the hub never holds it. For a project, each node derives the
project's key from it (HKDF-SHA256, the project's id as the context), so the same person has
the same tokens at every node of that project, other tokens in every other project, and no
token can be computed, or reversed by trying identifiers, without the secret.

A person's tokens (HMAC-SHA256 under the project's key, of the fields joined with a separator
no field can hold, each kind named inside the hashed text):

- ``nhs_dob``: NHS number and date of birth (the primary token): finds a person whatever
  their names or address;
- ``names_dob``: both names in alphabetical order and date of birth: without an NHS number,
  and with the names swapped;
- ``family_dob_postcode``: family name, date of birth, postcode: despite a given name's typo;
- ``given_dob_postcode``: given name, date of birth, postcode: despite a new family name;
- ``initial_family_dob_sex``: the given name's initial, family name, date of birth and sex:
  despite a nickname or a typo after the initial.

A token that needs a field the record lacks (no NHS number, no postcode) is not made. The key
is identified by a *fingerprint* (an HMAC of a constant under it): nodes that derived the same
key show the same fingerprint, so a linkage run can check that every node used the same secret
(and the same version of it, after a rotation) without anyone learning the key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fivesafes.linkage.identifiers import Identity

SECRET_BYTES = 32
SALT = b"fivesafes linkage tokens v1"
SEPARATOR = "\x1f"  # the unit separator: never in a normalised field


class SecretError(ValueError):
    """The linkage secret is missing or not what it must be, in words."""


def make_secret(path: Path) -> None:
    """A new linkage secret at ``path`` (mode 600); refused if one is there already."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        raise SecretError("A linkage secret is there already: it is never overwritten.") from None
    with os.fdopen(handle, "wb") as out:
        out.write(secrets.token_bytes(SECRET_BYTES).hex().encode() + b"\n")


def read_secret(path: Path) -> bytes:
    """The secret in ``path``: 64 hex digits (a line), readable by its owner only."""
    try:
        if path.stat().st_mode & 0o077:
            raise SecretError("The linkage secret's file must be readable by its owner only "
                              "(chmod 600).")  # fmt: skip
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        raise SecretError("There is no readable linkage secret at this node.") from None
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) != SECRET_BYTES:
        raise SecretError("The linkage secret's file does not hold 64 hex digits.")
    return secret


def project_key(secret: bytes, project_id: str) -> bytes:
    """The project's token key: HKDF-SHA256 of the secret, the project's id as context."""
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=SALT,
               info=b"project:" + project_id.encode())  # fmt: skip
    return kdf.derive(secret)


def fingerprint(key: bytes) -> str:
    """What names the key without revealing it (16 hex digits)."""
    return hmac.new(key, b"fivesafes linkage key fingerprint", hashlib.sha256).hexdigest()[:16]


def blinding(key: bytes, link_id: str) -> str:
    """A linked person's blinding key in the project (64 hex digits): an HMAC of their link id
    under the project's key. Every node of the project makes the same one for the same link id;
    the hub, which drew the link ids but never holds the secret, cannot. A linked count blinds
    each task's sets with it (``fivesafes.analyses.linked_count``)."""
    blind = hmac.new(key, b"fivesafes linked count", hashlib.sha256).digest()
    return hmac.new(blind, link_id.encode(), hashlib.sha256).hexdigest()


SHIFT_DAYS = 182


def date_shift(key: bytes, link_id: str) -> int:
    """A linked person's date shift in the project's pools, in days (-182..182): an HMAC of
    their link id under the project's key, so that every node shifts the same person's dates by
    the same days (intervals between records made at different nodes hold) and no one without
    the secret can undo it."""
    mac = hmac.new(key, b"fivesafes pool date shift:" + link_id.encode(), hashlib.sha256)
    return int.from_bytes(mac.digest()[:8], "big") % (2 * SHIFT_DAYS + 1) - SHIFT_DAYS


def _parts(person: Identity) -> dict[str, tuple[str, ...] | None]:
    """Each kind's fields; None where one is missing (a store's record always has both names;
    another source's, as FEBRL's, may not)."""
    born = person.date_of_birth.isoformat()
    given, family = person.given_name, person.family_name
    postcode = person.postcode.replace(" ", "") if person.postcode else None
    return {
        "nhs_dob": (person.nhs_number, born) if person.nhs_number else None,
        "names_dob": (*sorted((given, family)), born) if given and family else None,
        "family_dob_postcode": (family, born, postcode) if family and postcode else None,
        "given_dob_postcode": (given, born, postcode) if given and postcode else None,
        "initial_family_dob_sex": (given[0], family, born, person.sex)
        if given and family
        else None,
    }


def tokens(person: Identity, key: bytes) -> dict[str, str]:
    """The person's tokens under ``key`` (64 hex digits each), by kind."""
    made = {}
    for kind, parts in _parts(person).items():
        if parts is None:
            continue
        text = SEPARATOR.join((kind, *parts)).encode()
        made[kind] = hmac.new(key, text, hashlib.sha256).hexdigest()
    return made
