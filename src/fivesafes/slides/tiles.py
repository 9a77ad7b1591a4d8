"""A slide as DeepZoom (ADR 0029): the pyramid OpenSeadragon pans and zooms over, its descriptor
and its tiles, made from what the reader allows (``reading``: the levels' pixels, nothing else).

**Levels.** DeepZoom level ``n`` of ``count`` is the slide at a downsample of
``2 ** (count - 1 - n)``: the last is level 0 of the slide, each below it half the size
(rounded up), down to 1 x 1 pixel. Tiles are 256 x 256 with no overlap, in JPEG; a tile at the
right or bottom edge is cropped to the image. The geometry is OpenSlide's
``deepzoom.DeepZoomGenerator``'s (``tile_size=256, overlap=0``), so tiles are the same region.

**Passthrough.** When a DeepZoom level *is* a stored level (the same size, so the same
downsample) of a file whose tiles ``opentile`` gives (an Aperio SVS), of 256 x 256 JPEG tiles,
a whole tile is sent as the file stores it (its JPEG tables merged in, by ``opentile``): no
decoding, no encoding, the scanner's own compression. Only if its bytes are pixels and nothing
else: a JPEG stream whose segments are tables, a frame of 256 x 256, scans, restart markers,
and a bare JFIF or Adobe header; anything more (a comment, another application segment, a JFIF
thumbnail, bytes after its end) and the tile is decoded and encoded again, as every other is.

**Every other tile** is read from the stored level nearest above it in resolution (OpenSlide's
``get_best_level_for_downsample``), resized with Lanczos and encoded as JPEG (quality 85).

A slide's label, macro, thumbnail and every other associated image are not levels: no level,
column and row reaches them, and nothing here asks a reader for them.
"""

from __future__ import annotations

import io
import math
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from fivesafes.protocol.errors import FivesafesError
from fivesafes.slides.reading import (
    MAX_REGION_PIXELS,
    Slide,
    SlideInfo,
    SlideUnreadable,
    open_slide,
)

TILE_SIZE = 256
OVERLAP = 0
QUALITY = 85  # JPEG quality of tiles made here
FORMAT = "jpeg"
DZI_XMLNS = "http://schemas.microsoft.com/deepzoom/2008"
MAX_INDEX = 9_999_999  # a level, column or row given in a URL: at most seven digits
_PASSTHROUGH_FORMATS = frozenset({"aperio"})  # OpenSlide's vendor name; opentile's "svs"


class TileNotFound(FivesafesError):
    """A level, column or row outside the slide's DeepZoom pyramid (404, in words)."""

    code = "not_found"


@dataclass(frozen=True)
class Descriptor:
    """What OpenSeadragon needs to know of a slide (a DZI): its size, tile size, overlap and
    tile format."""

    width: int
    height: int
    tile_size: int = TILE_SIZE
    overlap: int = OVERLAP
    format: str = FORMAT

    def as_json(self, tiles_url: str) -> dict[str, Any]:
        """The DZI as JSON, as OpenSeadragon takes it; tiles at ``tiles_url``
        ``{level}/{col}_{row}.jpeg``."""
        return {"Image": {
            "xmlns": DZI_XMLNS, "Url": tiles_url, "Format": self.format,
            "Overlap": str(self.overlap), "TileSize": str(self.tile_size),
            "Size": {"Width": str(self.width), "Height": str(self.height)},
        }}  # fmt: skip

    def as_xml(self) -> str:
        """The DZI as XML (a ``.dzi`` file)."""
        return (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Image xmlns="{DZI_XMLNS}" '
            f'Format="{self.format}" Overlap="{self.overlap}" TileSize="{self.tile_size}">'
            f'<Size Width="{self.width}" Height="{self.height}"/></Image>\n'
        )


def deepzoom_sizes(width: int, height: int) -> tuple[tuple[int, int], ...]:
    """Each DeepZoom level's size, from 1 x 1 up to ``width`` x ``height``."""
    sizes = [(width, height)]
    while sizes[-1] != (1, 1):
        w, h = sizes[-1]
        sizes.append((max(1, math.ceil(w / 2)), max(1, math.ceil(h / 2))))
    return tuple(reversed(sizes))


