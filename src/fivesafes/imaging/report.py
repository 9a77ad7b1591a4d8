"""What an index run did, counted: the report the command prints, the run's row keeps
(``imaging_runs.counts``) and the audit event summarises."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MAX_EXAMPLES = 1000
"""Unreadable files named in a report (all of them stay in ``imaging_files``)."""


@dataclass
class IndexReport:
    """What a run did. Through DICOMweb (``source == "dicomweb"``) the unit of ``found``,
    ``unchanged``, ``new``, ``changed`` and ``removed`` is the series (read again when its
    number of instances changes), and ``read`` counts instances; the studies listed and those
    whose series were listed (new, or their number of instances changed) are counted too."""

    run_id: str
    roots: list[str]  # the walked paths, or the DICOMweb service's URL
    rules: str
    source: str = "files"  # files | dicomweb
    found: int = 0  # files the walk found (DICOMweb: series listed)
    unchanged: int = 0  # read before, same size and mtime: not read again
    new: int = 0
    changed: int = 0
    removed: int = 0  # indexed before, gone now: taken out of the index
    read: int = 0  # files read in this run (DICOMweb: instances)
    indexed: int = 0  # instances added (or replaced) in this run
    studies_listed: int = 0  # DICOMweb: the studies the service lists
    studies_read: int = 0  # DICOMweb: the studies whose series were listed
    unreadable: Counter[str] = field(default_factory=Counter)  # reason -> files
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> files (DICOMDIR)
    duplicates: Counter[str] = field(default_factory=Counter)  # same_header | different_header
    issues: Counter[str] = field(default_factory=Counter)  # issue -> instances (project.py)
    walk_problems: list[tuple[str, str]] = field(default_factory=list)  # the first ones
    not_walked: int = 0  # folders that could not be listed, names that are not UTF-8
    examples: list[tuple[str, str, str]] = field(default_factory=list)  # path, reason, words
    instances: int = 0  # in the index after the run
    series: int = 0
    studies: int = 0
    links: Counter[str] = field(default_factory=Counter)  # series per link outcome
    persons: int = 0  # distinct persons with a linked series
    headers_stored: int = 0
    seconds: float = 0.0
    reading_seconds: float = 0.0
    finished: bool = False

    @property
    def files_per_second(self) -> float:
        return self.read / self.reading_seconds if self.reading_seconds > 0 else 0.0

    @property
    def unlinked(self) -> int:
        return sum(n for link, n in self.links.items() if link != "linked")

    def note_unreadable(self, path: str, reason: str, detail: str, *, skipped: bool) -> None:
        (self.skipped if skipped else self.unreadable)[reason] += 1
        if not skipped and len(self.examples) < MAX_EXAMPLES:
            self.examples.append((path, reason, detail))

    def note_walk_problem(self, path: str, problem: str) -> None:
        self.not_walked += 1
        if len(self.walk_problems) < MAX_EXAMPLES:
            self.walk_problems.append((path, problem))

    def to_dict(self) -> dict[str, Any]:
        """The counts (no paths of files: those are in ``imaging_files``)."""
        return {
            "run_id": self.run_id,
            "roots": self.roots,
            "rules": self.rules,
            "source": self.source,
            "found": self.found,
            "unchanged": self.unchanged,
            "new": self.new,
            "changed": self.changed,
            "removed": self.removed,
            "read": self.read,
            "indexed": self.indexed,
            "studies_listed": self.studies_listed,
            "studies_read": self.studies_read,
            "unreadable": dict(sorted(self.unreadable.items())),
            "skipped": dict(sorted(self.skipped.items())),
            "duplicates": dict(sorted(self.duplicates.items())),
            "issues": dict(sorted(self.issues.items())),
            "not_walked": self.not_walked,
            "instances": self.instances,
            "series": self.series,
            "studies": self.studies,
            "links": dict(sorted(self.links.items())),
            "persons": self.persons,
            "headers_stored": self.headers_stored,
            "seconds": round(self.seconds, 3),
            "files_per_second": round(self.files_per_second, 1),
            "finished": self.finished,
        }

    def audit_details(self) -> dict[str, Any]:
        """What the audit event keeps: which paths (or DICOMweb service), how many files (or
        studies, series and instances), what became of them."""
        found = (
            {"files_found": self.found, "files_read": self.read}
            if self.source == "files"
            else {
                "studies_listed": self.studies_listed,
                "series_listed": self.found,
                "instances_read": self.read,
            }
        )
        return {
            "run_id": self.run_id,
            "paths": self.roots,
            "source": self.source,
            "rules": self.rules,
            **found,
            "instances_indexed": self.indexed,
            "unreadable": sum(self.unreadable.values()),
            "duplicates": sum(self.duplicates.values()),
            "removed": self.removed,
            "series": self.series,
            "unlinked_series": self.unlinked,
        }
