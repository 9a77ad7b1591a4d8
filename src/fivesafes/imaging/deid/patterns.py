"""The text detectors of verification: what in a de-identified file's text still says who the
person is.

Two kinds. The fixed detectors know nothing of the person (:func:`numbers_and_postcodes`):

- ``nhs_number``: ten digits, together or spaced 3-3-4 by one kind of separator (space or
  dash), with a valid modulus-11 check digit (weights 10 to 2 on the first nine; remainder 11
  means 0; 10 means no valid number);
- ``chi_number``: ten digits (or six, a space or dash, four) whose first six are a real date
  DDMMYY and whose tenth is the same modulus-11 check digit. A number that is both is called a
  CHI number: NHS numbers in England (4, 6, 7…) and Northern Ireland (3…) never start with a
  day of the month, so the two do not meet in practice;
- ``uk_postcode``: an outward code (one of the 126 postcode areas, a district digit, an
  optional digit or letter) and an inward code (a digit, two letters of the allowed 20), the
  space optional, any case, standing alone (no letter or digit touching either end).

One digit ten times (``0000000000``, ``1111111111``, which the check digit allows) is a
placeholder, not a number. A run of digits longer than ten, or one that is part of a decimal
number (``0.1503851234``, ``1503851234.5``), is not a candidate: the warning of SMI's
IsIdentifiable, whose CHI pattern fired on decimals. The other half of that fix is in
:mod:`fivesafes.imaging.deid.verify`, which never hands a numeric element (DS, IS, FD…) to
these detectors.

The postcode pattern fires on every string of a real postcode's form, ``CT1 2AB`` included (a
street in Canterbury, not a CT scanner): it cannot tell them apart, and a false alarm only
holds a file back. Protocol-like strings (``T1 3DAX``, ``B1000``, ``SE2 3DT1``) do not fire.

The other kind, the person's own detectors (:mod:`fivesafes.imaging.deid.identifiers`), and
the dates of the original file, are :class:`Phrases`, built here: they compare words, not
characters: a text is cut into its words (runs of letters, or runs of digits, case folded), so
``12/03/1961``, ``12-03-1961`` and ``12.03.1961`` are one phrase, and ``SYN-00000042`` is found
in ``syn 00000042``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

NHS_NUMBER = "nhs_number"
CHI_NUMBER = "chi_number"
UK_POSTCODE = "uk_postcode"

_AREA_LIST = (
    "AB AL B BA BB BD BF BH BL BN BR BS BT BX CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL "
    "DN DT DY E EC EH EN EX FK FY G GL GU GY HA HD HG HP HR HS HU HX IG IM IP IV JE KA KT KW "
    "KY L LA LD LE LL LN LS LU M ME MK ML N NE NG NN NP NR NW OL OX PA PE PH PL PO PR RG RH RM "
    "S SA SE SG SK SL SM SN SO SP SR SS ST SW SY TA TD TF TN TQ TR TS TW UB W WA WC WD WF WN WR "
    "WS WV YO ZE"
)
AREAS = frozenset(_AREA_LIST.split())
"""The UK postcode areas (with BF, British Forces, and BX, non-geographic)."""

_SCAN = re.compile(
    r"(?<![0-9])(?<![0-9]\.)"  # not the end of a longer number, nor a decimal's fraction
    r"(?P<number>[0-9]{3}(?P<sep>[ -]?)[0-9]{3}(?P=sep)[0-9]{4}|[0-9]{6}[ -][0-9]{4})"
    r"(?![0-9])(?!\.[0-9])"
    r"|(?<![A-Z0-9])(?P<area>[A-Z]{1,2})[0-9][0-9A-HJKMNPR-Y]?\s?[0-9][ABD-HJLNP-UW-Z]{2}"
    r"(?![A-Z0-9])",
    re.ASCII | re.IGNORECASE,
)
_DIGIT = re.compile(r"[0-9]")
_WORD = re.compile(r"[^\W\d_]+|\d+")
_NOT_DIGIT = re.compile(r"[^0-9]+")


def check_digit(nine: str) -> int | None:
    """The modulus-11 check digit of nine digits (weights 10 to 2), or None when there is
    none (the remainder gives 10)."""
    total = sum(int(digit) * weight for digit, weight in zip(nine, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    return None if check == 10 else check % 11


def nhs_valid(number: str) -> bool:
    """Ten digits whose last is the check digit of the first nine."""
    return len(number) == 10 and number.isdigit() and check_digit(number[:9]) == int(number[9])


def chi_valid(number: str) -> bool:
    """A valid NHS-style number whose first six digits are a date DDMMYY (of some century)."""
    return nhs_valid(number) and _is_ddmmyy(number[:6])


def _is_ddmmyy(text: str) -> bool:
    day, month, year = int(text[:2]), int(text[2:4]), int(text[4:6])
    for century in (1900, 2000):
        try:
            date(century + year, month, day)
        except ValueError:
            continue
        return True
    return False


def numbers_and_postcodes(text: str) -> Iterator[str]:
    """The fixed rules that fire in ``text`` (each once at most, in the order found)."""
    if _DIGIT.search(text) is None:  # every candidate holds a digit
        return
    fired: set[str] = set()
    for match in _SCAN.finditer(text):
        number = match.group("number")
        if number is None:
            rule: str | None = UK_POSTCODE if match["area"].upper() in AREAS else None
        else:
            digits = _NOT_DIGIT.sub("", number)
            if len(set(digits)) == 1:  # 0000000000, 1111111111: placeholders, not numbers
                continue
            rule = CHI_NUMBER if chi_valid(digits) else NHS_NUMBER if nhs_valid(digits) else None
        if rule is not None and rule not in fired:
            fired.add(rule)
            yield rule


def words(text: str) -> list[str]:
    """The words of ``text`` as :class:`Phrases` compares them: runs of letters, or of
    digits, case folded (``SYN-00000042`` is ``["syn", "00000042"]``)."""
    return _WORD.findall(text.casefold())


def digits_of(text: str) -> str:
    """Every digit of ``text``, in order (how telephone numbers are compared)."""
    return _NOT_DIGIT.sub("", text)


@dataclass(frozen=True)
class Phrases:
    """Phrases to look for, word by word: one-word phrases in a set, longer ones as their
    words joined by single spaces (a phrase is found when its words appear in a row)."""

    single: frozenset[str] = frozenset()
    multi: tuple[str, ...] = ()
    starts: frozenset[str] = frozenset()  # the first words of ``multi``: a quick way out

    @classmethod
    def of(cls, phrases: Iterable[list[str]]) -> Phrases:
        """From phrases given as their words (see :func:`words`); empty ones are dropped."""
        single: set[str] = set()
        multi: set[str] = set()
        for phrase in phrases:
            if len(phrase) == 1:
                single.add(phrase[0])
            elif phrase:
                multi.add(" " + " ".join(phrase) + " ")
        starts = frozenset(phrase.split()[0] for phrase in multi)
        return cls(frozenset(single), tuple(sorted(multi)), starts)

    def __bool__(self) -> bool:
        return bool(self.single or self.multi)

    def found_in(self, text_words: list[str]) -> bool:
        if self.single and not self.single.isdisjoint(text_words):
            return True
        if self.multi and len(text_words) > 1 and not self.starts.isdisjoint(text_words):
            joined = " " + " ".join(text_words) + " "
            return any(phrase in joined for phrase in self.multi)
        return False


_MONTH_LIST = (
    "january february march april may june july august september october november december"
)
MONTHS = tuple(_MONTH_LIST.split())


def date_forms(day: date) -> Iterator[list[str]]:
    """The ways a date is written, as words: 19610312, 1961-03-12, 12/03/1961 (and with - or
    .), 03/12/1961 (American), 12/03/61, 12 Mar 1961, 12 March 1961, 12 3 1961."""
    y, m, d = f"{day.year:04d}", f"{day.month:02d}", f"{day.day:02d}"
    yield [y + m + d]
    yield [y, m, d]
    yield [d, m, y]
    yield [m, d, y]
    yield [d, m, y[2:]]
    yield [d, MONTHS[day.month - 1][:3], y]
    yield [d, MONTHS[day.month - 1], y]
    yield [str(day.day), str(day.month), y]


def parse_da(value: str) -> date | None:
    """The date of a DA value (or of the first eight characters of a DT value), or None."""
    text = value.strip()[:8]
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None
