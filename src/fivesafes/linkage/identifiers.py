"""Direct identifiers as a hospital's systems write them, checked and written one way.

Each field is checked before it is kept, and what fails is said by field and reason only (the
value is patient data: never in a message):

- **NHS number**: ten digits (spaces or hyphens between them allowed, as printed), the tenth
  the modulus-11 check digit of the first nine (weights 10 down to 2; a remainder giving 10 is
  no valid number). Missing is allowed: a record without one is linked on its other fields.
- **date of birth**: an ISO date (``YYYY-MM-DD``), not before 1880 and not in the future.
- **names**: letters once accents are taken off, upper case, without spaces, hyphens or
  apostrophes (``O'Brien-Smith`` -> ``OBRIENSMITH``): the same name written two ways is one.
- **postcode**: the UK format (outward code: an area of one or two letters, a district of a
  digit and optionally a digit or letter; inward code: a digit and two letters), written
  ``OUTWARD INWARD`` in upper case. Missing is allowed.
- **sex**: ``F``, ``M`` or ``U`` (female, male, unknown; as the CDM's gender or a PAS writes).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

MAX_FIELD = 200  # characters in any one field as read
POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$")
SEXES = {"f": "F", "female": "F", "m": "M", "male": "M", "u": "U", "unknown": "U", "": "U"}
EARLIEST_BIRTH = date(1880, 1, 1)
NHS_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


class IdentifierError(ValueError):
    """A field that is not what it must be: ``field`` and ``reason`` in words, no value."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def nhs_check_digit(first_nine: str) -> int | None:
    """The modulus-11 check digit of nine digits; None where there is none (remainder 10)."""
    total = sum(int(d) * w for d, w in zip(first_nine, NHS_WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    return None if check == 10 else check


def nhs_number(text: str) -> str | None:
    """Ten digits with a valid check digit, or None for an empty field."""
    digits = re.sub(r"[\s\-]", "", text)
    if not digits:
        return None
    if not digits.isascii() or not digits.isdigit() or len(digits) != 10:
        raise IdentifierError("nhs_number", "is not ten digits")
    if nhs_check_digit(digits[:9]) != int(digits[9]):
        raise IdentifierError("nhs_number", "fails the modulus-11 check")
    return digits


def name(text: str, field: str) -> str:
    """Letters only, upper case, accents taken off; at least one letter."""
    plain = unicodedata.normalize("NFKD", text)
    letters = "".join(c for c in plain if c.isascii() and c.isalpha()).upper()
    if not letters:
        raise IdentifierError(field, "has no letters")
    return letters


def birth_date(text: str, today: date) -> date:
    try:
        born = date.fromisoformat(text.strip())
    except ValueError:
        raise IdentifierError("date_of_birth", "is not a date written YYYY-MM-DD") from None
    if not EARLIEST_BIRTH <= born <= today:
        raise IdentifierError("date_of_birth", "is in the future or before 1880")
    return born


def postcode(text: str) -> str | None:
    """``OUTWARD INWARD`` in upper case, or None for an empty field."""
    squeezed = re.sub(r"\s", "", text).upper()
    if not squeezed:
        return None
    found = POSTCODE.match(squeezed)
    if found is None:
        raise IdentifierError("postcode", "is not a UK postcode")
    return f"{found.group(1)} {found.group(2)}"


def sex(text: str) -> str:
    code = SEXES.get(text.strip().lower())
    if code is None:
        raise IdentifierError("sex", "is not female, male or unknown")
    return code


@dataclass(frozen=True)
class Identity:
    """One person's identifiers at a node, checked and normalised."""

    person_id: int
    nhs_number: str | None
    given_name: str
    family_name: str
    date_of_birth: date
    sex: str
    postcode: str | None


FIELDS = ("person_id", "nhs_number", "given_name", "family_name", "date_of_birth", "sex",
          "postcode")  # fmt: skip


def identity(row: dict[str, str], today: date) -> Identity:
    """A row as read from a file (every field a string) -> the person's identity, or
    :class:`IdentifierError` for the first field that fails."""
    for field in FIELDS:
        if len(row.get(field) or "") > MAX_FIELD:
            raise IdentifierError(field, f"is longer than {MAX_FIELD} characters")
    raw_id = (row.get("person_id") or "").strip()
    if not raw_id.isascii() or not raw_id.isdigit() or len(raw_id) > 18:
        raise IdentifierError("person_id", "is not a whole number (the CDM's person_id)")
    return Identity(
        person_id=int(raw_id),
        nhs_number=nhs_number(row.get("nhs_number") or ""),
        given_name=name(row.get("given_name") or "", "given_name"),
        family_name=name(row.get("family_name") or "", "family_name"),
        date_of_birth=birth_date(row.get("date_of_birth") or "", today),
        sex=sex(row.get("sex") or ""),
        postcode=postcode(row.get("postcode") or ""),
    )
