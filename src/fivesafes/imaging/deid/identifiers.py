"""The person's own identifiers, read from the original header, as detectors for verification
(:mod:`fivesafes.imaging.deid.verify`): what the person's header says about them (names,
identifiers, birth date, address, telephone numbers) found again in a de-identified file's text.

Names, identifiers, the birth date and the address are :class:`~.patterns.Phrases`, compared
word by word (see :mod:`.patterns`): a name component must stand as a whole word of at least
:data:`MIN_NAME` letters, an identifier have at least :data:`MIN_ID` letters and digits, the
birth date is looked for in every form of :func:`~.patterns.date_forms`. Telephone numbers are
compared by their digits alone, in their national (0…) and international (44…) forms.

A value that cannot be read from the original header is not looked for but named in
:attr:`PersonIdentifiers.unreadable`, so that verification fails closed at that element.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from fivesafes.imaging.deid.patterns import Phrases, date_forms, digits_of, parse_da, words

NAMES = (
    "PatientName",
    "OtherPatientNames",
    "PatientBirthName",
    "PatientMotherBirthName",
    "ResponsiblePerson",
)
IDS = (
    "PatientID",
    "OtherPatientIDs",
    "AccessionNumber",
    "AdmissionID",
    "MedicalRecordLocator",
)
ID_SEQUENCES = {
    "OtherPatientIDsSequence": ("PatientID",),
    "RequestAttributesSequence": ("AccessionNumber", "RequestedProcedureID"),
    "ReferencedRequestSequence": ("AccessionNumber", "RequestedProcedureID"),
}
TELEPHONES = ("PatientTelephoneNumbers", "PatientTelecomInformation")
MIN_NAME = 3  # letters: shorter name components (initials, "LI", "NG") are not looked for
MIN_ID = 4  # letters and digits: shorter identifiers would be found in any text
MIN_PHONE = 6  # digits
_ALNUM = re.compile(r"[^\W_]+")
_APOSTROPHES = re.compile("['\u2019`]")
_ADDRESS_PARTS = re.compile(r"[,;^\\\r\n]+")


@dataclass(frozen=True)
class PersonIdentifiers:
    """What the person's own header says about them, as detectors: names, identifiers,
    address and birth date as :class:`Phrases`, telephone numbers as their digits."""

    phrases: Phrases = field(default_factory=Phrases)
    phones: tuple[str, ...] = ()
    unreadable: tuple[str, ...] = ()  # keywords whose value could not be read: not looked for

    def merged(self, other: PersonIdentifiers) -> PersonIdentifiers:
        """What both say about the person (``other``: another header of theirs)."""
        return PersonIdentifiers(
            Phrases(
                self.phrases.single | other.phrases.single,
                tuple(sorted({*self.phrases.multi, *other.phrases.multi})),
                self.phrases.starts | other.phrases.starts,
            ),
            tuple(sorted({*self.phones, *other.phones})),
            tuple(dict.fromkeys((*self.unreadable, *other.unreadable))),
        )

    def found_in(self, text_words: list[str], text: str) -> bool:
        if self.phrases.found_in(text_words):
            return True
        if self.phones:
            digits = digits_of(text)
            return len(digits) >= MIN_PHONE and any(phone in digits for phone in self.phones)
        return False


def identifiers_of(original: Dataset) -> PersonIdentifiers:
    """The person's identifiers in an original header (a pydicom dataset, as the restricted
    header store gives it back): every component of their names (family, given, middle; all
    groups) of at least :data:`MIN_NAME` letters, as whole words; PatientID, other patient IDs,
    accession numbers and the like of at least :data:`MIN_ID` letters and digits; the birth
    date in the forms of :func:`date_forms`; each part of the address that has a digit or two
    words (a bare town name would fire on the hospital's own name); telephone numbers by their
    digits (0… and 44…)."""
    phrases: list[list[str]] = []
    phones: set[str] = set()
    unreadable: list[str] = []
    for keyword in NAMES:
        for name in _values(original, keyword, unreadable):
            for group in name.split("="):
                for component in group.split("^")[:3]:
                    phrases += [[w] for w in _name_words(component) if len(w) >= MIN_NAME]
    ids = [v for k in IDS for v in _values(original, k, unreadable)]
    for sequence, keywords in ID_SEQUENCES.items():
        for item in _values(original, sequence, unreadable, items=True):
            ids += [v for k in keywords for v in _values(item, k, unreadable)]
    for identifier in ids:
        found = words(identifier)
        if sum(map(len, found)) >= MIN_ID:
            phrases += [found, ["".join(found)]]
    for value in _values(original, "PatientBirthDate", unreadable):
        if (born := parse_da(value)) is not None:
            phrases += list(date_forms(born))
    for address in _values(original, "PatientAddress", unreadable):
        parts = [words(part) for part in _ADDRESS_PARTS.split(address)] + [words(address)]
        phrases += [p for p in parts if len(p) >= 2 or any(w.isdigit() for w in p)]
    for keyword in TELEPHONES:
        for value in _values(original, keyword, unreadable):
            for one in value.split("\\"):
                digits = digits_of(one)
                if len(digits) >= MIN_PHONE:
                    phones.update(_phone_forms(digits))
                elif sum(map(len, words(one))) >= MIN_ID:  # an e-mail address, say
                    phrases.append(words(one))
    return PersonIdentifiers(
        Phrases.of(phrases), tuple(sorted(phones)), tuple(dict.fromkeys(unreadable))
    )


def _name_words(component: str) -> list[str]:
    """The words of a name component that are all letters (``2e2884fea560``, an identifier
    in the name field, has none), and with apostrophes dropped (O'BRIEN: brien, obrien)."""
    folded = component.casefold()
    found = _ALNUM.findall(folded) + _ALNUM.findall(_APOSTROPHES.sub("", folded))
    return [w for w in dict.fromkeys(found) if w.isalpha()]


def _phone_forms(digits: str) -> set[str]:
    if digits.startswith("44") and len(digits) > 10:
        return {digits, "0" + digits[2:]}
    if digits.startswith("0") and not digits.startswith("00"):
        return {digits, "44" + digits[1:]}
    return {digits}


def _values(dataset: Any, keyword: str, unreadable: list[str], items: bool = False) -> list[Any]:
    """The element's values as text, or a sequence's items ([] when absent or empty); a value
    that cannot be read is noted in ``unreadable``."""
    try:
        value = dataset.get(keyword)
    except Exception:  # noqa: BLE001 - malformed: noted, and verification fails closed
        unreadable.append(keyword)
        return []
    if value is None or value == "":
        return []
    if items:
        return list(value) if isinstance(value, Sequence) else []
    if not isinstance(value, MultiValue | list | tuple):
        value = [value]
    out = []
    for one in value:
        text = one.decode("latin-1") if isinstance(one, bytes) else str(one)
        if text.strip():
            out.append(text.strip())
    return out
