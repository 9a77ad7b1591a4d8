"""Who has synthetic slides, and what each slide is (:mod:`fivesafes.slides.synth` writes them).

The CDM has no biopsy procedure concept (``fivesafes.data.synth.concepts``), so the persons with
slides are those with a condition under *Malignant neoplastic disease* (SNOMED 363346000),
found through the CDM's own ``concept_ancestor`` (lung cancer, NSCLC, SCLC). Each has one
diagnostic specimen, taken at their first such condition and scanned one to six days later:

| slide | who | share |
| --- | --- | --- |
| H&E | every specimen | 1 |
| IHC of the same block: TTF-1, PD-L1 22C3, p40 or Ki-67 | the same tissue | about 1/2 |

A specimen's slides share its tissue (one or two lobed ellipses) and its tumours (one to three
star-shaped polygons inside the main piece, apart). Scanning: one of three scanners, at 20x
(MPP about 0.50) or, for three slides in ten, at 40x (half that).

A person's planted identifiers (:class:`Identity`) are a name of invented syllables (the DICOM
answer key's, :func:`fivesafes.imaging.deid.phi_people.invent_person`), a hospital number
the synthetic CDM's own (``SYN`` and the person's id: ``imaging.synth.hospital_number``, the
identifier the node's pseudonyms were made from, so a specimen map links the slide) and an NHS
number in the 999 range the NHS keeps for testing, with a valid modulus-11 check digit
(``phi_people.nhs_number``). Everything is drawn from a random stream per person and seed:
the same seed and CDM give the same plan, and a larger ``persons_limit`` adds persons without
changing the first ones.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from pathlib import Path

from fivesafes.data.synth import concepts
from fivesafes.imaging.deid.phi_people import invent_person, nhs_number, unique
from fivesafes.imaging.synth import hospital_number

CANCER = concepts.MALIGNANT_NEOPLASTIC_DISEASE  # the ancestor whose descendants have slides
LUNG = frozenset({concepts.LUNG_CANCER, concepts.NSCLC, concepts.SCLC})
DOWNSAMPLE = 4  # between levels, as Aperio's scanners write them
MAX_PERSONS = 1_000
MIN_SIDE, MAX_SIDE = 256, 16_384  # level 0, pixels
MIN_LEVEL_SIDE = 16  # the smallest level's shorter side, pixels
MAX_LEVELS = 4
SCANNERS = (("SS1302", 0.5040), ("SS7451", 0.4990), ("SS12039", 0.5020))  # serial, MPP at 20x
FORTY_SHARE = 0.3  # slides scanned at 40x (MPP halved)
IHC_SHARE = 0.5  # specimens with an IHC slide beside the H&E
IHC = {"TTF-1": "TTF1", "PD-L1 22C3": "PDL1", "p40": "P40", "Ki-67": "KI67"}  # stain: file code
BLOCKS = ("A1", "A2", "B1")

Point = tuple[int, int]


@dataclass(frozen=True)
class Person:
    """A person of the CDM with a cancer condition: their first one is the specimen's reason."""

    person_id: int
    source_value: str  # the CDM's person_source_value ('' when empty)
    diagnosed: date
    condition_concept_id: int


@dataclass(frozen=True)
class Identity:
    """What a hospital's systems print on a person's slide label: never a real person's."""

    family: str
    given: str
    hospital_number: str  # the synthetic CDM's: SYN and the person's id
    nhs_number: str  # 999 range, spaced 3-3-4, valid modulus-11 check digit

    @property
    def name(self) -> str:
        return f"{self.family.upper()}, {self.given}"


@dataclass(frozen=True)
class Ellipse:
    """A piece of tissue: centre, radii, rotation and the phases of its outline's lobes."""

    cx: float
    cy: float
    rx: float
    ry: float
    angle: float
    phases: tuple[float, float]


