"""Registering slides at a node (``fivesafes node slides add``): each slide read by its format's
reader (``reading``), known from then on by a keyed pseudonymous id and its allow-listed facts,
linked to its person and specimen, and written into the node's data.

| table | one row per slide: | read by |
| --- | --- | --- |
| ``pathology_slide`` | pseudonymous id, person, specimen, stain, format, size, levels, | analyses |
|  | microns per pixel, objective power, how it was linked | cohorts |
| ``pathology_slide_file`` | where its file is, its size and SHA-256 | the node only |

**The slide's id** is ``SL`` and 20 hex digits of HMAC-SHA256(node key, "fivesafes-slide-v1",
the file's SHA-256): the same file gives the same id at the node, and nothing outside the node
can tell which file it is. A file registered again (the same bytes) keeps its row; a file
whose bytes are those of another is a ``duplicate``.

**Its person** comes from the specimen map (``--specimen-map FILE``, a CSV with ``file`` (its
name, or its path relative to the folder given), ``patient_id`` (the hospital's identifier of
the person), and optionally ``specimen`` (the specimen's ``specimen_source_id`` in the CDM) and
``stain``): the identifier is turned into the node's pseudonym with its key
(``fivesafes.node.pseudonyms``, as the CDM's ``person_source_value`` holds it) and so to a
``person_id``. Never from the slide file: its label and metadata are not read (the reader's
allow-list). How each slide was linked is kept (``link``): ``linked``, ``no_map`` (the map
does not name the file), ``no_match`` (no person has that pseudonym) or ``ambiguous``.

**Bad input** is counted per file with a reason code (``unsupported_format``,
``unreadable``, ``not_a_pyramid``, ``duplicate``), never with a library's message; a map that
cannot be read is refused in words before anything is written; the rows of one run are
written in one transaction.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fivesafes.protocol.errors import InvalidRequest
from fivesafes.slides.reading import SlideInfo, SlideUnreadable, open_slide

SLIDE_SUFFIXES = frozenset({".svs", ".ndpi", ".tif", ".tiff", ".qptiff", ".scn", ".bif", ".vms"})
MAX_MAP_BYTES = 16 * 1024 * 1024
MAX_MAP_ROWS = 1_000_000
MAX_FIELD = 200
_DOMAIN = b"fivesafes-slide-v1\x00"

SLIDE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("slide_id", "VARCHAR NOT NULL"),
    ("person_id", "BIGINT"),
    ("specimen_id", "BIGINT"),
    ("stain", "VARCHAR"),
    ("format", "VARCHAR NOT NULL"),
    ("width", "BIGINT NOT NULL"),
    ("height", "BIGINT NOT NULL"),
    ("level_count", "INTEGER NOT NULL"),
    ("mpp_x", "DOUBLE"),
    ("mpp_y", "DOUBLE"),
    ("objective_power", "DOUBLE"),
    ("link", "VARCHAR NOT NULL"),  # linked | no_map | no_match | ambiguous
    ("registered_at", "TIMESTAMP NOT NULL"),
)
FILE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("slide_id", "VARCHAR NOT NULL"),
    ("path", "VARCHAR NOT NULL"),
    ("size", "BIGINT NOT NULL"),
    ("sha256", "VARCHAR NOT NULL"),
)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class MapRow:
    patient_id: str
    specimen: str | None
    stain: str | None


@dataclass(frozen=True)
class Registered:
    """One slide read: its id, facts and where its file is (the node's own)."""

    slide_id: str
    info: SlideInfo
    path: str
    size: int
    sha256: str
    mapped: MapRow | None


@dataclass
class RegisterReport:
    """What a run did, in counts (and per file its outcome, the operator's own paths)."""

    files: int = 0
    registered: int = 0
    already: int = 0  # the same bytes registered before: kept as they were
    refused: Counter[str] = field(default_factory=Counter)  # by reason
    links: Counter[str] = field(default_factory=Counter)  # linked, no_map, no_match, ...
    rows: list[tuple[str, str, str]] = field(default_factory=list)  # path, outcome, reason

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "registered": self.registered,
            "already_registered": self.already,
            "refused": dict(sorted(self.refused.items())),
            "links": dict(sorted(self.links.items())),
        }


def slide_id(key: bytes, sha256: str) -> str:
    """The slide's pseudonymous id at this node (see the module's notes)."""
    digest = hmac.new(key, _DOMAIN + sha256.encode(), hashlib.sha256).hexdigest()
    return "SL" + digest[:20].upper()


