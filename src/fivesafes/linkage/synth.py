"""Synthetic identities for the persons of synthetic CDMs, with a planted overlap between
hospitals and the errors real records carry, so that linkage has a ground truth.

For each hospital, in the order given, every person of its CDM gets an identity: an NHS number
(from the range reserved for testing, 999 000 0000 to 999 999 9999, with a valid check digit),
given and family names (as often as :mod:`fivesafes.linkage.names` says: a few common, a long
tail of rare ones, as in life; a given name of either sex, even odds, where sex is unknown), a
date of birth in the person's CDM year of birth (and month and day where the CDM has them),
the CDM's sex and a postcode. From the second hospital on, a share
``overlap`` of its persons are *the same people* as persons of an earlier hospital (chosen at
random among its persons who have a partner of the same sex and year of birth there, each
earlier person at most once per hospital: fewer only when too few have one): their identity
is the earlier one's, as another hospital would record it, with errors planted at known rates
(``ERRORS``): a typo in a name, given and family names swapped, a new address, the date of
birth's day and month transposed, and, at any hospital, no NHS number. The truth names each
(hospital, person) with its *true person*; two records are a true link when their true
persons are the same.

The same CDMs, overlap and seed give the same identities, byte for byte.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np

from fivesafes.linkage.identifiers import FIELDS, nhs_check_digit
from fivesafes.linkage.names import AREAS, FAMILY, FEMALE, MALE

ERRORS = {
    "typo": 0.06,  # one name: a letter changed, dropped, doubled or two swapped
    "swapped_names": 0.02,  # given and family names the other way round
    "moved": 0.10,  # another postcode
    "day_month": 0.01,  # the date of birth's day and month transposed (day <= 12)
    "no_nhs_number": 0.05,  # no NHS number recorded (at every hospital, every person)
    "no_postcode": 0.02,  # no postcode recorded
}
FEMALE_CONCEPT, MALE_CONCEPT = 8532, 8507


@dataclass(frozen=True)
class CdmPerson:
    person_id: int
    sex: str  # F, M or U
    year: int
    month: int | None = None
    day: int | None = None


@dataclass(frozen=True)
class Record:
    """One identity as a hospital holds it (before any check: as written)."""

    site: str
    person_id: int
    true_person: int
    nhs_number: str
    given_name: str
    family_name: str
    date_of_birth: str
    sex: str
    postcode: str
    errors: tuple[str, ...] = ()  # the errors planted in this record (the truth's)


def read_persons(database: Path) -> list[CdmPerson]:
    """The persons of a CDM (``person``: id, gender, year, month and day of birth)."""
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute(
            "SELECT person_id, gender_concept_id, year_of_birth, month_of_birth, day_of_birth"
            " FROM person ORDER BY person_id"
        ).fetchall()
    sexes = {FEMALE_CONCEPT: "F", MALE_CONCEPT: "M"}
    return [CdmPerson(int(p), sexes.get(g, "U"), int(y), m, d) for p, g, y, m, d in rows]


class _Maker:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.numbers: set[str] = set()

    def family(self) -> str:
        return FAMILY.draw(self.rng)  # a few names common, a long tail rare (``names``)

    def nhs_number(self) -> str:
        while True:
            first = "999" + "".join(str(d) for d in self.rng.integers(0, 10, 6))
            check = nhs_check_digit(first)
            number = f"{first}{check}"
            if check is not None and number not in self.numbers:
                self.numbers.add(number)
                return number

    def postcode(self) -> str:
        area = str(self.rng.choice(AREAS))
        district = int(self.rng.integers(1, 30 if len(area) == 2 else 20))
        letters = "ABDEFGHJLNPQRSTUWXYZ"  # the inward code's letters (no C I K M O V)
        unit = "".join(str(self.rng.choice(list(letters))) for _ in range(2))
        return f"{area}{district} {int(self.rng.integers(0, 10))}{unit}"

    def birth(self, person: CdmPerson) -> date:
        month = person.month or int(self.rng.integers(1, 13))
        days = 28 if month == 2 else 30 if month in (4, 6, 9, 11) else 31
        day = min(person.day or int(self.rng.integers(1, days + 1)), days)
        return date(person.year, month, day)

    def given(self, sex: str) -> str:
        if sex not in ("F", "M"):
            sex = "F" if self.chance(0.5) else "M"
        return (FEMALE if sex == "F" else MALE).draw(self.rng)

    def typo(self, text: str) -> str:
        if len(text) < 3:
            return text + text[-1].lower()
        i = int(self.rng.integers(1, len(text) - 1))
        kind = int(self.rng.integers(0, 4))
        if kind == 0:  # a letter changed
            letter = chr(ord("a") + int(self.rng.integers(0, 26)))
            return text[:i] + letter + text[i + 1 :]
        if kind == 1:  # a letter dropped
            return text[:i] + text[i + 1 :]
        if kind == 2:  # a letter doubled
            return text[:i] + text[i] + text[i:]
        return text[: i - 1] + text[i] + text[i - 1] + text[i + 1 :]  # two swapped

    def chance(self, rate: float) -> bool:
        return bool(self.rng.random() < rate)


def _fresh(maker: _Maker, site: str, person: CdmPerson, true_person: int) -> Record:
    return Record(
        site=site, person_id=person.person_id, true_person=true_person,
        nhs_number=maker.nhs_number(), given_name=maker.given(person.sex),
        family_name=maker.family(), date_of_birth=maker.birth(person).isoformat(),
        sex=person.sex, postcode=maker.postcode(),
    )  # fmt: skip


def _as_recorded_again(maker: _Maker, earlier: Record, site: str, person_id: int) -> Record:
    """The same person at another hospital: the earlier identity with planted errors."""
    errors: list[str] = []  # ``earlier`` is the person as they are: no error yet
    given, family = earlier.given_name, earlier.family_name
    if maker.chance(ERRORS["typo"]):
        errors.append("typo")
        if maker.chance(0.5):
            given = maker.typo(given)
        else:
            family = maker.typo(family)
    if maker.chance(ERRORS["swapped_names"]):
        errors.append("swapped_names")
        given, family = family, given
    postcode = earlier.postcode
    if maker.chance(ERRORS["moved"]):
        errors.append("moved")
        postcode = maker.postcode()
    born = date.fromisoformat(earlier.date_of_birth)
    if born.day <= 12 and born.day != born.month and maker.chance(ERRORS["day_month"]):
        errors.append("day_month")
        born = date(born.year, born.day, born.month)
    return replace(
        earlier, site=site, person_id=person_id, given_name=given, family_name=family,
        postcode=postcode, date_of_birth=born.isoformat(), errors=tuple(errors),
    )  # fmt: skip


def _missing(maker: _Maker, record: Record) -> Record:
    """Fields not recorded at this hospital (any person, any hospital)."""
    errors = list(record.errors)
    nhs, postcode = record.nhs_number, record.postcode
    if maker.chance(ERRORS["no_nhs_number"]):
        errors.append("no_nhs_number")
        nhs = ""
    if maker.chance(ERRORS["no_postcode"]):
        errors.append("no_postcode")
        postcode = ""
    return replace(record, nhs_number=nhs, postcode=postcode, errors=tuple(errors))


def synthesise(
    sites: Mapping[str, Sequence[CdmPerson]], *, overlap: float, seed: int
) -> list[Record]:
    """Every person of every hospital's CDM with an identity (see the module's docstring)."""
    if not 0.0 <= overlap <= 1.0:
        raise ValueError("overlap is a share between 0 and 1")
    maker = _Maker(seed)
    records: list[Record] = []
    pool: dict[tuple[str, int], list[Record]] = defaultdict(list)  # (sex, year) -> true ones
    true_persons = 0
    for n, (site, persons) in enumerate(sites.items()):
        candidates = {key: list(found) for key, found in pool.items()}  # each once per site
        target = 0 if n == 0 else round(overlap * len(persons))
        partner: dict[int, Record] = {}
        for i in maker.rng.permutation(len(persons)) if target else ():
            person = persons[int(i)]
            options = candidates.get((person.sex, person.year))
            if options:  # the same sex and year of birth: a person both CDMs can hold
                partner[person.person_id] = options.pop(int(maker.rng.integers(0, len(options))))
                if len(partner) == target:
                    break
        truly: list[Record] = []  # each person as they are, before this hospital's errors
        for person in persons:
            earlier = partner.get(person.person_id)
            if earlier is not None:
                again = _as_recorded_again(maker, earlier, site, person.person_id)
                records.append(_missing(maker, again))
            else:
                true = _fresh(maker, site, person, true_persons)
                true_persons += 1
                truly.append(true)
                records.append(_missing(maker, true))
        for true in truly:
            pool[(true.sex, int(true.date_of_birth[:4]))].append(true)
    return records


def write(records: Sequence[Record], out: Path) -> dict[str, Path]:
    """``identities-SITE.csv`` per hospital (the columns ``fivesafes node identities load``
    reads) and ``truth.csv`` (site, person_id, true_person, errors): their paths."""
    out.mkdir(parents=True, exist_ok=True)
    by_site: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_site[record.site].append(record)
    written: dict[str, Path] = {}
    for site, mine in by_site.items():
        path = out / f"identities-{site}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(FIELDS)
            for r in mine:
                writer.writerow((r.person_id, r.nhs_number, r.given_name, r.family_name,
                                 r.date_of_birth, r.sex, r.postcode))  # fmt: skip
        written[site] = path
    truth = out / "truth.csv"
    with truth.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("site", "person_id", "true_person", "errors"))
        for r in records:
            writer.writerow((r.site, r.person_id, r.true_person, " ".join(r.errors)))
    written["truth"] = truth
    return written
