"""A task's result as one CSV file: the tables its page shows, cell for cell, and its notes.

Whatever the analysis, the file is one table a spreadsheet, pandas or the airlock reads: a
column ``table`` naming the page's table each row comes from (its caption), then the columns
of the page's tables in the order they first appear (a table's row labels first, where the page
shows them), then ``note`` for the page's lines in words (``table`` is ``notes`` there). A
result with one table (a count, a model's coefficients) reads as that table; one with several
(a crosstab and each node's, a characterisation) has each table's rows under its own columns,
the others left empty.

Every cell is the text the page shows (``results.page.table``): a suppressed value is the word
the page uses ("suppressed", or "—" where there is none), never a number, and nothing the page
does not show is added. Text a spreadsheet would run as a formula (it starts with ``=``, ``+``,
``-``, ``@`` and is not a number) is written after a ``'``.

| the page                                    | the CSV                                      |
| ------------------------------------------- | -------------------------------------------- |
| table "Counts": node, count / a, 120 /       | ``table,node,count,note``                    |
| b, suppressed; line "not included: c"       | ``Counts,a,120,`` / ``Counts,b,suppressed,`` |
|                                             | ``notes,,,not included: c``                  |
"""

from __future__ import annotations

import csv
import io

from fivesafes.analyses.results.page import Shown, Table

TABLE = "table"
NOTES = "notes"
NOTE = "note"
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def result_csv(page: Shown) -> str:
    """The page's tables (the combined result's, then each node's) and its lines, as CSV."""
    columns = [TABLE]
    placed: list[tuple[Table, list[int]]] = []
    for table in (*page.tables, *page.details):
        positions = []
        for name in distinct(table.header):
            if name not in columns:
                columns.append(name)
            positions.append(columns.index(name))
        placed.append((table, positions))
    if page.lines and NOTE not in columns:
        columns.append(NOTE)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([safe(name) for name in columns])
    for table, positions in placed:
        for cells in table.rows:
            row = [""] * len(columns)
            row[0] = table.caption
            for position, text in zip(positions, cells, strict=True):
                row[position] = text
            writer.writerow([safe(text) for text in row])
    for line in page.lines:
        row = [""] * len(columns)
        row[0], row[columns.index(NOTE)] = NOTES, line
        writer.writerow([safe(text) for text in row])
    return out.getvalue()


def distinct(header: tuple[str, ...]) -> list[str]:
    """A table's column names, a name that comes again numbered (``n``, ``n (2)``); the name
    ``table`` (this file's first column) is ``table (2)``."""
    seen: dict[str, int] = {TABLE: 1}
    named = []
    for name in header:
        seen[name] = seen.get(name, 0) + 1
        named.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return named


def safe(text: str) -> str:
    """``text`` as a spreadsheet shows it, never run as a formula."""
    if text.startswith(FORMULA):
        try:
            float(text)
        except ValueError:
            return f"'{text}"
    return text