def read_map(path: Path) -> dict[str, MapRow]:
    """The specimen map: by file name and by relative path, each row's identifier, specimen
    and stain. ``InvalidRequest`` in words (never quoting a value) if it cannot be used."""
    if path.stat().st_size > MAX_MAP_BYTES:
        raise InvalidRequest(f"The specimen map is larger than {MAX_MAP_BYTES:,} bytes.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        raise InvalidRequest("The specimen map cannot be read as UTF-8 text.") from None
    reader = csv.DictReader(io.StringIO(text))
    columns = set(reader.fieldnames or ())
    if not {"file", "patient_id"} <= columns:
        raise InvalidRequest("The specimen map needs the columns file and patient_id.")
    found: dict[str, MapRow] = {}
    for number, row in enumerate(reader, start=2):
        if number > MAX_MAP_ROWS + 1:
            raise InvalidRequest(f"The specimen map has more than {MAX_MAP_ROWS:,} rows.")
        values = {
            k: (row.get(k) or "").strip() for k in ("file", "patient_id", "specimen", "stain")
        }
        if not values["file"] or not values["patient_id"]:
            raise InvalidRequest(f"Row {number} of the specimen map lacks a file or patient_id.")
        if any(len(v) > MAX_FIELD for v in values.values()):
            raise InvalidRequest(f"A value on row {number} is longer than {MAX_FIELD} characters.")
        found[values["file"]] = MapRow(
            values["patient_id"], values["specimen"] or None, values["stain"] or None
        )
    return found


def slide_paths(sources: Sequence[Path]) -> Iterator[tuple[Path, Path]]:
    """Each slide under ``sources`` with the folder it was found under: files with a slide's
    suffix, and each folder of DICOM files (a DICOM-WSI slide), in sorted order."""
    for source in sources:
        if source.is_file():
            yield source, source.parent
            continue
        for folder, folders, names in os.walk(source):
            folders.sort()
            here = Path(folder)
            if any(n.lower().endswith(".dcm") for n in names):
                yield here, source
            for name in sorted(names):
                if Path(name).suffix.lower() in SLIDE_SUFFIXES:
                    yield here / name, source


def file_sha256(path: Path) -> tuple[str, int]:
    """The SHA-256 and size of a file, or of a DICOM-WSI folder's files in name order."""
    digest = hashlib.sha256()
    size = 0
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    for one in files:
        with one.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
    return digest.hexdigest(), size


def read_slides(
    sources: Sequence[Path],
    key: bytes,
    specimen_map: dict[str, MapRow] | None,
    report: RegisterReport,
    progress: Progress | None = None,
) -> list[Registered]:
    """Every slide under ``sources`` read (its facts through the allow-list) and hashed."""
    found = list(slide_paths(sources))
    report.files = len(found)
    seen: set[str] = set()
    slides: list[Registered] = []
    for done, (path, root) in enumerate(found, start=1):
        try:
            slide = open_slide(path)
            info = slide.info
            slide.close()
            sha, size = file_sha256(path)
        except SlideUnreadable as exc:
            report.refused[exc.reason] += 1
            report.rows.append((str(path), "refused", exc.reason))
        else:
            if sha in seen:
                report.refused["duplicate"] += 1
                report.rows.append((str(path), "refused", "duplicate"))
            else:
                seen.add(sha)
                mapped = _mapped(specimen_map, path, root)
                slides.append(Registered(slide_id(key, sha), info, str(path), size, sha, mapped))
        if progress is not None:
            progress(done, len(found))
    return slides


def _mapped(specimen_map: dict[str, MapRow] | None, path: Path, root: Path) -> MapRow | None:
    if not specimen_map:
        return None
    relative = str(path.relative_to(root)) if path.is_relative_to(root) else path.name
    return specimen_map.get(relative) or specimen_map.get(path.name)


def write_slides(
    con: Any,
    slides: Sequence[Registered],
    pseudonym_of: Callable[[str], str | None],
    report: RegisterReport,
    now: datetime | None = None,
) -> None:
    """Write ``slides`` into the node's data (a DuckDB connection) in one transaction, each
    linked to its person and specimen; a slide registered before keeps its row."""
    from fivesafes.imaging.tables import create_sql

    now = now or datetime.now(UTC).replace(tzinfo=None)
    con.execute(create_sql("pathology_slide", SLIDE_COLUMNS))
    con.execute(create_sql("pathology_slide_file", FILE_COLUMNS))
    known = {row[0] for row in con.execute("SELECT slide_id FROM pathology_slide").fetchall()}
    persons = _persons(con)
    specimens = _specimens(con)
    con.execute("BEGIN TRANSACTION")
    try:
        for slide in slides:
            if slide.slide_id in known:
                report.already += 1
                report.rows.append((slide.path, "already_registered", ""))
                continue
            person_id, link = _link(slide.mapped, pseudonym_of, persons)
            specimen_id = None
            if person_id is not None and slide.mapped is not None and slide.mapped.specimen:
                specimen_id = specimens.get((person_id, slide.mapped.specimen))
            info = slide.info
            con.execute(
                "INSERT INTO pathology_slide VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [slide.slide_id, person_id, specimen_id,
                 slide.mapped.stain if slide.mapped else None, info.format, info.width,
                 info.height, len(info.levels), info.mpp_x, info.mpp_y, info.objective_power,
                 link, now],
            )  # fmt: skip
            con.execute(
                "INSERT INTO pathology_slide_file VALUES (?, ?, ?, ?)",
                [slide.slide_id, slide.path, slide.size, slide.sha256],
            )
            report.registered += 1
            report.links[link] += 1
            report.rows.append((slide.path, "registered", link))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _persons(con: Any) -> dict[str, list[int]]:
    """Each pseudonym of the CDM's ``person_source_value`` and its persons."""
    rows = con.execute(
        "SELECT person_source_value, person_id FROM person WHERE person_source_value IS NOT NULL"
    ).fetchall()
    found: dict[str, list[int]] = {}
    for pseudonym, person_id in rows:
        found.setdefault(str(pseudonym), []).append(int(person_id))
    return found


def _specimens(con: Any) -> dict[tuple[int, str], int]:
    """Each (person, specimen_source_id) of the CDM's ``specimen`` table: its ``specimen_id``."""
    tables = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "specimen" not in tables:
        return {}
    rows = con.execute(
        "SELECT person_id, specimen_source_id, specimen_id FROM specimen"
        " WHERE specimen_source_id IS NOT NULL"
    ).fetchall()
    return {(int(p), str(s)): int(i) for p, s, i in rows}


def _link(
    mapped: MapRow | None,
    pseudonym_of: Callable[[str], str | None],
    persons: dict[str, list[int]],
) -> tuple[int | None, str]:
    if mapped is None:
        return None, "no_map"
    pseudonym = pseudonym_of(mapped.patient_id)
    found = persons.get(pseudonym or "", [])
    if not found:
        return None, "no_match"
    if len(set(found)) > 1:
        return None, "ambiguous"
    return found[0], "linked"
