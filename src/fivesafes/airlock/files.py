"""What a release request may carry, and the automatic pre-screen every file gets.

**Accepted at submission**, and nothing else (refused with the reason, naming the file):

| kind            | extension | content must be                  | limit         |
| --------------- | --------- | ------------------------------- | ------------- |
| table           | ``.csv``  | UTF-8 text, a header and rows   | 10,000 rows   |
| structured data | ``.json`` | UTF-8 JSON                      |               |
| text            | ``.txt``  | UTF-8 text                      |               |
| figure          | ``.png``  | a PNG (its signature bytes)     |               |
| report          | ``.pdf``  | a PDF (its signature bytes)     |               |

Every file at most 5 MB, at most 20 files in a request; a file also has a *type* (output,
supporting, code) and a description of what it shows, its population and its denominators.

**Pre-screen**, shown to the checkers beside each file (never a verdict that releases anything
on its own): a verdict, a *headline* saying it in words, a *summary* (findings grouped by kind,
with counts) and the *detail* (every finding, at most ``MAX_DETAIL`` lines). A service judges
a CSV through the disclosure engine under its profile (``screening``); without a profile:

| file                                   | what is checked                                 |
| -------------------------------------- | ----------------------------------------------- |
| ``.csv``                               | every whole-number cell from 1 to threshold - 1 |
|                                        | in a numeric column: a small count, ``review``  |
| ``.json`` with a platform gate record  | the node's or hub's own verdict and rules       |
| ACRO ``results.json``                  | each output's status (pass / review / fail)     |
| an ``sdc check`` marker (``sdc_marker``)| what it is: it holds no data                   |
| anything else                          | ``not checked``: the checkers look themselves   |
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any

from fivesafes.airlock import sdc_marker
from fivesafes.protocol import bounded_json
from fivesafes.protocol.errors import InvalidRequest
from fivesafes.sdc.profiles import PROFILES

MAX_FILE_BYTES = 5_000_000
MAX_DETAIL = 200  # detail lines kept per file; the summary counts every finding
MAX_FILES = 20
MAX_CSV_ROWS = 10_000
TEXT = frozenset({".csv", ".json", ".txt"})
SIGNATURES = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF-"}
ALLOWED = TEXT | SIGNATURES.keys()


class FileType(StrEnum):
    OUTPUT = "output"
    SUPPORTING = "supporting"
    CODE = "code"


class FileRefused(InvalidRequest):
    """A file the airlock does not accept; the message names the file and why."""


@dataclass(frozen=True)
class RequestFile:
    name: str
    content: bytes
    type: FileType = FileType.OUTPUT
    description: str = ""


VERDICT_WORDS = {
    "pass": "passes the checks",
    "review": "for the checkers to review",
    "fail": "fails the checks",
    "not checked": "not checked",
}


@dataclass(frozen=True)
class PreScreen:
    verdict: str  # pass | review | fail | not checked
    findings: list[str] = field(default_factory=list)  # the detail: every finding, capped
    headline: str = ""  # the verdict in words, one line
    summary: list[str] = field(default_factory=list)  # findings grouped by kind, and notes

    @property
    def title(self) -> str:
        """The headline (a pre-screen kept before headlines were: its verdict in words)."""
        return self.headline or VERDICT_WORDS.get(self.verdict, self.verdict)

    def as_dict(self) -> dict[str, object]:
        return {
            "verdict": self.verdict,
            "headline": self.title,
            "summary": list(self.summary),
            "findings": list(self.findings),
        }


def capped(lines: Sequence[str]) -> list[str]:
    """At most ``MAX_DETAIL`` lines, the last saying how many more there were."""
    if len(lines) <= MAX_DETAIL:
        return list(lines)
    more = len(lines) - MAX_DETAIL + 1
    return [*lines[: MAX_DETAIL - 1], f"… and {more:,} more (the summary counts them all)"]


def check_files(files: Sequence[RequestFile]) -> None:
    """Raise ``FileRefused`` for the first file the airlock does not accept."""
    if not files:
        raise FileRefused("A release request needs at least one file.")
    if len(files) > MAX_FILES:
        raise FileRefused(f"A release request holds at most {MAX_FILES} files.")
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise FileRefused("Two files of a request have the same name.")
    for file in files:
        check_file(file)


def check_file(file: RequestFile) -> None:
    name = file.name
    path = PurePosixPath(name)
    if not name or path.name != name or name.startswith("."):
        raise FileRefused(f"{name!r} is not a plain file name.")
    suffix = path.suffix.lower()
    if suffix not in ALLOWED:
        raise FileRefused(
            f"{name}: a {suffix or 'file without an extension'} file cannot leave; "
            f"allowed: {', '.join(sorted(ALLOWED))}."
        )
    if len(file.content) > MAX_FILE_BYTES:
        raise FileRefused(f"{name} is larger than {MAX_FILE_BYTES // 1_000_000} MB.")
    if not file.content:
        raise FileRefused(f"{name} is empty.")
    if suffix in SIGNATURES:
        if not file.content.startswith(SIGNATURES[suffix]):
            raise FileRefused(f"{name} is not a {suffix[1:].upper()} file.")
        return
    text = _text(file)
    if suffix == ".json":
        try:
            bounded_json.loads(text)
        except bounded_json.TooDeep:
            raise FileRefused(
                f"{name} is nested more than {bounded_json.MAX_DEPTH} levels deep."
            ) from None
        except ValueError:
            raise FileRefused(f"{name} is not valid JSON.") from None
    if suffix == ".csv":
        rows = sum(1 for _ in csv.reader(io.StringIO(text))) - 1
        if rows > MAX_CSV_ROWS:
            raise FileRefused(f"{name} has more than {MAX_CSV_ROWS:,} rows.")


def _text(file: RequestFile) -> str:
    try:
        text = file.content.decode("utf-8")
    except UnicodeDecodeError:
        raise FileRefused(f"{file.name} is not UTF-8 text.") from None
    if "\x00" in text:
        raise FileRefused(f"{file.name} is not text.")
    return text


def pre_screen(file: RequestFile, threshold: int) -> PreScreen:
    """The automatic report for one accepted file (see the module's table); any error in the
    check is reported as ``not checked``, never as a pass."""
    suffix = PurePosixPath(file.name).suffix.lower()
    try:
        if suffix == ".csv":
            return _small_counts(file.content.decode("utf-8"), threshold)
        if suffix == ".json":
            return _json(file.name, bounded_json.loads(file.content))
    except Exception as exc:  # noqa: BLE001 - a failed check is not a pass
        return not_checked(f"the pre-screen failed ({type(exc).__name__})")
    return not_checked(f"no automatic check for a {suffix or 'file without an extension'} file")


def not_checked(why: str) -> PreScreen:
    return PreScreen("not checked", [why], f"not checked: {why}")


def _small_counts(text: str, threshold: int) -> PreScreen:
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2:
        return not_checked("no rows")
    header, body = rows[0], rows[1:]
    findings = []
    for column, name in enumerate(header):
        cells = [(n, r[column].strip()) for n, r in enumerate(body, 1) if column < len(r)]
        values = [(n, _number(c)) for n, c in cells if c]
        if not values or any(v is None for _, v in values):
            continue  # a label column, not a numeric one
        for row, value in values:
            if value is not None and value.is_integer() and 0 < value < threshold:
                findings.append(f"row {row}, column {name!r}: a count under {threshold}")
    if not findings:
        return PreScreen("pass", [], "passes the checks")
    small = f"unsuppressed small cells: {_cells(len(findings))} below {threshold}"
    return PreScreen("review", capped(findings), small, [small])


def _cells(n: int) -> str:
    return f"{n:,} count" + ("" if n == 1 else "s")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _json(name: str, document: Any) -> PreScreen:
    marker = sdc_marker.read_marker(name, document)
    if isinstance(marker, sdc_marker.Unreadable):
        why = f"an sdc check marker that cannot be read: {marker.why}"
        return PreScreen("review", [why], why)
    if marker is not None:
        known = (
            f"profile {marker.profile!r}"
            if marker.profile in PROFILES
            else "a profile this service does not know"
        )
        said = f"an sdc check marker ({known}): it holds no data"
        if marker.extra:
            more = "an sdc check marker holding more than a marker does: look at it"
            return PreScreen("review", [more], more)
        return PreScreen("pass", [said], said)
    if isinstance(document, dict) and isinstance(document.get("gate"), dict):
        gate = document["gate"]
        rules = ", ".join(str(r) for r in gate.get("rules", [])) or "none"
        verdict = str(gate.get("verdict", "not checked"))
        said = f"the gate's own verdict: {verdict} (rules: {rules})"
        return PreScreen(verdict, [f"gate rules: {rules}"], said)
    if isinstance(document, dict) and isinstance(document.get("results"), dict):
        statuses = {
            uid: str(result.get("status", "review"))
            for uid, result in document["results"].items()
            if isinstance(result, dict)
        }
        found = set(statuses.values())
        worst = "fail" if "fail" in found else "review" if "review" in found else "pass"
        counted = ", ".join(
            f"{sum(1 for s in statuses.values() if s == status)} {status}"
            for status in ("fail", "review", "pass")
            if status in found
        )
        said = f"ACRO results: {len(statuses)} outputs ({counted or 'none'})"
        detail = [f"{uid}: {status}" for uid, status in sorted(statuses.items())]
        return PreScreen(worst, capped(detail), said)
    return not_checked("no gate record, ACRO results or sdc check marker in this JSON")
