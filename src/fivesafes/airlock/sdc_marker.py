"""The marker ``fivesafes sdc check --out`` leaves beside the table it writes, so the airlock
judges that table under the profile it was made under.

``fivesafes sdc check … --profile acro --out results/`` writes the released table as a plain
CSV, ``results/output_0_0.csv``, and beside it ``results/output_0_0.sdc.json``::

    {"fivesafes_sdc_check": 1, "file": "output_0_0.csv",
     "sha256": "<the CSV's sha256>", "profile": "acro"}

The CSV stays a CSV (no comment lines for a researcher's tools to trip over). A researcher adds
both files to a release request; at submission the pre-screen judges a CSV whose bytes have a
marker's sha256 under that marker's profile (``screening``), and says so: "judged under profile
'acro' as made by sdc check". Where it cannot, it says why and judges under the service's
own profile:

| the marker                                          | the CSV is judged under            |
| --------------------------------------------------- | ---------------------------------- |
| its sha256 is the CSV's, its profile known here     | that profile (the service's        |
|                                                     | threshold and zeros rule if these  |
|                                                     | are stricter)                      |
| its sha256 is the CSV's, its profile unknown here   | the service's profile              |
| names the CSV (``file``, or ``<stem>.sdc.json``) but | the service's profile: the table  |
| its sha256 is not the CSV's                         | changed after ``sdc check``         |
| names the CSV but cannot be read                    | the service's profile              |
| none                                                | the service's profile              |

A marker is the researcher's own claim, not a signature: the checkers see which profile was
used and why. The marker itself holds no data; its own pre-screen says what it is.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

MARK = "fivesafes_sdc_check"
FORMAT = 1
SUFFIX = ".sdc.json"
KEYS = frozenset({MARK, "file", "sha256", "profile"})
MAX_VALUE = 200  # a marker's strings are names and a hash, never longer


@dataclass(frozen=True)
class Marker:
    """A readable marker: the table it is for (by name and bytes) and its profile."""

    name: str  # the marker file's own name
    file: str
    sha256: str
    profile: str
    extra: bool = False  # it holds more than a marker does


@dataclass(frozen=True)
class Unreadable:
    """A file that says it is a marker but cannot be read as one, and why."""

    name: str
    file: str  # the table it names, if it names one ("" if not)
    why: str


def marker_name(csv_name: str) -> str:
    """``output_0_0.csv`` -> ``output_0_0.sdc.json``."""
    return PurePosixPath(csv_name).stem + SUFFIX


def marker_bytes(csv_name: str, content: bytes, profile: str) -> bytes:
    """The marker of the CSV ``csv_name`` with bytes ``content`` made under ``profile``."""
    document = {
        MARK: FORMAT,
        "file": csv_name,
        "sha256": hashlib.sha256(content).hexdigest(),
        "profile": profile,
    }
    return (json.dumps(document, indent=2) + "\n").encode()


def is_marker(document: Any) -> bool:
    return isinstance(document, dict) and MARK in document


def read_marker(name: str, document: Any) -> Marker | Unreadable | None:
    """The marker in ``document`` (the JSON file ``name``), ``Unreadable`` if it says it is
    one but is not, ``None`` if it is not a marker at all."""
    if not is_marker(document):
        return None
    named = document.get("file")
    file = named if isinstance(named, str) and len(named) <= MAX_VALUE else ""
    if document.get(MARK) != FORMAT:
        return Unreadable(name, file, "a marker format this service does not read")
    values = [document.get(k) for k in ("file", "sha256", "profile")]
    if not all(isinstance(v, str) and 0 < len(v) <= MAX_VALUE for v in values):
        return Unreadable(name, file, "its file, sha256 or profile is missing")
    return Marker(
        name,
        document["file"],
        document["sha256"].lower(),
        document["profile"],
        extra=bool(set(document) - KEYS),
    )


def names_table(marker: Marker | Unreadable, csv_name: str) -> bool:
    """Whether ``marker`` says it is for the CSV called ``csv_name`` (by its ``file``, or by its
    own name ``<stem>.sdc.json``)."""
    return marker.file == csv_name or marker.name == marker_name(csv_name)
