"""The slides registered at a node, read back for its portal (``register`` wrote them): each
slide's allow-listed facts from ``pathology_slide``, and, for the server alone, where its file is
(``pathology_slide_file``). Read through a read-only DuckDB connection opened per read, so the
portal never holds the node's data file (the command that registers slides needs it to write).

A node whose data is not a DuckDB file has no register of slides yet (``NoSlides``): slides are
registered into a DuckDB node only, for now.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from fivesafes.protocol.errors import ServiceUnavailable

SLIDE_ID = re.compile(r"SL[0-9A-F]{20}")  # register.slide_id's form
MAX_LISTED = 10_000
SLIDE_TABLES = frozenset({"pathology_slide", "pathology_slide_file"})
_FACTS = ("slide_id", "stain", "format", "width", "height", "level_count", "mpp_x", "mpp_y",
          "objective_power", "link", "registered_at")  # fmt: skip


@dataclass(frozen=True)
class SlideFacts:
    """A registered slide as a page may show it: no path, person or specimen."""

    slide_id: str
    stain: str | None
    format: str
    width: int
    height: int
    level_count: int
    mpp_x: float | None
    mpp_y: float | None
    objective_power: float | None
    link: str  # linked | no_map | no_match | ambiguous
    registered_at: datetime | None

    @property
    def linked(self) -> bool:
        return self.link == "linked"


class SlideCatalogue(Protocol):
    def slides(self) -> list[SlideFacts]:
        """The registered slides, by id (at most ``MAX_LISTED``)."""
        ...

    def slide(self, slide_id: str) -> SlideFacts | None: ...

    def file_of(self, slide_id: str) -> Path | None:
        """Where the slide's file is: for the server's own use, never to be shown."""
        ...


class NoSlides:
    """A node without a register of slides."""

    def slides(self) -> list[SlideFacts]:
        return []

    def slide(self, slide_id: str) -> SlideFacts | None:
        return None

    def file_of(self, slide_id: str) -> Path | None:
        return None


class DuckDBSlides:
    """The register in a DuckDB node's data file (in ``schema``, if given)."""

    def __init__(self, path: Path, schema: str | None = None) -> None:
        self._path = path
        self._schema = schema or "main"
        facts, where = ", ".join(_FACTS), f'"{self._schema}".'
        # built of this module's constants and a SchemaName (letters, digits, underscores)
        self._list = f"SELECT {facts} FROM {where}pathology_slide ORDER BY slide_id LIMIT ?"  # noqa: S608
        self._one = f"SELECT {facts} FROM {where}pathology_slide WHERE slide_id = ?"  # noqa: S608
        self._file = f"SELECT path FROM {where}pathology_slide_file WHERE slide_id = ?"  # noqa: S608

    def slides(self) -> list[SlideFacts]:
        rows = self._query(self._list, [MAX_LISTED])
        return [SlideFacts(*row) for row in rows]

    def slide(self, slide_id: str) -> SlideFacts | None:
        if not SLIDE_ID.fullmatch(slide_id):
            return None
        rows = self._query(self._one, [slide_id])
        return SlideFacts(*rows[0]) if rows else None

    def file_of(self, slide_id: str) -> Path | None:
        if not SLIDE_ID.fullmatch(slide_id):
            return None
        rows = self._query(self._file, [slide_id])
        return Path(rows[0][0]) if rows else None

    def _query(self, sql: str, parameters: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return read_only_query(
            self._path, self._schema, SLIDE_TABLES, sql, parameters or [],
            busy="The node's register of slides cannot be read just now (it may be being "
            "written); try again in a moment.",
        )  # fmt: skip


def read_only_query(
    path: Path, schema: str, needed: frozenset[str], sql: str, parameters: list[Any], *, busy: str
) -> list[tuple[Any, ...]]:
    """``sql``'s rows from the node's DuckDB data file at ``path``, through a read-only
    connection opened for this read; none while a table ``needed`` in ``schema`` is missing
    (nothing registered or imported yet); ``ServiceUnavailable`` with the words ``busy`` when
    the file cannot be read (being written, or damaged)."""
    import duckdb

    if not path.is_file():
        return []
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            tables = {
                row[0]
                for row in con.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE schema_name = ?", [schema]
                ).fetchall()
            }
            if not needed <= tables:
                return []
            return list(con.execute(sql, parameters).fetchall())
    except duckdb.Error:
        raise ServiceUnavailable(busy) from None
