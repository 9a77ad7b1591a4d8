"""Verification of a de-identified file: every text it holds, and the pixels of a series at risk
of burned-in text, searched for what still says who the person is; each finding named by its
rule and the element it is in, never by the value.

What is searched:

- every element of the file meta and the data set, and of every item of every sequence at any
  depth (SR content items' TextValue, PersonName, private elements that survived), once;
- text value representations only (:data:`TEXT_VRS`), and UN when its bytes read as text.
  Numbers (DS, IS, FD, FL, US, UL…) and binary values are never searched: SMI's
  IsIdentifiable found its CHI pattern firing on decimals of numeric elements. UIDs are
  searched for the person's identifiers only (a hospital number built into a UID);
- the rules: ``nhs_number``, ``chi_number``, ``uk_postcode`` (:mod:`.patterns`);
  ``person_identifier`` (the person's own names, identifiers, birth date, address, telephone
  numbers, from the original header: :func:`.identifiers.identifiers_of`); ``unshifted_date``
  (a date of the original file, in a DA or DT value or written in text, when dates were meant
  to be shifted or removed); ``overlay_data`` (overlays, which PS3.15's basic profile
  removes and which may carry text, left in the file);
- the pixels, when the caller says the series is at risk (:func:`burned_in_risk` is the
  usual judgement): OCR (:mod:`.ocr`) of up to three frames; ``burned_in_text`` when it reads a
  word with three letters or digits in a row, and the text rules above on what it read.
  Without a working OCR the file fails: ``ocr_unavailable``; ``ocr_failed``,
  ``pixels_unreadable`` likewise.

A person's identifier that could not be read from the original header is a finding too
(``identifiers_unreadable``, at that element): what cannot be looked for is not passed.

Every bound fails closed with the finding ``too_large_to_verify``: more than
:attr:`Limits.elements` elements, sequences nested deeper than :attr:`Limits.depth`, a text
longer than :attr:`Limits.text` characters, a frame larger than the OCR's bound; an original
too large to read its dates from is named ``(original)``.

An element is named by its path: tags ``(GGGG,EEEE)``, sequence items by their index from
0: ``(0040,A730)[2].(0040,A160)``; a frame of the pixels as ``(7FE0,0010)[0]``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydicom.charset import python_encoding
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filereader import read_sequence
from pydicom.multival import MultiValue

from fivesafes.imaging.deid import ocr as ocr_module
from fivesafes.imaging.deid.identifiers import PersonIdentifiers
from fivesafes.imaging.deid.ocr import Ocr, OcrFailed, TooLarge, Unreadable
from fivesafes.imaging.deid.patterns import (
    Phrases,
    date_forms,
    numbers_and_postcodes,
    parse_da,
    words,
)

PERSON_IDENTIFIER = "person_identifier"
UNSHIFTED_DATE = "unshifted_date"
BURNED_IN_TEXT = "burned_in_text"
OCR_UNAVAILABLE = "ocr_unavailable"
OCR_FAILED = "ocr_failed"
PIXELS_UNREADABLE = "pixels_unreadable"
OVERLAY_DATA = "overlay_data"
TOO_LARGE = "too_large_to_verify"
IDENTIFIERS_UNREADABLE = "identifiers_unreadable"

TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
_WALKED = TEXT_VRS | {"SQ", "UN", "UI"}
_OVERLAYS = frozenset((group << 16) | 0x3000 for group in range(0x6000, 0x6020, 2))
_PIXELS = (0x7FE00010, 0x7FE00008, 0x7FE00009)  # Pixel Data, Float and Double Float
AT_RISK_MODALITIES = frozenset({"US", "SC", "OT", "ES"})
_RUN_OF_THREE = re.compile(r"[^\W_]{3}")
_ITEM = b"\xfe\xff\x00\xe0"  # an item tag, little endian: a sequence in UN bytes
_DEFAULT = "latin_1"  # no Specific Character Set: ASCII, read without failing


@dataclass(frozen=True)
class Finding:
    """One rule that fired, and where: never the value."""

    rule: str
    element: str


@dataclass(frozen=True)
class Limits:
    elements: int = 100_000  # elements visited, items of sequences included
    depth: int = 32  # sequences within sequences
    text: int = 65_536  # characters of one element's text


class _TooLarge(Exception):
    def __init__(self, element: str) -> None:
        super().__init__(element)
        self.element = element


def burned_in_risk(original: Dataset) -> bool:
    """The usual judgement of a series at risk of burned-in text: a modality that draws text
    into its pixels (ultrasound, secondary capture, other, endoscopy) or BurnedInAnnotation
    YES in the original header."""
    modality = str(original.get("Modality", "") or "").strip().upper()
    burned = str(original.get("BurnedInAnnotation", "") or "").strip().upper()
    return modality in AT_RISK_MODALITIES or burned == "YES"


def verify(
    written: Dataset,
    *,
    original: Dataset,
    identifiers: PersonIdentifiers,
    at_risk: bool,
    ocr: Ocr | None,
    dates_expected_shifted: bool,
    limits: Limits = Limits(),
) -> list[Finding]:
    """Every finding in ``written`` (empty: nothing found), in the order met, each (rule,
    element) once. ``original`` is the file before de-identification (its dates are the ones
    that must not survive when ``dates_expected_shifted``)."""
    found: dict[Finding, None] = {
        Finding(IDENTIFIERS_UNREADABLE, _name(tag_for_keyword(keyword) or 0)): None
        for keyword in identifiers.unreadable
    }
    dates = Phrases()
    try:
        if dates_expected_shifted:
            dates = _dates_of(original, limits)
        for element, vr, text in _texts(written, limits, _WALKED):
            if text is None or len(text) > limits.text:
                found[Finding(TOO_LARGE, element)] = None
                continue
            for rule in _rules(text, vr, identifiers, dates):
                found[Finding(rule, element)] = None
    except _TooLarge as exc:
        found[Finding(TOO_LARGE, exc.element)] = None
    for tag in sorted(_OVERLAYS.intersection(written.keys())):
        found[Finding(OVERLAY_DATA, _name(tag))] = None
    if at_risk and any(tag in written for tag in _PIXELS):
        for finding in _pixels(written, identifiers, dates, ocr):
            found[finding] = None
    return list(found)


def _rules(text: str, vr: str, identifiers: PersonIdentifiers, dates: Phrases) -> Iterator[str]:
    text_words = words(text)
    if vr == "DT":  # a DT value's date is its first eight characters
        text_words += [value.strip()[:8] for value in text.split("\\")]
    if vr != "UI":
        yield from numbers_and_postcodes(text)
    if identifiers.found_in(text_words, text):
        yield PERSON_IDENTIFIER
    if vr != "UI" and dates.found_in(text_words):
        yield UNSHIFTED_DATE


def _pixels(
    written: Dataset, identifiers: PersonIdentifiers, dates: Phrases, ocr: Ocr | None
) -> Iterator[Finding]:
    pixels = _name(next(tag for tag in _PIXELS if tag in written))
    if ocr is None or not ocr.available():
        yield Finding(OCR_UNAVAILABLE, pixels)
        return
    try:
        for number, image in ocr_module.frames(written):
            element = f"{pixels}[{number}]"
            read = ocr.words(image)
            if any(_RUN_OF_THREE.search(word) for word in read):
                yield Finding(BURNED_IN_TEXT, element)
            for rule in _rules(" ".join(read), "UT", identifiers, dates):
                yield Finding(rule, element)
    except TooLarge:
        yield Finding(TOO_LARGE, pixels)
    except Unreadable:
        yield Finding(PIXELS_UNREADABLE, pixels)
    except OcrFailed:
        yield Finding(OCR_FAILED, pixels)


def _dates_of(original: Dataset, limits: Limits) -> Phrases:
    """Every date of the original file's DA and DT values, in the forms text writes it."""
    values: set[str] = set()
    _collect_dates(original, 0, [0], limits, values)
    return _date_phrases(frozenset(values))


