"""A project's keys for de-identification: the one secret from which every replacement value
of a project's extract is computed, so the same input gives the same output within the
project and nothing links two projects' extracts.

    secret          = HMAC-SHA256(node secret, "fivesafes-deid-project-v1" NUL project)
    uid(u)          = "2.25." + decimal(UUIDv8 bits of HMAC-SHA256(secret, "uid" NUL u)[:16])
    patient_id(p)   = "FS" + hex(HMAC-SHA256(secret, "patient" NUL normal(p)))[:20], upper case
    date_shift(p)   = -(1 + (first 8 bytes of HMAC-SHA256(secret, "date-shift" NUL normal(p)),
                        big-endian) mod 3650) days

Every value is a keyed hash: without the node's secret nobody can go back to the original or
tell whether two projects hold the same person or study. The UID is a UUID-derived UID (PS3.5
B.2): 128 bits shaped as an RFC 9562 version 8 UUID, its integer in decimal after ``2.25.``,
at most 44 characters (a UI value may have 64). The pseudonym is 22 characters, well within
Patient ID's LO and Patient's Name's PN. The date shift moves each person's dates back by 1 to
3650 days, never 0, the same for all of that person's files in the project.

A Patient ID is first written one way (:func:`normal`): Unicode NFKC, spaces, hyphens and dots
removed, upper case, as the node's pseudonyms do (``fivesafes.node.pseudonyms``), so
``SYN-00000042`` and ``syn 00000042`` are one person. :func:`shift_dates` applies a shift to a
DA or DT value. Nothing here logs or raises with a value.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from fivesafes.protocol.errors import ConfigError

SECRET_BYTES = 32
MAX_SHIFT_DAYS = 3650
_DOMAIN = b"fivesafes-deid-project-v1\x00"
_SEPARATORS = re.compile(r"[\s\-.]+")


def normal(identifier: str) -> str:
    """One spelling per Patient ID (see the module's notes)."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", identifier)).upper()


@dataclass(frozen=True)
class ProjectKeys:
    """The keys of one project at one node; build with :meth:`derive`."""

    project: str
    secret: bytes  # 32 bytes, per node and project

    def __post_init__(self) -> None:
        if len(self.secret) != SECRET_BYTES:
            raise ConfigError("A project's de-identification secret must be 32 bytes.")

    def __repr__(self) -> str:  # never the secret
        return f"ProjectKeys(project={self.project!r})"

    @classmethod
    def derive(cls, node_secret: bytes, project: str) -> ProjectKeys:
        """The keys of ``project`` from the node's secret (at least 32 bytes, never leaving the
        node): one HMAC with a label of its own, so no other use of the node's secret gives
        the same bytes."""
        if len(node_secret) < SECRET_BYTES:
            raise ConfigError("The node's de-identification secret must be at least 32 bytes.")
        if not project:
            raise ConfigError("A project must be named to derive its de-identification keys.")
        digest = hmac.new(node_secret, _DOMAIN + project.encode("utf-8"), hashlib.sha256)
        return cls(project=project, secret=digest.digest())

    def _mac(self, label: bytes, value: str) -> bytes:
        message = label + b"\x00" + value.encode("utf-8")
        return hmac.new(self.secret, message, hashlib.sha256).digest()

    def uid(self, original: str) -> str:
        """The project's UID for ``original``: the same within the project, unlinkable across
        projects, at most 44 characters."""
        number = int.from_bytes(self._mac(b"uid", original)[:16], "big")
        number = (number & ~(0xF << 76)) | (0x8 << 76)  # version 8
        number = (number & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
        return f"2.25.{number}"

    def patient_id(self, original_patient_id: str) -> str:
        """The project's pseudonym for a person, from their Patient ID as written anywhere."""
        digest = self._mac(b"patient", normal(original_patient_id))
        return "FS" + digest.hex()[:20].upper()

    def date_shift_days(self, original_patient_id: str) -> int:
        """Days added to each of the person's dates: -1 to -3650, never 0."""
        digest = self._mac(b"date-shift", normal(original_patient_id))
        return -(1 + int.from_bytes(digest[:8], "big") % MAX_SHIFT_DAYS)


def shift_dates(value: str | Sequence[str], vr: str, days: int) -> str | list[str] | None:
    """Each date of a DA or DT ``value`` (one, or several) moved by ``days``, the rest of a DT
    (its time and offset) kept; None if a date cannot be read."""
    values = [value] if isinstance(value, str) else list(value)
    moved = [_shift(str(v).strip(), vr, days) for v in values]
    found = [m for m in moved if m is not None]
    if len(found) < len(moved):
        return None
    return found[0] if isinstance(value, str) else found


def _shift(text: str, vr: str, days: int) -> str | None:
    """One DA (YYYYMMDD, or the old YYYY.MM.DD) or DT (YYYY[MM[DD[rest]]]). A DT of year or
    month precision moves its first day and keeps its precision."""
    head = text.replace(".", "") if vr == "DA" else text[:8]
    digits = len(head) if head.isdigit() else 0
    if vr == "DA" and digits != 8:
        return None
    if digits not in (4, 6, 8) or (digits < 8 and len(text) > digits):
        return None
    try:
        day = date(int(head[:4]), int(head[4:6] or 1), int(head[6:8] or 1))
        moved = day + timedelta(days=days)
    except (ValueError, OverflowError):
        return None
    written = f"{moved.year:04d}{moved.month:02d}{moved.day:02d}"
    return written[:digits] + (text[8:] if vr == "DT" else "")
