"""An extract's report (``extracts.build``: counts only) as the tables its page shows: what was
considered and written, what was rejected, failed verification (by rule, and by rule and
element), could not be read, was a duplicate, had no file here, and what de-identification
did. A key the report lacks is an empty table; a value that is not a count is left out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ACTIONS = {  # PS3.15 Annex E's action codes as docs/deid.md words them, and the engine's own
    "X": "removed",
    "Z": "emptied (kept, zero length)",
    "D": "replaced by a dummy value",
    "K": "kept",
    "C": "cleaned",
    "U": "replaced by the project's UID",
    "date_shifted": "dates shifted",
    "private_kept": "private elements kept (known safe)",
    "private_removed": "private elements removed",
}
DUPLICATES = {"same_bytes": "the same bytes again", "conflicting": "different bytes, one UID"}


@dataclass(frozen=True)
class Table:
    """One table of the report: its caption, column names, rows, and the words shown when it
    has none."""

    id: str
    caption: str
    columns: tuple[str, ...]
    rows: list[tuple[str | int, ...]]
    empty: str


def report_tables(report: Mapping[str, Any], persons: int) -> list[Table]:
    """The page's tables of ``report``; ``persons``: how many persons' files were written."""
    summary: list[tuple[str | int, ...]] = [
        (words, value)
        for words, value in (
            ("Files considered", _count(report, "files")),
            ("Files written", _count(report, "written")),
            ("Series selected", _count(report, "series")),
            ("Instances with no file at this node (not local)", _count(report, "not_local")),
            ("Persons whose files were written", persons),
        )
        if value is not None
    ]
    findings = report.get("findings")
    by_element = [
        (rule, element, files)
        for rule, elements in sorted(findings.items() if isinstance(findings, Mapping) else [])
        if isinstance(elements, Mapping)
        for element, files in sorted(elements.items())
        if _is_count(files)
    ]
    return [
        Table("files", "Files", ("", "count"), summary, "The report gives no counts."),
        Table("rejected", "Rejected before de-identification, by reason", ("reason", "files"),
              _counts(report, "rejected"), "No file was rejected."),
        Table("failed", "Failed verification, by rule", ("rule", "files"),
              _counts(report, "failed_verification"), "No file failed verification."),
        Table("findings", "Findings of verification, by rule and element",
              ("rule", "element", "files"), list(by_element), "Verification found nothing."),
        Table("unreadable", "Unreadable, by reason", ("reason", "files"),
              _counts(report, "unreadable"), "Every file could be read."),
        Table("duplicates", "Duplicates (one SOP Instance UID twice)", ("kind", "files"),
              [(DUPLICATES.get(str(k), str(k)), n) for k, n in _counts(report, "duplicates")],
              "No file was a duplicate."),
        Table("actions", "De-identification actions, in the written files",
              ("action", "what it does", "elements"),
              [(k, ACTIONS.get(str(k), ""), n) for k, n in _counts(report, "actions")],
              "The report counts no action."),
    ]  # fmt: skip


def files_written(report: Mapping[str, Any]) -> int | None:
    """How many files the report says were written (``None``: it does not say)."""
    return _count(report, "written")


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _count(report: Mapping[str, Any], key: str) -> int | None:
    value = report.get(key)
    return value if _is_count(value) else None


def _counts(report: Mapping[str, Any], key: str) -> list[tuple[str | int, ...]]:
    found = report.get(key)
    if not isinstance(found, Mapping):
        return []
    return [(str(name), n) for name, n in sorted(found.items()) if _is_count(n) and n > 0]