@dataclass(frozen=True)
class Slide:
    """One planned slide: who, what, how it was scanned, and its planted geometry."""

    name: str  # file stem: specimen, block, stain code
    person: Person
    identity: Identity
    specimen_id: str
    block: str
    stain: str
    scanner: str
    app_mag: int
    mpp: float
    scanned: datetime
    width: int
    height: int
    levels: int
    tissue: tuple[Ellipse, ...]
    tumours: tuple[tuple[Point, ...], ...]  # polygons, level-0 pixels, not closed
    key: int  # the seed of its pixels

    @property
    def level_sizes(self) -> list[tuple[int, int]]:
        """(width, height) of each level, level 0 first."""
        return [
            (math.ceil(self.width / DOWNSAMPLE**k), math.ceil(self.height / DOWNSAMPLE**k))
            for k in range(self.levels)
        ]

    @property
    def filename_field(self) -> str:
        """Aperio's ``Filename`` as a lab names the scan: hospital number, family name, specimen."""
        return f"{self.identity.hospital_number}_{self.identity.family.upper()}_{self.specimen_id}"

    @property
    def comment(self) -> str:
        """The free-text ``Comment`` a scanning technician types."""
        who = self.identity
        site = "lung" if self.person.condition_concept_id in LUNG else "tissue"
        query = concepts.concept_by_id()[self.person.condition_concept_id].concept_name.lower()
        return (
            f"Pt {who.name} NHS {who.nhs_number} MRN {who.hospital_number}: {site} biopsy, ?{query}"
        )


# ---- who has slides ---------------------------------------------------------------------


def read_persons(omop: Path, persons_limit: int | None = None) -> list[Person]:
    """The persons of the CDM with a condition under Malignant neoplastic disease (the first
    ``persons_limit`` of them by person_id, or the first :data:`MAX_PERSONS`), each with their
    first such condition."""
    import duckdb

    with duckdb.connect(str(omop), read_only=True) as con:
        rows = con.execute(
            "SELECT c.person_id, coalesce(p.person_source_value, ''), c.condition_start_date,"
            " c.condition_concept_id FROM condition_occurrence AS c"
            " JOIN person AS p ON p.person_id = c.person_id"
            " WHERE c.condition_concept_id IN (SELECT descendant_concept_id"
            "  FROM concept_ancestor WHERE ancestor_concept_id = ?)"
            " QUALIFY row_number() OVER (PARTITION BY c.person_id"
            "  ORDER BY c.condition_start_date, c.condition_concept_id) = 1"
            " ORDER BY c.person_id LIMIT ?",
            [CANCER, persons_limit or MAX_PERSONS],
        ).fetchall()
    return [Person(int(p), str(s), d, int(c)) for p, s, d, c in rows]


def check_plan(persons_limit: int | None, width: int, height: int, levels: int) -> None:
    """Refuse, in words, a request outside the bounds: too many persons, a level 0 too small
    or too large, or more levels than the slide has room for."""
    if persons_limit is not None and not 1 <= persons_limit <= MAX_PERSONS:
        raise ValueError(
            f"persons_limit must be between 1 and {MAX_PERSONS:,}, got {persons_limit}"
        )
    for side, value in (("width", width), ("height", height)):
        if not MIN_SIDE <= value <= MAX_SIDE:
            raise ValueError(
                f"the slide's {side} must be between {MIN_SIDE} and {MAX_SIDE:,} pixels,"
                f" got {value}"
            )
    room = 1 + int(math.log(min(width, height) / MIN_LEVEL_SIDE, DOWNSAMPLE) + 1e-9)
    if not 1 <= levels <= min(MAX_LEVELS, room):
        raise ValueError(
            f"a {width} x {height} slide has room for 1 to {min(MAX_LEVELS, room)} levels"
            f" (downsampled by {DOWNSAMPLE}, the smallest at least {MIN_LEVEL_SIDE} pixels on"
            f" a side), got {levels}"
        )