class StoredTiles:
    """A file's stored JPEG tiles, as ``opentile`` gives them (tables merged in), by the index
    of the reader's level."""

    def __init__(self, tiler: Any, levels: dict[int, Any]) -> None:
        self._tiler = tiler
        self._levels = levels

    @classmethod
    def open_if(cls, path: Path, info: SlideInfo) -> StoredTiles | None:
        """The stored tiles of ``path`` if they may be passed through, else None."""
        tiled = (info.tile_width, info.tile_height) == (TILE_SIZE, TILE_SIZE)
        if info.format not in _PASSTHROUGH_FORMATS or not tiled:
            return None
        try:
            from opentile import OpenTile

            tiler = OpenTile.open(path, TILE_SIZE)
        except Exception:  # noqa: BLE001 - not one opentile reads: every tile is made here
            return None
        levels: dict[int, Any] = {}
        for level in tiler.levels:
            size = (level.image_size.width, level.image_size.height)
            tile = (level.tile_size.width, level.tile_size.height)
            found = [i for i, lv in enumerate(info.levels) if (lv.width, lv.height) == size]
            jpeg = getattr(level.compression, "name", "") == "JPEG"
            if found and tile == (TILE_SIZE, TILE_SIZE) and jpeg:
                levels[found[0]] = level
        if not levels:
            tiler.close()
            return None
        return cls(tiler, levels)

    @property
    def levels(self) -> frozenset[int]:
        return frozenset(self._levels)

    def tile(self, level: int, col: int, row: int) -> bytes:
        return bytes(self._levels[level].get_tile((col, row)))

    def close(self) -> None:
        self._tiler.close()


class DeepZoom:
    """One open slide as DeepZoom levels and tiles. ``tile`` may be called from several threads
    at once; a reader that is not OpenSlide's (tifffile, wsidicom) is read by one at a time."""

    def __init__(self, slide: Slide, stored: StoredTiles | None = None) -> None:
        self._slide = slide
        self._stored = stored
        info = slide.info
        self.info = info
        self.sizes = deepzoom_sizes(info.width, info.height)
        count = len(self.sizes)
        self.downsamples = tuple(2.0 ** (count - 1 - n) for n in range(count))
        self._best = tuple(_best_level(info, d) for d in self.downsamples)
        self._stored_level: dict[int, int] = {}  # DeepZoom level -> the reader's level
        for n, size in enumerate(self.sizes):
            for k, level in enumerate(info.levels):
                if stored and k in stored.levels and (level.width, level.height) == size:
                    self._stored_level[n] = k
        self._lock = threading.Lock()
        self._serial = info.format in ("ome-tiff", "dicom")

    @classmethod
    def open(cls, path: Path) -> DeepZoom:
        """The slide at ``path`` (``SlideUnreadable`` if it cannot be read)."""
        slide = open_slide(path)
        return cls(slide, StoredTiles.open_if(path, slide.info))

    @property
    def level_count(self) -> int:
        return len(self.sizes)

    def descriptor(self) -> Descriptor:
        return Descriptor(self.info.width, self.info.height)

    def level_tiles(self, level: int) -> tuple[int, int]:
        """Columns and rows of DeepZoom level ``level``."""
        w, h = self.sizes[level]
        return math.ceil(w / TILE_SIZE), math.ceil(h / TILE_SIZE)

    def passthrough(self, level: int) -> bool:
        """Whether whole tiles of DeepZoom level ``level`` are the file's own."""
        return level in self._stored_level

    def check(self, level: int, col: int, row: int) -> None:
        """``TileNotFound`` in words unless the slide has that tile."""
        if not 0 <= level < self.level_count:
            raise TileNotFound(
                f"The slide has no such tile: its DeepZoom levels are 0 to {self.level_count - 1}."
            )
        cols, rows = self.level_tiles(level)
        if not (0 <= col < cols and 0 <= row < rows):
            raise TileNotFound(
                f"The slide has no such tile: level {level} has columns 0 to {cols - 1} and "
                f"rows 0 to {rows - 1}."
            )

    def tile(self, level: int, col: int, row: int) -> bytes:
        """The JPEG bytes of tile (``col``, ``row``) of DeepZoom level ``level``."""
        self.check(level, col, row)
        w, h = self.sizes[level]
        x, y = col * TILE_SIZE, row * TILE_SIZE
        size = (min(TILE_SIZE, w - x), min(TILE_SIZE, h - y))
        try:
            stored = self._stored_level.get(level)
            if stored is not None and self._stored is not None and size == (TILE_SIZE, TILE_SIZE):
                with self._lock:  # opentile reads through one file handle
                    data = self._stored.tile(stored, col, row)
                if only_pixels(data, TILE_SIZE, TILE_SIZE):
                    return data
            return encode(self.render(level, x, y, size))
        except Exception:  # noqa: BLE001 - a reader's message may quote the file: a code only
            raise SlideUnreadable("unreadable") from None

    def render(self, level: int, x: int, y: int, size: tuple[int, int]) -> Image.Image:
        """The pixels of DeepZoom level ``level`` from (``x``, ``y``), ``size`` of them."""
        k = self._best[level]
        scale = self.downsamples[level] / self.info.levels[k].downsample
        lw, lh = self.info.levels[k].width, self.info.levels[k].height
        left, top = int(x * scale), int(y * scale)
        width = max(1, min(math.ceil(size[0] * scale), lw - left))
        height = max(1, min(math.ceil(size[1] * scale), lh - top))
        if width * height <= MAX_REGION_PIXELS:
            return _resized(self._read(k, left, top, width, height), size)
        # a shallow pyramid: the region is read in parts, each resized to its share
        out = Image.new("RGB", size)
        step = max(1, int(math.sqrt(MAX_REGION_PIXELS) / scale))
        for oy in range(0, size[1], step):
            for ox in range(0, size[0], step):
                part = (min(step, size[0] - ox), min(step, size[1] - oy))
                out.paste(self.render(level, x + ox, y + oy, part), (ox, oy))
        return out

    def _read(self, level: int, x: int, y: int, width: int, height: int) -> Image.Image:
        if self._serial:
            with self._lock:
                return self._slide.read_region(level, x, y, width, height)
        return self._slide.read_region(level, x, y, width, height)

    def close(self) -> None:
        if self._stored is not None:
            self._stored.close()
        self._slide.close()


