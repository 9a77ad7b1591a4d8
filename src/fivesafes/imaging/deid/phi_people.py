"""The invented people of the de-identification answer key (:mod:`.phi_key`): patients and the
doctors who refer, perform, operate and request, none of them real, the same for the same seed.

A patient has a name made of invented syllables, a hospital number, a birth date between 1935
and 2003, a sex, an address with a UK postcode in their hospital's postcode area and a
telephone number from Ofcom's drama ranges. Each belongs to one of three invented hospitals
(:data:`SITES`), two in Scotland and one in England, and so carries the national number of
its country: a CHI number (the birth date DDMMYY, two digits, a sex digit, a check digit) or
an NHS number in the 999 range the NHS keeps for testing. Both end in the modulus-11 check
digit (:func:`mod11_check`), so that a detector of real numbers finds them.

Every value is drawn from one seeded :class:`random.Random` handed in by the planner
(:mod:`.phi_archive`), in a fixed order: drawing one more value here changes every archive
written after it. Hospital numbers and staff names are unique within an archive.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, timedelta

_GIVEN = (
    ("Zel", "Quor", "Vess", "Thal", "Brin", "Osk", "Yarr", "Mib", "Ulv", "Drem", "Fenn", "Cael"),
    ("wyn", "dora", "bec", "rith", "ane", "mond", "vane", "tis", "koth", "ella", "ric", "ise"),
)
_FAMILY = (
    ("Quel", "Vask", "Trevel", "Ibb", "Zorr", "Pellin", "Wex", "Gant", "Ilv", "Oxl", "Brask"),
    ("bury", "wick", "stone", "ridge", "ham", "more", "thorpe", "field", "ington", "acre", "holt"),
)
_STREETS = ("Velling", "Marrow", "Tallis", "Brenn", "Corrie", "Lanark", "Fothery")
_SUFFIXES = ("Road", "Street", "Avenue", "Crescent", "Gardens", "Wynd")
_INWARD = "ABDEFGHJLNPQRSTUWXYZ"


@dataclass(frozen=True)
class Site:
    name: str
    code: str
    town: str
    address: str
    postcode: str
    area: str  # the postcode area of its patients
    phone: str  # an Ofcom drama range: the first eight digits
    scheme: str  # the national number its patients carry: NHS (England) or CHI (Scotland)


SITES = (
    Site("Quenmarsh Royal Infirmary", "QRI", "Quenmarsh", "Infirmary Brae", "EH16 4SA", "EH",
         "0131 496 0", "CHI"),
    Site("Harrowfield General Hospital", "HGH", "Harrowfield", "Station Road", "LS9 7TF", "LS",
         "0113 496 0", "NHS"),
    Site("Dunmarrow Community Hospital", "DCH", "Dunmarrow", "Kirk Loan", "DD1 9SY", "DD",
         "01382 496 0", "CHI"),
)  # fmt: skip


def mod11_check(digits: str) -> int | None:
    """The modulus-11 check digit of nine digits (weights 10 to 2) shared by NHS and CHI
    numbers: 11 - remainder, 11 meaning 0; None when it would be 10 (no valid number)."""
    check = 11 - sum(int(d) * (10 - i) for i, d in enumerate(digits)) % 11
    return 0 if check == 11 else None if check == 10 else check


def nhs_number(rng: random.Random) -> str:
    """An NHS number in the 999 range the NHS keeps for testing, spaced 3-3-4."""
    while True:
        digits = "999" + "".join(rng.choice("0123456789") for _ in range(6))
        check = mod11_check(digits)
        if check is not None:
            return f"{digits[:3]} {digits[3:6]} {digits[6:]}{check}"


def chi_number(rng: random.Random, birth: date, female: bool) -> str:
    """A CHI number: birth date DDMMYY, two digits, a sex digit (even for women), a check."""
    while True:
        sex = rng.choice("02468" if female else "13579")
        digits = birth.strftime("%d%m%y") + f"{rng.randint(0, 99):02d}" + sex
        check = mod11_check(digits)
        if check is not None:
            return f"{digits}{check}"


def _name(rng: random.Random, parts: tuple[tuple[str, ...], ...]) -> str:
    return "".join(rng.choice(p) for p in parts)


@dataclass(frozen=True)
class Person:
    patient_id: str  # the hospital number, e.g. QRI0012345
    given: str
    family: str
    female: bool
    birth: date
    site: Site
    national: str  # NHS or CHI number, as written
    address: str
    postcode: str
    phone: str

    @property
    def pn(self) -> str:
        return f"{self.family}^{self.given}"

    @property
    def national_digits(self) -> str:
        """The NHS or CHI number without its spaces, as a system stores it."""
        return self.national.replace(" ", "")

    def identity(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items() if k != "site"}


def invent_person(rng: random.Random, used: set[str]) -> Person:
    """A patient at one of the :data:`SITES`, their hospital number not yet in ``used``."""
    site = rng.choice(SITES)
    female = rng.random() < 0.5
    birth = date(1935, 1, 1) + timedelta(days=rng.randint(0, 25_000))
    patient_id = unique(used, lambda: f"{site.code}{rng.randint(0, 9_999_999):07d}")
    national = chi_number(rng, birth, female) if site.scheme == "CHI" else nhs_number(rng)
    postcode = f"{site.area}{rng.randint(1, 17)} {rng.randint(1, 9)}{_two(rng)}"
    street = f"{rng.randint(2, 98)} {rng.choice(_STREETS)} {rng.choice(_SUFFIXES)}"
    phone = f"{site.phone}{rng.randint(0, 999):03d}"
    return Person(
        patient_id, _name(rng, _GIVEN), _name(rng, _FAMILY), female, birth, site, national,
        f"{street}, {site.town}, {postcode}", postcode, phone,
    )  # fmt: skip


def invent_doctor(rng: random.Random, used: set[str]) -> str:
    """A doctor's name as a DICOM person name, family^given^^Dr, not yet in ``used``."""
    return unique(used, lambda: f"{_name(rng, _FAMILY)}^{_name(rng, _GIVEN)}^^Dr")


def _two(rng: random.Random) -> str:
    return rng.choice(_INWARD) + rng.choice(_INWARD)


def unique(used: set[str], make: Callable[[], str]) -> str:
    """The first value ``make`` gives that is not yet in ``used``, added to it."""
    while (value := make()) in used:
        pass
    used.add(value)
    return value