def plan_slides(
    persons: list[Person], *, seed: int, width: int, height: int, levels: int
) -> list[Slide]:
    """Each person's specimen and its slides: the same for the same seed and persons."""
    specimens: set[str] = set()
    slides: list[Slide] = []
    for person in persons:
        rng = random.Random(f"{seed}/slides/{person.person_id}")
        invented = invent_person(rng, set())
        hospital = hospital_number(person.person_id)
        identity = Identity(invented.family, invented.given, hospital, nhs_number(rng))
        day = person.diagnosed + timedelta(days=rng.randint(1, 6))
        scanned = datetime.combine(day, time(rng.randint(8, 17), rng.randint(0, 59)))
        specimen = unique(specimens, partial(_specimen_id, rng, day))
        block = rng.choice(BLOCKS)
        scanner, mpp20 = rng.choice(SCANNERS)
        app_mag = 40 if rng.random() < FORTY_SHARE else 20
        tissue = _tissue(rng, width, height)
        tumours = _tumours(rng, tissue[0], width, height)
        stains = ["H&E"] + ([rng.choice(list(IHC))] if rng.random() < IHC_SHARE else [])
        for n, stain in enumerate(stains):
            name = f"{specimen}_{block}_{IHC.get(stain, 'HE')}"
            digest = hashlib.blake2b(f"{seed}/{name}".encode(), digest_size=8).digest()
            slides.append(
                Slide(
                    name, person, identity, specimen, block, stain, scanner, app_mag,
                    round(mpp20 * 20 / app_mag, 4), scanned + timedelta(hours=26 * n, minutes=7),
                    width, height, levels, tissue, tumours, int.from_bytes(digest, "big"),
                )
            )  # fmt: skip
    return slides


def _specimen_id(rng: random.Random, day: date) -> str:
    """A pathology accession number as a lab writes it: S, the year, a running number."""
    return f"S{day:%y}-{rng.randint(1, 99_999):05d}"


def _tissue(rng: random.Random, width: int, height: int) -> tuple[Ellipse, ...]:
    """One large piece of tissue, sometimes a second smaller one."""
    pieces = [
        Ellipse(
            width * rng.uniform(0.40, 0.60), height * rng.uniform(0.40, 0.60),
            width * rng.uniform(0.28, 0.38), height * rng.uniform(0.28, 0.38),
            rng.uniform(-0.4, 0.4), (rng.uniform(0, 6.3), rng.uniform(0, 6.3)),
        )
    ]  # fmt: skip
    if rng.random() < 0.5:
        corner = rng.choice(((0.15, 0.2), (0.85, 0.8), (0.15, 0.8), (0.85, 0.2)))
        pieces.append(
            Ellipse(
                width * corner[0], height * corner[1], width * 0.1, height * 0.12,
                rng.uniform(0, 3.1), (rng.uniform(0, 6.3), rng.uniform(0, 6.3)),
            )
        )  # fmt: skip
    return tuple(pieces)


def _tumours(
    rng: random.Random, tissue: Ellipse, width: int, height: int
) -> tuple[tuple[Point, ...], ...]:
    """One to three star-shaped polygons inside the main piece of tissue, apart."""
    wanted, placed = rng.randint(1, 3), list[tuple[float, float, float]]()
    radius = min(width, height) * 0.1
    for _ in range(50):
        if len(placed) == wanted:
            break
        r = radius * rng.uniform(0.7, 1.2)
        t, s = rng.uniform(0, 2 * math.pi), rng.uniform(0, 0.5)
        cx = tissue.cx + s * (tissue.rx - r) * math.cos(t)
        cy = tissue.cy + s * (tissue.ry - r) * math.sin(t)
        if all(math.dist((cx, cy), (x, y)) > r + q + radius * 0.3 for x, y, q in placed):
            placed.append((cx, cy, r))
    polygons = []
    for cx, cy, r in placed:
        n = rng.randint(9, 14)
        ring = []
        for i in range(n):
            a = 2 * math.pi * (i + rng.uniform(-0.3, 0.3)) / n
            reach = r * rng.uniform(0.65, 1.25)
            x = min(max(round(cx + reach * math.cos(a)), 0), width - 1)
            y = min(max(round(cy + reach * math.sin(a)), 0), height - 1)
            ring.append((x, y))
        polygons.append(tuple(ring))
    return tuple(polygons)
