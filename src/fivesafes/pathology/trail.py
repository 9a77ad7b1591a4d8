"""A reader's viewport trail (issue 16, point 5; ADR 0029): every tile a reader fetches of a
released slide, recorded as what they looked at: who, which slide, at which DeepZoom level,
which region (in the slide's level-0 pixels), when.

A field of view is dozens of tiles fetched within a moment, so the trail gathers a reader's
tiles of one slide and level for up to ``window`` seconds (one second by default) and writes
them as one entry: the bounding region of those tiles, how many, the first and last time. The
service flushes what is due on its sweep (``due``) and everything when it stops
(``due(everything=True)``), writing each entry to its audit log. The trail's only loss is a
crash: the tiles of its last window (a second at most) are served but not written.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

WINDOW_SECONDS = 1.0
MAX_OPEN = 10_000  # gathering entries: beyond this, the oldest are made due at once


@dataclass(frozen=True)
class TrailEntry:
    """What one reader looked at of one slide at one level, within one window."""

    reader: str
    slide: str
    project_id: str | None
    level: int
    region: tuple[int, int, int, int]  # x, y, width, height in the slide's level-0 pixels
    tiles: int
    first: datetime
    last: datetime

    def details(self) -> dict[str, object]:
        x, y, w, h = self.region
        return {
            "review_id": self.slide, "level": self.level, "region": [x, y, w, h],
            "tiles": self.tiles, "first": self.first.isoformat(timespec="milliseconds"),
            "last": self.last.isoformat(timespec="milliseconds"),
        }  # fmt: skip


class _Gathering:
    def __init__(self, opened: float, at: datetime, box: tuple[int, int, int, int]) -> None:
        self.opened = opened
        self.first = self.last = at
        self.box = box  # x0, y0, x1, y1
        self.tiles = 1


class ViewportTrail:
    """Gathers tiles into trail entries. Thread-safe: tiles are served by many threads."""

    def __init__(
        self,
        *,
        window: float = WINDOW_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._window = window
        self._monotonic = monotonic
        self._now = now
        self._lock = threading.Lock()
        self._open: dict[tuple[str, str, str | None, int], _Gathering] = {}
        self._due: list[TrailEntry] = []

    def saw(
        self,
        reader: str,
        slide: str,
        project_id: str | None,
        level: int,
        region: tuple[int, int, int, int],
    ) -> None:
        """The reader fetched a tile covering ``region`` (x, y, width, height, level-0 pixels)."""
        x, y, w, h = region
        box = (x, y, x + w, y + h)
        key = (reader, slide, project_id, level)
        at, tick = self._now(), self._monotonic()
        with self._lock:
            found = self._open.get(key)
            if found is not None and tick - found.opened >= self._window:
                self._due.append(self._entry(key, self._open.pop(key)))
                found = None
            if found is None:
                self._open[key] = _Gathering(tick, at, box)
                if len(self._open) > MAX_OPEN:
                    oldest = min(self._open, key=lambda k: self._open[k].opened)
                    self._due.append(self._entry(oldest, self._open.pop(oldest)))
                return
            found.last = at
            found.tiles += 1
            b = found.box
            found.box = (min(b[0], box[0]), min(b[1], box[1]), max(b[2], box[2]), max(b[3], box[3]))

    def due(self, *, everything: bool = False) -> list[TrailEntry]:
        """The entries whose window has closed (all of them, with ``everything``), taken."""
        tick = self._monotonic()
        with self._lock:
            closed = [
                k for k, g in self._open.items() if everything or tick - g.opened >= self._window
            ]
            for key in closed:
                self._due.append(self._entry(key, self._open.pop(key)))
            taken, self._due = self._due, []
        return taken

    @staticmethod
    def _entry(key: tuple[str, str, str | None, int], gathered: _Gathering) -> TrailEntry:
        reader, slide, project_id, level = key
        x0, y0, x1, y1 = gathered.box
        return TrailEntry(reader, slide, project_id, level, (x0, y0, x1 - x0, y1 - y0),
                          gathered.tiles, gathered.first, gathered.last)  # fmt: skip
