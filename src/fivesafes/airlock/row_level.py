"""Does a CSV look like row-level data (one row per person) rather than a table of counts?

An aggregate table has one row per group and says how many are in each; row-level data has one
row per person. Checking row-level data cell by cell as if it were counts buries the one thing a
checker must hear (it must not leave) under hundreds of cell findings, so the pre-screen asks
this first. Each signal is named in the headline when it is seen:

| signal             | seen when                                                    | enough alone |
| ------------------ | ------------------------------------------------------------ | ------------ |
| identifiers        | a column named like a person's identifier (``person_id``,    | yes          |
|                    | ``patient_id``, ``nhs_number``, ``subject``, …; a bare ``id`` |             |
|                    | only with no count column) whose values differ on at least 9 |              |
|                    | rows in 10                                                   |              |
| dates of birth     | a column named like a date of birth (``dob``,                | yes          |
|                    | ``date_of_birth``, …) holding full dates                     |              |
| repeated groups    | 20 rows or more, and 1 row in 5 or more repeats an earlier   | yes          |
|                    | row's groups (its label and whole-number columns, leaving    |              |
|                    | out columns named like counts): a table has one row per group |             |
| no count column    | 100 rows or more of measurements only: numbers with decimals,| yes          |
|                    | no count, no label, no group                                 |              |

| the file                                                | row-level? |
| ------------------------------------------------------- | ---------- |
| ``person_id,age,sex`` and 612 rows                      | yes: identifiers |
| ``dob,sex`` / ``1956-03-12,f`` …                        | yes: dates of birth |
| ``age,sex,region,bmi``, 612 rows, the groups repeat     | yes: repeated groups |
| ``bmi,sbp`` with decimals, 150 rows                     | yes: no count column |
| ``region,n`` / ``north,120`` / ``south,40``             | no |
| ``age,sex,region,n``: 600 rows, one per group           | no |
| ``age,sex,mean_bmi``: 180 rows, one per group           | no |
| ``month,n``: 60 months of dates, one row each           | no |

A heuristic: the headline says "looks like", names what it saw, and the checkers decide.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from fivesafes.airlock import columns as named

MIN_REPEAT_ROWS = 20
REPEATED_SHARE = 0.2
MIN_MEASUREMENT_ROWS = 100
DISTINCT_SHARE = 0.9

BARE_ID = "id"  # an identifier only where no column is named like a count
FULL_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}([ T].*)?|\d{1,2}/\d{1,2}/\d{4}|\d{8}")


@dataclass(frozen=True)
class RowLevel:
    """What made a file look like row-level data: its rows, and each signal in words."""

    rows: int
    signals: list[str]

    @property
    def headline(self) -> str:
        return (
            f"looks like row-level data (one row per person: {self.rows:,} rows; "
            + "; ".join(self.signals)
            + ")"
        )


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _whole(values: Sequence[str]) -> bool:
    numbers = [_number(v) for v in values if v]
    return bool(numbers) and all(n is not None and n.is_integer() for n in numbers)


def _numeric(values: Sequence[str]) -> bool:
    numbers = [_number(v) for v in values if v]
    return bool(numbers) and all(n is not None for n in numbers)


def recognise(header: Sequence[str], body: Sequence[Sequence[str]]) -> RowLevel | None:
    """The signals of row-level data in a CSV's ``header`` and ``body`` (see the module's
    table), or None when it looks like a table."""
    rows = len(body)
    if not rows:
        return None
    columns = {
        name: [r[i].strip() if i < len(r) else "" for r in body] for i, name in enumerate(header)
    }
    signals = []
    counts = [n for n in columns if named.is_count(n)]
    ids = [
        n for n, values in columns.items()
        if (named.is_identifier(n) or (named.key(n) == BARE_ID and not counts))
        and rows > 1 and _distinct(values) >= DISTINCT_SHARE
    ]  # fmt: skip
    if ids:
        signals.append(f"a column of identifiers ({_names(ids)})")
    births = [
        n for n, values in columns.items()
        if named.is_birth(n) and _share(values, FULL_DATE) >= 0.5
    ]  # fmt: skip
    if births:
        signals.append(f"dates of birth ({_names(births)})")
    groups = [n for n, v in columns.items() if n not in counts and not _decimal(v)]
    if rows >= MIN_REPEAT_ROWS and groups:
        keys = [tuple(columns[n][i] for n in groups) for i in range(rows)]
        repeated = rows - len(set(keys))
        if repeated >= REPEATED_SHARE * rows:
            signals.append(
                f"the same groups repeat ({repeated:,} of {rows:,} rows: {_names(groups)})"
            )
    if rows >= MIN_MEASUREMENT_ROWS and not counts and not groups:
        signals.append("no count column: measurements only")
    return RowLevel(rows, signals) if signals else None


def _decimal(values: Sequence[str]) -> bool:
    """A column of numbers with decimals: a measurement, not a group."""
    return _numeric(values) and not _whole(values)


def _distinct(values: Sequence[str]) -> float:
    present = [v for v in values if v]
    return len(set(present)) / len(present) if present else 0.0


def _share(values: Sequence[str], pattern: re.Pattern[str]) -> float:
    present = [v for v in values if v]
    return sum(1 for v in present if pattern.fullmatch(v)) / len(present) if present else 0.0


def _names(names: Sequence[str], most: int = 3) -> str:
    shown = ", ".join(repr(n[:40]) for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")