def _collect_dates(
    dataset: Dataset, depth: int, counter: list[int], limits: Limits, values: set[str]
) -> None:
    """The first eight characters of every DA and DT value, sequences entered (a walk of its
    own: a quarter of the cost of :func:`_walk`, which names paths)."""
    counter[0] += len(dataset)
    if depth > limits.depth or counter[0] > limits.elements:
        raise _TooLarge("(original)")
    for raw in dataset.values():
        vr = raw.VR
        if vr is None or vr == "UN":
            vr = _dictionary_vr(raw.tag)
        if vr == "SQ":
            for item in dataset[raw.tag].value or ():
                _collect_dates(item, depth + 1, counter, limits, values)
        elif vr == "DA" or vr == "DT":
            value = raw.value
            if isinstance(value, bytes):
                value = value.decode("latin_1")
            elif not isinstance(value, str):
                value = "\\".join(str(one) for one in value or ())
            values.update(one.strip()[:8] for one in value.split("\\"))


@lru_cache(maxsize=256)
def _date_phrases(values: frozenset[str]) -> Phrases:
    """The forms of these dates (the files of a series share theirs: built once)."""
    days = {day for value in values if (day := parse_da(value)) is not None}
    return Phrases.of(form for day in sorted(days) for form in date_forms(day))


