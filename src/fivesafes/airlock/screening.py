"""The pre-screen at submission, through the disclosure engine where a file allows it.

A CSV's count columns (every value a whole number, at least 0) are judged cell by cell by the
same rules the gate uses (``fivesafes.sdc.rules``: threshold, zeros) under the service's own
profile, and each count is checked against the profile's rounding base. Other numeric columns
are named as not checked: a magnitude statistic needs its contributors, which a CSV does not
carry. JSON gate records, ACRO ``results.json`` and everything else get
``files.pre_screen``. Any error in a check is ``not checked``, never a pass.

| the table (profile: threshold 10, base 5) | pre-screen                                       |
| ----------------------------------------- | ------------------------------------------------ |
| ``region,n`` / ``north,120`` / ``south,7`` | fail: row 2, column 'n': threshold: fewer than 10 |
|                                           | distinct persons; not a multiple of 5             |
| ``region,n`` / ``north,120`` / ``south,15``| pass                                              |
| ``group,mean_age`` / ``a,51.5``            | review: column 'mean_age' is not counts           |
| ``node,n`` / ``a,120`` / ``b,suppressed`` / ``c,7`` | fail: row 3, column 'n': threshold (a    |
|                                           | withheld cell's marker is skipped, not a label)  |

The pre-screen is shown to the checkers beside the file; it never releases or refuses
anything on its own.
"""

from __future__ import annotations

import csv
import io
from pathlib import PurePosixPath

from fivesafes.airlock.files import PreScreen, RequestFile, pre_screen
from fivesafes.sdc.cells import NO_CONTRIBUTIONS, Cell
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Finding, Outcome, verdict_of
from fivesafes.sdc.rules.threshold import ThresholdRule
from fivesafes.sdc.rules.zeros import ZerosRule

COUNT_RULES = (ThresholdRule(), ZerosRule())
# what a withheld cell reads as in our own CSVs and ACRO's: a column of counts with some of them
# withheld is still a column of counts
MARKERS = frozenset({"suppressed", "—", "-", "na", "n/a", "nan", "*", "withheld", "redacted"})


def screen(file: RequestFile, profile: Profile) -> PreScreen:
    """The pre-screen of one accepted file under ``profile`` (see the module's table)."""
    if PurePosixPath(file.name).suffix.lower() != ".csv":
        return pre_screen(file, profile.threshold)
    try:
        return _table(file.content.decode("utf-8"), profile)
    except Exception as exc:  # noqa: BLE001 - a failed check is not a pass
        return PreScreen("not checked", [f"the pre-screen failed ({type(exc).__name__})"])


def _table(text: str, profile: Profile) -> PreScreen:
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2:
        return PreScreen("not checked", ["no rows"])
    header, body = rows[0], rows[1:]
    findings: list[Finding] = []
    notes: list[str] = []
    unchecked = False
    for column, name in enumerate(header):
        cells = [(n, r[column].strip()) for n, r in enumerate(body, 1) if column < len(r)]
        numbers = [(n, _number(text)) for n, text in cells if text and text.lower() not in MARKERS]
        if not numbers or any(value is None for _, value in numbers):
            continue  # a label column (or markers only)
        if not all(value is not None and value.is_integer() and value >= 0 for _, value in numbers):
            unchecked = True
            notes.append(f"column {name!r} is not counts: not checked")
            continue
        for row, value in numbers:
            assert value is not None
            for finding in _judge(int(value), profile):
                findings.append(finding)
                notes.append(f"row {row}, column {name!r}: {finding.rule}: {finding.reason}")
    verdict = verdict_of(findings).value
    if verdict == "pass" and unchecked:
        verdict = "review"
    return PreScreen(verdict, notes)


def _judge(count: int, profile: Profile) -> list[Finding]:
    cell = Cell(
        row=(),
        column=(),
        records=count,
        persons=count,
        contributors=count,
        missing=0,
        contributions=NO_CONTRIBUTIONS,
        statistic=float(count),
    )
    found = [f for rule in COUNT_RULES if (f := rule.check(cell, "count", "count", profile))]
    base = profile.rounding_base
    if base > 1 and count % base:
        found.append(Finding("rounding", Outcome.REVIEW, f"not a multiple of {base}"))
    return found


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
