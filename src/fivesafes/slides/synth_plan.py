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

Where each specimen was taken (its anatomic site, a SNOMED CT body structure: :data:`SITES`):
for a lung cancer one of the upper lobe, the lower lobe or the lung unspecified, a third each;
for any other cancer a lymph node. The lobes are under the lung in SNOMED's hierarchy
(:data:`SITE_PARENTS`). Drawn from a stream of its own, so the rest of the plan is as it was
before sites were drawn. The specimens go into the CDM's ``specimen`` table, as a TRE's
loading pipeline would put the lab's records there (:func:`record_specimens`), each site as
the CDM's vocabulary has it, or added to it (:func:`site_concepts`).

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
from typing import Any

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
class Site:
    """An anatomic site: a SNOMED CT body structure (the OMOP concept is the node's own)."""

    code: str
    name: str


LUNG_SITE = Site("39607008", "Lung structure")
UPPER_LOBE = Site("45653009", "Structure of upper lobe of lung")
LOWER_LOBE = Site("90572001", "Structure of lower lobe of lung")
LYMPH_NODE = Site("59441001", "Structure of lymph node")
SITES = (LUNG_SITE, UPPER_LOBE, LOWER_LOBE, LYMPH_NODE)
SITE_PARENTS = {UPPER_LOBE: LUNG_SITE, LOWER_LOBE: LUNG_SITE}
"""child -> parent: the lobes are parts of the lung (in SNOMED through "lobe of lung")."""


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
    site: Site  # the specimen's anatomic site

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
        site = _site(random.Random(f"{seed}/site/{person.person_id}"), person)
        for n, stain in enumerate(stains):
            name = f"{specimen}_{block}_{IHC.get(stain, 'HE')}"
            digest = hashlib.blake2b(f"{seed}/{name}".encode(), digest_size=8).digest()
            slides.append(
                Slide(
                    name, person, identity, specimen, block, stain, scanner, app_mag,
                    round(mpp20 * 20 / app_mag, 4), scanned + timedelta(hours=26 * n, minutes=7),
                    width, height, levels, tissue, tumours, int.from_bytes(digest, "big"), site,
                )
            )  # fmt: skip
    return slides


def _site(rng: random.Random, person: Person) -> Site:
    """Where the specimen was taken: a lobe of the lung or the lung for a lung cancer, a lymph
    node for any other."""
    if person.condition_concept_id in LUNG:
        return rng.choice((UPPER_LOBE, LOWER_LOBE, LUNG_SITE))
    return LYMPH_NODE


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


# ---- the CDM's specimens ----------------------------------------------------------------

SPECIMEN_TYPE_EHR = 32817  # OMOP's type concept "EHR"
LOCAL_CONCEPTS = 2_000_000_000  # OMOP keeps concept ids from here up for a site's own


def record_specimens(omop: Path, slides: list[Slide]) -> tuple[int, dict[Site, int]]:
    """Each slide's specimen as a row of the CDM's ``specimen`` table, as a TRE's loading
    pipeline would load the lab's records (the table made with the CDM v5.4 columns if the
    synthetic CDM has none): ``specimen_source_id`` the lab's accession number (what the
    specimen map names), ``specimen_date`` the date of the cancer diagnosis,
    ``anatomic_site_concept_id`` the site's concept (:func:`site_concepts`), the concept ``0``
    (no standard concept is claimed for a synthetic specimen). A specimen already there (by
    person and accession number) is kept. Returns how many rows were added, and each site's
    concept id."""
    import duckdb

    from fivesafes.data.cdm_spec import duckdb_table_ddl

    wanted = {(s.person.person_id, s.specimen_id): s for s in slides}
    with duckdb.connect(str(omop)) as con:
        sites = site_concepts(con)
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "specimen" not in tables:
            con.execute(duckdb_table_ddl("specimen", "specimen"))
        have = {
            (int(p), str(a))
            for p, a in con.execute(
                "SELECT person_id, specimen_source_id FROM specimen"
                " WHERE specimen_source_id IS NOT NULL"
            ).fetchall()
        }
        biggest = con.execute("SELECT coalesce(max(specimen_id), 0) FROM specimen").fetchone()
        start = int(biggest[0]) if biggest else 0
        new = [key for key in sorted(wanted) if key not in have]
        rows = []
        for n, (person, accession) in enumerate(new, start=1):
            slide = wanted[(person, accession)]
            rows.append([start + n, person, SPECIMEN_TYPE_EHR, slide.person.diagnosed,
                         sites[slide.site], accession])  # fmt: skip
        if rows:
            con.executemany(
                "INSERT INTO specimen (specimen_id, person_id, specimen_concept_id,"
                " specimen_type_concept_id, specimen_date, anatomic_site_concept_id,"
                " specimen_source_id) VALUES (?, ?, 0, ?, ?, ?, ?)",
                rows,
            )
    return len(rows), sites


def site_concepts(con: Any) -> dict[Site, int]:
    """Each anatomic site's concept (:data:`SITES`) in the CDM's vocabulary (a DuckDB
    connection): the standard SNOMED concept of the Spec Anatomic Site domain with the site's
    code, as a full OMOP vocabulary holds it. A vocabulary without them (the synthetic CDM's
    holds no body structure) is given them, with ids from OMOP's range for local concepts
    (2,000,000,000 up, the next free, in the order of their codes), a self row each in
    ``concept_ancestor`` and the lobes' rows under the lung."""
    wanted = sorted(SITES, key=lambda site: site.code)
    codes = [site.code for site in wanted]
    found = {
        str(code): int(concept)
        for code, concept in con.execute(
            "SELECT concept_code, min(concept_id) FROM concept WHERE vocabulary_id = 'SNOMED'"
            " AND domain_id = 'Spec Anatomic Site' AND standard_concept = 'S'"
            " AND concept_code IN (SELECT unnest(?)) GROUP BY concept_code",
            [codes],
        ).fetchall()
    }
    missing = [site for site in wanted if site.code not in found]
    if missing:
        top = con.execute(
            "SELECT coalesce(max(concept_id), ?) FROM concept WHERE concept_id >= ?",
            [LOCAL_CONCEPTS, LOCAL_CONCEPTS],
        ).fetchone()
        first = int(top[0]) if top else LOCAL_CONCEPTS
        for n, site in enumerate(missing, start=1):
            found[site.code] = first + n
        con.executemany(
            "INSERT INTO concept (concept_id, concept_name, domain_id, vocabulary_id,"
            " concept_class_id, standard_concept, concept_code, valid_start_date,"
            " valid_end_date) VALUES (?, ?, 'Spec Anatomic Site', 'SNOMED', 'Body Structure',"
            " 'S', ?, DATE '1970-01-01', DATE '2099-12-31')",
            [[found[site.code], site.name, site.code] for site in missing],
        )
        ancestry = [(site, site, 0) for site in missing] + [
            (SITE_PARENTS[site], site, 1) for site in missing if site in SITE_PARENTS
        ]
        con.executemany(
            "INSERT INTO concept_ancestor VALUES (?, ?, ?, ?)",
            [[found[a.code], found[d.code], depth, depth] for a, d, depth in ancestry],
        )
    return {site: found[site.code] for site in wanted}
