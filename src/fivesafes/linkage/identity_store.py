"""A node's identity store: its persons' direct identifiers, apart from the research data.

A SQLite file of its own (``[linkage] identity_store`` in ``node.toml``, created with mode 600),
never the node's data source: no analysis, cohort, API route or page reads it; only the
operator's ``fivesafes node identities`` and the linkage step do (an import contract holds the
rest of the platform away from this module). A load replaces what the store held, in one
transaction, with the rows of a CSV file that pass every check
(:func:`fivesafes.linkage.identifiers.identity`); each row that does not is reported by its line
number, field and reason, never its value, and is not kept. A load that keeps nothing changes
nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from fivesafes.linkage.identifiers import FIELDS, IdentifierError, Identity, identity

REQUIRED = ("person_id", "given_name", "family_name", "date_of_birth")
MAX_ROWS = 100_000_000
MAX_HEADER = 50  # columns
SCHEMA = """
CREATE TABLE IF NOT EXISTS identity (
    person_id INTEGER PRIMARY KEY,
    nhs_number TEXT,
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL,
    date_of_birth TEXT NOT NULL,
    sex TEXT NOT NULL,
    postcode TEXT
);
CREATE TABLE IF NOT EXISTS identity_load (
    loaded_at TEXT NOT NULL,
    rows INTEGER NOT NULL,
    kept INTEGER NOT NULL,
    rejected INTEGER NOT NULL,
    sha256 TEXT NOT NULL
);
"""


class IdentityFileError(ValueError):
    """The file as a whole cannot be loaded (its header, its encoding, its size), in words."""


@dataclass(frozen=True)
class Rejected:
    line: int  # the file's line number (the header is line 1)
    field: str
    reason: str


@dataclass
class LoadReport:
    rows: int = 0
    kept: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    sha256: str = ""

    def reasons(self) -> Counter[tuple[str, str]]:
        """How many rows were refused for each (field, reason)."""
        return Counter((r.field, r.reason) for r in self.rejected)


def read_file(
    path: Path, today: date, progress: Callable[[int], None] | None = None
) -> tuple[list[Identity], LoadReport]:
    """Every row of the CSV file checked: the identities kept and the report. A person or an
    NHS number that appears a second time is refused the second time (the first is kept)."""
    report = LoadReport()
    digest = hashlib.sha256()
    kept: list[Identity] = []
    people: set[int] = set()
    numbers: set[str] = set()
    with path.open("rb") as raw:
        counted = _Counting(raw, digest, progress)
        text = io.TextIOWrapper(io.BufferedReader(counted), encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        try:
            header = [h.strip().lower() for h in next(reader, [])][: MAX_HEADER + 1]
        except (UnicodeDecodeError, csv.Error):
            raise IdentityFileError("The file is not UTF-8 CSV.") from None
        _check_header(header)
        try:
            for number, values in enumerate(reader, start=2):
                report.rows += 1
                if report.rows > MAX_ROWS:
                    raise IdentityFileError(f"The file has more than {MAX_ROWS:,} rows.")
                row = dict(zip(header, values, strict=False))
                try:
                    if len(values) != len(header):
                        raise IdentifierError("row", "has a different number of fields")
                    person = identity(row, today)
                    if person.person_id in people:
                        raise IdentifierError("person_id", "appears on an earlier row")
                    if person.nhs_number is not None and person.nhs_number in numbers:
                        raise IdentifierError("nhs_number", "is an earlier row's too")
                except IdentifierError as exc:
                    report.rejected.append(Rejected(number, exc.field, exc.reason))
                    continue
                people.add(person.person_id)
                if person.nhs_number is not None:
                    numbers.add(person.nhs_number)
                kept.append(person)
        except UnicodeDecodeError:
            raise IdentityFileError("The file is not UTF-8 text.") from None
        except csv.Error:
            raise IdentityFileError(f"The file is not CSV past line {report.rows + 1}.") from None
    report.kept = len(kept)
    report.sha256 = digest.hexdigest()
    return kept, report


def _check_header(header: list[str]) -> None:
    if len(header) > MAX_HEADER:
        raise IdentityFileError(f"The file has more than {MAX_HEADER} columns.")
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise IdentityFileError(
            "The file's first line must name its columns; missing: "
            + ", ".join(missing)
            + f" (the columns are {', '.join(FIELDS)})."
        )
    if len(set(header)) != len(header):
        raise IdentityFileError("A column is named twice in the file's first line.")


class _Counting(io.RawIOBase):
    """The file's bytes as read: hashed, and counted for a progress bar."""

    def __init__(self, raw: io.BufferedReader, digest: hashlib._Hash,
                 progress: Callable[[int], None] | None) -> None:  # fmt: skip
        self._raw, self._digest, self._progress = raw, digest, progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self._digest.update(data)
        if self._progress is not None and data:
            self._progress(len(data))
        return len(data)


def _private(path: Path) -> None:
    """The file exists, readable and writable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    os.chmod(path, 0o600)


class IdentityStore:
    """The store at ``path`` (made, mode 600, on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        _private(self.path)
        con = sqlite3.connect(self.path, isolation_level=None)
        con.executescript(SCHEMA)
        return con

    def replace(self, identities: list[Identity], report: LoadReport, now: datetime) -> None:
        """What the store holds becomes ``identities``, in one transaction."""
        if not identities:
            raise IdentityFileError("No row of the file could be kept: nothing was changed.")
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute("DELETE FROM identity")
            con.executemany(
                "INSERT INTO identity VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    (p.person_id, p.nhs_number, p.given_name, p.family_name,
                     p.date_of_birth.isoformat(), p.sex, p.postcode)
                    for p in identities
                ),
            )  # fmt: skip
            con.execute(
                "INSERT INTO identity_load VALUES (?, ?, ?, ?, ?)",
                (now.isoformat(), report.rows, report.kept, len(report.rejected), report.sha256),
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    def identities(self) -> Iterator[Identity]:
        """Every identity held, by person_id (for the linkage step only)."""
        con = self._connect()
        try:
            for row in con.execute("SELECT * FROM identity ORDER BY person_id"):
                yield Identity(row[0], row[1], row[2], row[3], date.fromisoformat(row[4]),
                               row[5], row[6])  # fmt: skip
        finally:
            con.close()

    def status(self) -> dict[str, object]:
        """Counts only: how many persons, how many with an NHS number and a postcode, and the
        last load (when, rows read, kept, refused, the file's SHA-256)."""
        con = self._connect()
        try:
            persons, with_nhs, with_postcode = con.execute(
                "SELECT count(*), count(nhs_number), count(postcode) FROM identity"
            ).fetchone()
            last = con.execute(
                "SELECT loaded_at, rows, kept, rejected, sha256 FROM identity_load"
                " ORDER BY rowid DESC LIMIT 1"
            ).fetchone()
        finally:
            con.close()
        loaded = None
        if last is not None:
            loaded = dict(zip(("at", "rows", "kept", "rejected", "sha256"), last, strict=True))
        return {"persons": persons, "with_nhs_number": with_nhs, "with_postcode": with_postcode,
                "last_load": loaded}  # fmt: skip
