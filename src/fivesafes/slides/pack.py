"""A slide's release pack (ADR 0029, point 3): what leaves a node when its custodian releases a
slide for review at another hospital, in one SQLite file: the slide's DeepZoom tiles (every
level, as this node serves them: stored JPEG tiles passed through, the rest made here), its
allow-listed facts, and the AI predictions the custodian chose to send with it.

The pack is written from the node's own tiles (``tiles.DeepZoom``), never from the slide's
file: whatever the file's format (Aperio, NDPI, OME-TIFF, DICOM-WSI), what travels is the
pyramid's pixels and nothing else: no label, macro, thumbnail, tag or file name, because
nothing here asks a reader for them. The hub reads the pack with the standard library's
``sqlite3`` only, so it never parses a slide file sent by a node.

| table         | one row per                                                            |
| ------------- | ---------------------------------------------------------------------- |
| ``pack``      | fact: the pack's format version, and the slide's allow-listed facts    |
| ``tiles``     | DeepZoom tile: its level, column and row, and its JPEG bytes           |
| ``predictions`` | prediction sent with the slide: model, version, run time, counts,    |
|               | its GeoJSON (zlib-compressed, as checked on import) and heatmap (PNG)  |

A pack is opened read-only and checked before it is served (:meth:`TilePack.open`): its
tables, its format version, and that its facts describe a pyramid within bounds.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fivesafes.slides.reading import SlideUnreadable
from fivesafes.slides.tiles import (
    TILE_SIZE,
    DeepZoom,
    Descriptor,
    TileNotFound,
    deepzoom_sizes,
)

PACK_VERSION = 1
MAX_SIDE = 1_000_000  # pixels: no scanned slide is wider
SUFFIX = ".pack"
_TABLES = {"pack", "tiles", "predictions"}
_SCHEMA = (
    "CREATE TABLE pack (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE tiles (level INTEGER NOT NULL, col INTEGER NOT NULL, row INTEGER NOT NULL,"
    " data BLOB NOT NULL, PRIMARY KEY (level, col, row)) WITHOUT ROWID",
    "CREATE TABLE predictions (prediction_id TEXT PRIMARY KEY, model TEXT NOT NULL,"
    " model_version TEXT NOT NULL, run_at TEXT NOT NULL, features INTEGER NOT NULL,"
    " classes TEXT, heatmap_scale REAL, geojson BLOB, heatmap_png BLOB)",
)


class PackUnreadable(SlideUnreadable):
    """A file that is not a release pack this version reads (reason ``not_a_pack``)."""

    def __init__(self) -> None:
        super().__init__("not_a_pack")


@dataclass(frozen=True)
class PackFacts:
    """What a released slide may show about itself: the allow-list, nothing more."""

    width: int
    height: int
    stain: str | None
    mpp_x: float | None
    mpp_y: float | None
    objective_power: float | None
    stored_levels: int


@dataclass(frozen=True)
class PackPrediction:
    prediction_id: str
    model: str
    model_version: str
    run_at: datetime
    features: int
    classes: str | None
    heatmap_scale: float | None
    geojson: bytes | None  # zlib-compressed
    heatmap_png: bytes | None


def write_pack(
    deepzoom: DeepZoom,
    facts: PackFacts,
    predictions: Iterable[PackPrediction],
    target: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write the pack of the open slide ``deepzoom`` to ``target`` (which must not exist),
    atomically (a partial file is removed); return the number of tiles written."""
    if target.exists():
        raise FileExistsError("the pack's target exists already")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    total = sum(c * r for c, r in (deepzoom.level_tiles(n) for n in range(deepzoom.level_count)))
    done = 0
    con = sqlite3.connect(partial)
    try:
        con.execute("PRAGMA journal_mode = OFF")
        con.execute("PRAGMA synchronous = OFF")
        for statement in _SCHEMA:
            con.execute(statement)
        rows = [("version", str(PACK_VERSION)), ("facts", json.dumps(asdict(facts)))]
        con.executemany("INSERT INTO pack VALUES (?, ?)", rows)
        for kept in predictions:
            con.execute(
                "INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (kept.prediction_id, kept.model, kept.model_version, kept.run_at.isoformat(),
                 kept.features, kept.classes, kept.heatmap_scale, kept.geojson,
                 kept.heatmap_png),
            )  # fmt: skip
        for level in range(deepzoom.level_count):
            cols, rows_ = deepzoom.level_tiles(level)
            for row in range(rows_):
                batch = [(level, col, row, deepzoom.tile(level, col, row)) for col in range(cols)]
                con.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)", batch)
                done += len(batch)
                if progress is not None:
                    progress(done, total)
        con.commit()
    except BaseException:
        con.close()
        partial.unlink(missing_ok=True)
        raise
    con.close()
    partial.replace(target)
    return done


