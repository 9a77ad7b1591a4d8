"""The pre-screen at submission, through the disclosure engine where a file allows it.

Each file gets one verdict and a **headline** saying it in words, chosen by the first
recogniser that fits, then a **summary** (its findings grouped by kind, with counts: one line
for 612 cells, not 612 lines) and the **detail** (each finding, at most ``files.MAX_DETAIL``),
which the pages and the command line keep folded away:

| recogniser (first that fits) | verdict | headline |
| --- | --- | --- |
| cannot be read, or no rows | not checked | not checked: <why> |
| row-level data (``row_level``) | fail | looks like row-level data (one row per person: …) |
| a count below the threshold | fail | unsuppressed small cells: 3 counts below 10 |
| a zero the profile treats as disclosive | fail | disclosive zeros: 2 zero counts |
| a count off the rounding base | review | counts not rounded to base 10 (41 cells) |
| a numeric column that is not counts | review | partly checked: 1 column not counts ('sd') |
| none of these | pass | passes the checks (2 count columns, 24 cells) |

A CSV's count columns (every value a whole number, at least 0; a withheld cell's marker such as
``suppressed`` or ``—`` is skipped, not a label; not named as a group such as ``age`` or
``region_id``: ``columns``) are judged cell by cell by the rules the gate
uses (``fivesafes.sdc.rules``: threshold, zeros) and against the profile's rounding base. The
profile is the service's own, or the one a table made by ``fivesafes sdc check --profile``
was made under, when its marker is in the request (``sdc_marker``): the summary says which,
and why. Other numeric columns are named as not checked: a magnitude statistic needs its
contributors, which a CSV does not carry. JSON gate records, ACRO ``results.json``, markers
and everything else get ``files.pre_screen``. Any error in a check is ``not checked``, never a
pass. The pre-screen is shown to the checkers beside the file; it never releases or refuses
anything on its own.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from fivesafes.airlock import columns as named
from fivesafes.airlock import sdc_marker
from fivesafes.airlock.bundle import sha256
from fivesafes.airlock.files import PreScreen, RequestFile, capped, not_checked, pre_screen
from fivesafes.airlock.row_level import recognise
from fivesafes.protocol import bounded_json
from fivesafes.sdc.cells import NO_CONTRIBUTIONS, Cell
from fivesafes.sdc.profiles import PROFILES, Profile
from fivesafes.sdc.rules.base import Finding, Outcome, verdict_of
from fivesafes.sdc.rules.threshold import ThresholdRule
from fivesafes.sdc.rules.zeros import ZerosRule

COUNT_RULES = (ThresholdRule(), ZerosRule())
# what a withheld cell reads as in our own CSVs and ACRO's: a column of counts with some of them
# withheld is still a column of counts
MARKERS = frozenset({"suppressed", "—", "-", "na", "n/a", "nan", "*", "withheld", "redacted"})
MAX_RANGES = 4

Markers = Sequence[sdc_marker.Marker | sdc_marker.Unreadable]


@dataclass(frozen=True)
class CellFinding:
    row: int
    column: str
    finding: Finding


def screen_files(files: Sequence[RequestFile], profile: Profile) -> dict[str, PreScreen]:
    """Every file's pre-screen under the service's ``profile``, a table made by ``sdc check``
    under its own (its marker among ``files``)."""
    markers = markers_in(files)
    return {f.name: screen(f, profile, markers) for f in files}


def screen(file: RequestFile, profile: Profile, markers: Markers = ()) -> PreScreen:
    """The pre-screen of one accepted file (see the module's table)."""
    if PurePosixPath(file.name).suffix.lower() != ".csv":
        return pre_screen(file, profile.threshold)
    try:
        used, judged = profile_for(file, markers, profile)
        return _table(file.content.decode("utf-8"), used, judged)
    except Exception as exc:  # noqa: BLE001 - a failed check is not a pass
        return not_checked(f"the pre-screen failed ({type(exc).__name__})")


def markers_in(files: Sequence[RequestFile]) -> list[sdc_marker.Marker | sdc_marker.Unreadable]:
    found = []
    for f in files:
        if not f.name.lower().endswith(".json"):
            continue
        try:
            read = sdc_marker.read_marker(f.name, bounded_json.loads(f.content))
        except ValueError:
            continue
        if read is not None:
            found.append(read)
    return found


def profile_for(file: RequestFile, markers: Markers, service: Profile) -> tuple[Profile, str]:
    """The profile to judge ``file`` under, and a line saying which and why (the module
    ``sdc_marker``'s table)."""
    digest = sha256(file.content)
    own = f"judged under this service's profile {service.name!r}"
    for m in markers:
        if isinstance(m, sdc_marker.Marker) and m.sha256 == digest:
            made = PROFILES.get(m.profile)
            if made is None:
                return service, (
                    f"{own}: its sdc check marker ({m.name}) names a profile this service "
                    "does not know"
                )
            used = made.at_least(
                threshold=service.threshold, zeros_are_disclosive=service.zeros_are_disclosive
            )
            said = f"judged under profile {made.name!r} as made by sdc check ({m.name})"
            stricter = [
                f"threshold {service.threshold}" if used.threshold != made.threshold else "",
                "zeros rule" if used.zeros_are_disclosive != made.zeros_are_disclosive else "",
            ]
            if any(stricter):
                said += f", with this service's stricter {' and '.join(s for s in stricter if s)}"
            return used, said
    for m in markers:
        if sdc_marker.names_table(m, file.name):
            if isinstance(m, sdc_marker.Unreadable):
                return service, f"{own}: its sdc check marker ({m.name}) cannot be read ({m.why})"
            return service, (
                f"{own}: its sdc check marker ({m.name}) is for other bytes (the table changed "
                "after sdc check)"
            )
    return service, own


def _table(text: str, profile: Profile, judged: str) -> PreScreen:
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2:
        return not_checked("no rows")
    header, body = rows[0], rows[1:]
    found: list[CellFinding] = []
    detail: list[str] = []
    unchecked: list[str] = []
    groups: list[str] = []
    columns = cells = 0
    for column, name in enumerate(header):
        values = [(n, r[column].strip()) for n, r in enumerate(body, 1) if column < len(r)]
        numbers = [(n, _number(v)) for n, v in values if v and v.lower() not in MARKERS]
        if not numbers or any(value is None for _, value in numbers):
            continue  # a label column (or markers only)
        if not all(value is not None and value.is_integer() and value >= 0 for _, value in numbers):
            unchecked.append(name)
            detail.append(f"column {name!r} is not counts: not checked")
            continue
        if named.is_group(name):
            groups.append(name)
            detail.append(f"column {name!r} reads as a group, not counts: not judged")
            continue
        columns += 1
        for row, value in numbers:
            assert value is not None
            cells += 1
            for finding in _judge(int(value), profile):
                found.append(CellFinding(row, name, finding))
                detail.append(f"row {row}, column {name!r}: {finding.rule}: {finding.reason}")
    verdict = verdict_of([f.finding for f in found]).value
    if verdict == "pass" and unchecked:
        verdict = "review"
    summary = [judged, *_grouped(found, profile)]
    if unchecked:
        summary.append(
            f"not checked: {_plural(len(unchecked), 'column')} not counts ({_names(unchecked)}): "
            "a magnitude needs its contributors"
        )
    if groups:
        summary.append(
            f"not judged as counts: {_plural(len(groups), 'column')} named as groups "
            f"({_names(groups)})"
        )
    row_level = recognise(header, body)
    if row_level is not None:
        return PreScreen("fail", capped(detail), row_level.headline, summary)
    headline = _headline(found, profile, unchecked, columns, cells)
    return PreScreen(verdict, capped(detail), headline, summary)


def _headline(
    found: Sequence[CellFinding], profile: Profile, unchecked: list[str], columns: int, cells: int
) -> str:
    by_rule = {f.finding.rule for f in found}
    count = {rule: sum(1 for f in found if f.finding.rule == rule) for rule in by_rule}
    if "threshold" in count:
        small = _plural(count["threshold"], "count")
        return f"unsuppressed small cells: {small} below {profile.threshold}"
    if "zeros" in count:
        return f"disclosive zeros: {_plural(count['zeros'], 'zero count')}"
    if "rounding" in count:
        return (
            f"counts not rounded to base {profile.rounding_base} "
            f"({_plural(count['rounding'], 'cell')})"
        )
    if unchecked:
        return (
            f"partly checked: {_plural(len(unchecked), 'column')} not counts ({_names(unchecked)})"
        )
    if not columns:
        return "passes the checks: no counts in it to judge"
    return f"passes the checks ({_plural(columns, 'count column')}, {_plural(cells, 'cell')})"


PHRASES = {
    "threshold": "with fewer than {threshold} persons",
    "zeros": "zero, disclosive under this profile",
    "rounding": "not a multiple of {rounding_base}",
}


def _grouped(found: Sequence[CellFinding], profile: Profile) -> list[str]:
    """One line per kind of finding: how many cells, which rows and columns."""
    kinds: dict[tuple[str, str], list[CellFinding]] = {}
    for f in found:
        kinds.setdefault((f.finding.rule, f.finding.reason), []).append(f)
    lines = []
    for (rule, reason), cells in kinds.items():
        phrase = PHRASES.get(rule, "{reason}").format(
            threshold=profile.threshold, rounding_base=profile.rounding_base, reason=reason
        )
        rows = _ranges(sorted({c.row for c in cells}))
        columns = list(dict.fromkeys(c.column for c in cells))
        where = f"rows {rows}; {'column' if len(columns) == 1 else 'columns'} {_names(columns)}"
        lines.append(f"{rule}: {_plural(len(cells), 'cell')} {phrase} ({where})")
    return lines


def _ranges(rows: Sequence[int]) -> str:
    """``1, 2, 3, 7, 9, 10`` -> ``1-3, 7, 9-10`` (at most ``MAX_RANGES`` of them, then …)."""
    spans: list[tuple[int, int]] = []
    for row in rows:
        if spans and row == spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], row)
        else:
            spans.append((row, row))
    shown = [f"{a}-{b}" if b > a else str(a) for a, b in spans[:MAX_RANGES]]
    return ", ".join(shown) + (", …" if len(spans) > MAX_RANGES else "")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _names(names: Sequence[str], most: int = 3) -> str:
    shown = ", ".join(repr(n[:40]) for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


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