def _texts(
    dataset: Dataset, limits: Limits, wanted: frozenset[str]
) -> Iterator[tuple[str, str, str | None]]:
    """(element path, VR, text) for each element of ``dataset`` (file meta first, sequences
    entered) whose VR is ``wanted``: multiple values joined by a backslash, None when too
    long."""
    counter = [0]
    meta = getattr(dataset, "file_meta", None)
    if isinstance(meta, Dataset):
        yield from _walk(meta, "", 0, counter, limits, wanted, _DEFAULT)
    yield from _walk(dataset, "", 0, counter, limits, wanted, _DEFAULT)


def _walk(
    dataset: Dataset,
    prefix: str,
    depth: int,
    counter: list[int],
    limits: Limits,
    wanted: frozenset[str],
    encoding: str | None,
) -> Iterator[tuple[str, str, str | None]]:
    """The elements of one dataset (see :func:`_texts`). A text still in its file's bytes is
    decoded here, in the dataset's character set (pydicom's own conversion costs ten times
    as much); for ISO 2022 code extensions pydicom decodes it."""
    if depth > limits.depth:
        raise _TooLarge(prefix.rstrip(".") or "(dataset)")
    encoding = _encoding_of(dataset, encoding)
    counter[0] += len(dataset)
    if counter[0] > limits.elements:
        raise _TooLarge(prefix.rstrip(".") or "(dataset)")
    for raw in dataset.values():  # as read: in tag order, not yet converted
        vr = raw.VR
        if vr is None or vr == "UN":
            vr = _dictionary_vr(raw.tag)
        if vr not in wanted:
            continue
        path = prefix + _name(raw.tag)
        value = raw.value
        items: Iterable[Dataset]
        if vr == "UN" and isinstance(value, bytes) and value[:4] == _ITEM:
            items = _items_of(value, encoding)
        elif vr == "SQ":
            items = dataset[raw.tag].value or ()
        else:
            if isinstance(raw, RawDataElement) and isinstance(value, bytes) and vr != "UN":
                if encoding is None or len(value) > 4 * limits.text:
                    value = dataset[raw.tag].value
                else:
                    value = value.decode(encoding, "replace").rstrip(" \x00")
            text = value if isinstance(value, str) else _text(value, limits)
            if text != "":
                yield path, vr, text
            continue
        for index, item in enumerate(items):
            yield from _walk(
                item, f"{path}[{index}].", depth + 1, counter, limits, wanted, encoding
            )


def _encoding_of(dataset: Dataset, inherited: str | None) -> str | None:
    """The Python codec of the dataset's Specific Character Set (inherited when it has none);
    None for code extensions (ISO 2022), which only pydicom decodes."""
    element = dataset.get_item(0x00080005)
    if element is None:
        return inherited
    value = element.value
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        terms = [term.strip() for term in value.split("\\")]
    else:
        terms = [str(term).strip() for term in value or ()]
    if not terms:
        return _DEFAULT
    if len(terms) > 1 or terms[0].startswith("ISO 2022"):
        return None
    codec = python_encoding.get(terms[0])
    return None if codec is None else _DEFAULT if codec == "iso8859" else codec


def _items_of(value: bytes, encoding: str | None) -> list[Dataset]:
    """The items of a sequence that reached us as UN bytes (a private sequence of an implicit
    VR file): read as implicit, then explicit VR little endian; none if neither reads."""
    for implicit in (True, False):
        try:
            return list(
                read_sequence(io.BytesIO(value), implicit, True, len(value), encoding or _DEFAULT)
            )
        except Exception:  # noqa: BLE001, S112 - not a sequence in this encoding: try the next
            continue
    return []


def _text(value: Any, limits: Limits) -> str | None:
    """The value as one text, values joined by a backslash; None when it is too long."""
    if isinstance(value, bytes):  # UN
        return _decoded(value) if len(value) <= 4 * limits.text else None
    if isinstance(value, MultiValue | list | tuple):
        text = "\\".join(str(one) for one in value if one is not None)
    else:
        text = "" if value is None else str(value)
    return text if len(text) <= limits.text else None


def _decoded(value: bytes) -> str:
    """The bytes as text if they read as text (UTF-8, else Latin-1, every character printable
    or white space), else "" (binary: nothing to search)."""
    stripped = value.rstrip(b"\x00 ")
    try:
        text = stripped.decode("utf-8")
    except UnicodeDecodeError:
        text = stripped.decode("latin-1")
    return text if all(c.isprintable() or c in "\r\n\t" for c in text) else ""


def _dictionary_vr(tag: int) -> str:
    try:
        return str(dictionary_VR(tag))
    except KeyError:  # private, or unknown: read as UN
        return "UN"


def _name(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