class TilePack:
    """An open release pack: the slide's DeepZoom descriptor and tiles, and its predictions,
    as ``tile_cache.SlideTiles`` and the viewer's overlays read them. Thread-safe."""

    def __init__(self, con: sqlite3.Connection, facts: PackFacts) -> None:
        self._con = con
        self._lock = threading.Lock()
        self.facts = facts
        self.sizes = deepzoom_sizes(facts.width, facts.height)

    @classmethod
    def open(cls, path: Path) -> TilePack:
        """The pack at ``path``, checked (``PackUnreadable`` if it is not one)."""
        try:
            con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                  check_same_thread=False)  # fmt: skip
        except sqlite3.Error:
            raise PackUnreadable() from None
        try:
            facts = _checked_facts(con)
        except (sqlite3.Error, ValueError, TypeError, KeyError):
            con.close()
            raise PackUnreadable() from None
        return cls(con, facts)

    @property
    def level_count(self) -> int:
        return len(self.sizes)

    def descriptor(self) -> Descriptor:
        return Descriptor(self.facts.width, self.facts.height)

    def level_tiles(self, level: int) -> tuple[int, int]:
        w, h = self.sizes[level]
        return math.ceil(w / TILE_SIZE), math.ceil(h / TILE_SIZE)

    def tile(self, level: int, col: int, row: int) -> bytes:
        if not 0 <= level < self.level_count:
            raise TileNotFound(
                f"The slide has no such tile: its DeepZoom levels are 0 to {self.level_count - 1}."
            )
        with self._lock:
            found = self._con.execute(
                "SELECT data FROM tiles WHERE level = ? AND col = ? AND row = ?",
                (level, col, row),
            ).fetchone()
        if found is None:
            raise TileNotFound("The slide has no such tile.")
        return bytes(found[0])

    def predictions(self) -> list[PackPrediction]:
        """The predictions sent with the slide, without their data (``prediction`` has it)."""
        with self._lock:
            rows = self._con.execute(
                "SELECT prediction_id, model, model_version, run_at, features, classes,"
                " heatmap_scale, geojson IS NOT NULL, heatmap_png IS NOT NULL"
                " FROM predictions ORDER BY run_at, prediction_id"
            ).fetchall()
        return [
            PackPrediction(
                r[0],
                r[1],
                r[2],
                datetime.fromisoformat(r[3]),
                int(r[4]),
                r[5],
                r[6],
                b"" if r[7] else None,
                b"" if r[8] else None,
            )
            for r in rows
        ]

    def prediction(self, prediction_id: str) -> PackPrediction | None:
        with self._lock:
            r = self._con.execute(
                "SELECT prediction_id, model, model_version, run_at, features, classes,"
                " heatmap_scale, geojson, heatmap_png FROM predictions WHERE prediction_id = ?",
                (prediction_id,),
            ).fetchone()
        if r is None:
            return None
        return PackPrediction(r[0], r[1], r[2], datetime.fromisoformat(r[3]), int(r[4]), r[5],
                              r[6], r[7], r[8])  # fmt: skip

    def close(self) -> None:
        with self._lock:
            self._con.close()


def _checked_facts(con: sqlite3.Connection) -> PackFacts:
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables != _TABLES:
        raise ValueError("unexpected tables")
    values: dict[str, Any] = dict(con.execute("SELECT key, value FROM pack").fetchall())
    if values.get("version") != str(PACK_VERSION):
        raise ValueError("another version")
    raw = json.loads(values["facts"])
    facts = PackFacts(
        width=int(raw["width"]),
        height=int(raw["height"]),
        stain=None if raw["stain"] is None else str(raw["stain"])[:64],
        mpp_x=_positive(raw["mpp_x"]),
        mpp_y=_positive(raw["mpp_y"]),
        objective_power=_positive(raw["objective_power"]),
        stored_levels=int(raw["stored_levels"]),
    )
    if not (1 <= facts.width <= MAX_SIDE and 1 <= facts.height <= MAX_SIDE):
        raise ValueError("size out of bounds")
    return facts


def _positive(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise ValueError("not a positive number")
    return number