def _best_level(info: SlideInfo, downsample: float) -> int:
    """The reader's level to read a downsample from (OpenSlide's rule): the last level whose
    downsample is not above it."""
    best = 0
    for k, level in enumerate(info.levels):
        if level.downsample <= downsample * (1 + 1e-9):
            best = k
    return best


def _resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)


def encode(image: Image.Image) -> bytes:
    """``image`` as a baseline JPEG of quality 85 (no metadata)."""
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=QUALITY)
    return out.getvalue()


# ---- a stored tile is passed through only if it is pixels and nothing else ---------------

_TABLES = frozenset({0xC4, 0xDB, 0xDD})  # DHT, DQT, DRI
_FRAMES = frozenset({0xC0, 0xC1, 0xC2})  # baseline, extended, progressive (Huffman)
_MARKER = re.compile(rb"\xff+([^\x00\xff\xd0-\xd7])")  # a marker inside entropy-coded data


def only_pixels(data: bytes, width: int, height: int) -> bool:
    """Whether ``data`` is one JPEG image of ``width`` x ``height`` holding nothing but what
    decoding it needs: no comment, no application segment but a bare JFIF or Adobe header, no
    JFIF thumbnail, nothing after its end."""
    if data[:2] != b"\xff\xd8":
        return False
    at, frames = 2, 0
    while at + 2 <= len(data):
        if data[at] != 0xFF:
            return False
        marker = data[at + 1]
        if marker == 0xD9:  # EOI: the end, with nothing after it
            return at + 2 == len(data) and frames == 1
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        body = data[at + 4 : at + 2 + length]
        if length < 2 or len(body) != length - 2:
            return False
        if marker in _FRAMES:
            frames += 1
            if len(body) < 5 or (int.from_bytes(body[3:5], "big"),
                                 int.from_bytes(body[1:3], "big")) != (width, height):  # fmt: skip
                return False
        elif marker == 0xE0:
            if not (body[:5] == b"JFIF\x00" and length == 16):  # a JFIF header, no thumbnail
                return False
        elif marker == 0xEE:
            if not (body[:5] == b"Adobe" and length == 14):
                return False
        elif marker == 0xDA:  # a scan: its entropy-coded data runs to the next marker
            found = _MARKER.search(data, at + 2 + length)
            if found is None:
                return False
            at = found.start(1) - 1
            continue
        elif marker not in _TABLES:
            return False
        at += 2 + length
    return False
