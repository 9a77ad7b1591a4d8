"""Serving a node's slides as DeepZoom (``tiles``): a few slides kept open (least recently used
closed first, once no request is reading it) and the tiles served lately kept (up to a number
of bytes), each with an ETag (a hash of its bytes).

A slide is named by its id; where its file is comes from ``path_of`` (the node's
``pathology_slide_file``, read on the server only) and is never told: a slide whose file cannot
be read any more is ``SlideFileUnreadable``, in words, without its path or the reader's message.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from fivesafes.protocol.errors import NotFoundOrNoPermission, ServiceUnavailable
from fivesafes.slides.reading import SlideUnreadable
from fivesafes.slides.tiles import DeepZoom, Descriptor

OPEN_SLIDES = 4
CACHE_BYTES = 64 * 1024 * 1024
MAX_CACHED_TILE = 1024 * 1024  # a tile larger than this is served, not kept


class SlideFileUnreadable(ServiceUnavailable):
    """The slide is registered but its file cannot be read now (moved, deleted, damaged)."""

    def __init__(self) -> None:
        super().__init__(
            "The slide's file cannot be read at this node now (it may have been moved since it "
            "was registered); the node's operator can register it again."
        )


@dataclass(frozen=True)
class Tile:
    data: bytes
    etag: str  # quoted, as an ETag header carries it


class TileSource(Protocol):
    """What the cache serves a slide from: an open slide (``tiles.DeepZoom``) at a node, a
    release pack (``pack.TilePack``) at the hub."""

    def descriptor(self) -> Descriptor: ...
    def tile(self, level: int, col: int, row: int) -> bytes: ...
    def close(self) -> None: ...


class _Open:
    def __init__(self, deepzoom: TileSource) -> None:
        self.deepzoom = deepzoom
        self.users = 0
        self.evicted = False


class SlideTiles:
    """The DeepZoom descriptors and tiles of the slides ``path_of`` finds. Thread-safe."""

    def __init__(
        self,
        path_of: Callable[[str], Path | None],
        *,
        open_slides: int = OPEN_SLIDES,
        cache_bytes: int = CACHE_BYTES,
        opener: Callable[[Path], TileSource] = DeepZoom.open,
    ) -> None:
        self._path_of = path_of
        self._opener = opener
        self._limit = max(1, open_slides)
        self._cache_limit = max(0, cache_bytes)
        self._lock = threading.Lock()
        self._open: OrderedDict[str, _Open] = OrderedDict()
        self._tiles: OrderedDict[tuple[str, int, int, int], Tile] = OrderedDict()
        self._cached = 0

    def descriptor(self, slide_id: str) -> Descriptor:
        with self._using(slide_id) as deepzoom:
            return deepzoom.descriptor()

    def tile(self, slide_id: str, level: int, col: int, row: int) -> Tile:
        """The tile, from the cache or made (``TileNotFound`` in words if there is none)."""
        key = (slide_id, level, col, row)
        with self._lock:
            found = self._tiles.get(key)
            if found is not None:
                self._tiles.move_to_end(key)
                return found
        with self._using(slide_id) as deepzoom:
            try:
                data = deepzoom.tile(level, col, row)
            except SlideUnreadable:
                raise SlideFileUnreadable() from None
        made = Tile(data, '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"')
        self._keep(key, made)
        return made

    def forget(self, slide_id: str) -> None:
        """Close the slide if open and drop its cached tiles (a release withdrawn or ended:
        nothing of it is served from memory afterwards)."""
        with self._lock:
            opened = self._open.pop(slide_id, None)
            for key in [k for k in self._tiles if k[0] == slide_id]:
                self._cached -= len(self._tiles.pop(key).data)
        if opened is not None:
            self._retire(opened)

    def close(self) -> None:
        """Close every open slide (those in use, once their requests end)."""
        with self._lock:
            opened = list(self._open.values())
            self._open.clear()
            self._tiles.clear()
            self._cached = 0
        for each in opened:
            self._retire(each)

    @property
    def cached_bytes(self) -> int:
        return self._cached

    @property
    def open_count(self) -> int:
        return len(self._open)

    @contextmanager
    def _using(self, slide_id: str) -> Iterator[TileSource]:
        opened = self._acquire(slide_id)
        try:
            yield opened.deepzoom
        finally:
            with self._lock:
                opened.users -= 1
                done = opened.evicted and opened.users == 0
            if done:
                opened.deepzoom.close()

    def _acquire(self, slide_id: str) -> _Open:
        with self._lock:
            found = self._open.get(slide_id)
            if found is not None:
                self._open.move_to_end(slide_id)
                found.users += 1
                return found
        path = self._path_of(slide_id)
        if path is None:
            raise NotFoundOrNoPermission("slide")
        try:
            made = _Open(self._opener(path))
        except SlideUnreadable:
            raise SlideFileUnreadable() from None
        retired: list[_Open] = []
        with self._lock:
            raced = self._open.get(slide_id)
            if raced is not None:  # another request opened it meanwhile: use theirs
                retired.append(made)
                made = raced
                self._open.move_to_end(slide_id)
            else:
                self._open[slide_id] = made
                while len(self._open) > self._limit:
                    _, oldest = self._open.popitem(last=False)
                    retired.append(oldest)
            made.users += 1
        for each in retired:
            self._retire(each)
        return made

    def _retire(self, opened: _Open) -> None:
        with self._lock:
            opened.evicted = True
            idle = opened.users == 0
        if idle:
            opened.deepzoom.close()

    def _keep(self, key: tuple[str, int, int, int], tile: Tile) -> None:
        size = len(tile.data)
        if size > min(MAX_CACHED_TILE, self._cache_limit):
            return
        with self._lock:
            if key in self._tiles:
                return
            self._tiles[key] = tile
            self._cached += size
            while self._cached > self._cache_limit:
                _, old = self._tiles.popitem(last=False)
                self._cached -= len(old.data)
