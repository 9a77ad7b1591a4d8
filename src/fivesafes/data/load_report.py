"""What a load of an OMOP CDM did: per table, rows read, loaded and rejected, and why.

A report names tables, columns, files and row numbers, never a value: values are patient
data. Row numbers count from 1: in a CSV file the first row after the header is row 1 (its
line number is one more, unless a quoted value spans lines); in a database table the row's
position in a plain scan.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from fivesafes.data.cdm_v53 import CdmVersion

__all__ = ["LoadError", "LoadReport", "Rejection", "TableReport"]

EXAMPLE_ROWS = 10
"""How many row numbers a report gives for each reason."""


class LoadError(Exception):
    """A load that could not be done; the target is as it was. The message is written for the
    operator and carries no value from the data."""


@dataclass(frozen=True)
class Rejection:
    """Rows of one table rejected for one reason (a row may have several reasons)."""

    reason: str
    rows: int
    examples: tuple[int, ...]
    """The first :data:`EXAMPLE_ROWS` row numbers, in order."""


@dataclass
class TableReport:
    """One CDM table: where it came from and what became of its rows."""

    table: str
    source: str | None
    """The file or table it was read from; ``None`` when the source has none (created empty)."""
    read: int = 0
    loaded: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What the loader did besides checking rows: renamed columns, a header row skipped, …"""

    @property
    def rejected(self) -> int:
        return self.read - self.loaded


@dataclass
class LoadReport:
    """The whole load. ``applied`` is false when nothing was written (``strict`` refused it)."""

    source: str
    target: str
    cdm: CdmVersion
    tables: list[TableReport]
    skipped: list[str]
    """Files or tables of the source that are not CDM v5.4 tables, left out."""
    applied: bool
    seconds: float = 0.0

    @property
    def rejected(self) -> int:
        return sum(table.rejected for table in self.tables)

    def table(self, name: str) -> TableReport:
        return next(t for t in self.tables if t.table == name)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        document = asdict(self)
        for table, row in zip(self.tables, document["tables"], strict=True):
            row["rejected"] = table.rejected
        document["rejected"] = self.rejected
        return document
