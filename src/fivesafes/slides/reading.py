"""Reading a whole-slide image (ADR 0029): which library opens which format, and what of a slide
may be known outside its file.

| format | recognised by | opened with |
| --- | --- | --- |
| ``dicom`` (DICOM-WSI) | a folder of DICOM files, or a ``.dcm`` file in one | ``wsidicom`` |
| ``ome-tiff`` (OME-TIFF, QPTIFF) | ``tifffile``: OME-XML or QPTIFF tags | ``tifffile`` |
| OpenSlide's (``aperio``, ``hamamatsu``, ``generic-tiff``...) | ``detect_format`` | OpenSlide |

**The allow-list.** What a slide may show outside its file is :class:`SlideInfo` and its
pixels, read level by level: the format, the pyramid (each level's size and downsample), the
tile size, microns per pixel and objective power. Nothing else is read from the file's
metadata into anything the platform keeps or shows: not the label, the macro or any other
associated image, not free text, scanner serials, dates or file names (a label or a file name
often carries the patient's name and hospital number). A file that cannot be read is
:class:`SlideUnreadable` with a reason code, never with the library's message (which may quote
the file's name or metadata).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from PIL import Image

MAX_LEVEL_PIXELS = 1 << 40  # a level of more pixels than this is not a slide (2^20 px a side)
MAX_REGION_PIXELS = 4096 * 4096  # one read, at most


class SlideUnreadable(Exception):
    """The file is not a slide this platform reads; ``reason`` is a code
    (``not_found``, ``unsupported_format``, ``unreadable``, ``not_a_pyramid``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Level:
    width: int
    height: int
    downsample: float


@dataclass(frozen=True)
class SlideInfo:
    """Everything of a slide that may be known outside its file (the allow-list)."""

    format: str  # aperio | hamamatsu | generic-tiff | ... | ome-tiff | dicom
    levels: tuple[Level, ...]  # level 0 first
    tile_width: int | None
    tile_height: int | None
    mpp_x: float | None  # microns per pixel at level 0
    mpp_y: float | None
    objective_power: float | None

    @property
    def width(self) -> int:
        return self.levels[0].width

    @property
    def height(self) -> int:
        return self.levels[0].height


class Slide(Protocol):
    """An open slide: its allow-listed facts, and its pixels."""

    info: SlideInfo

    def read_region(self, level: int, x: int, y: int, width: int, height: int) -> Image.Image:
        """RGB pixels of ``level`` from (``x``, ``y``) in that level's coordinates."""
        ...

    def close(self) -> None: ...


def open_slide(path: Path) -> Slide:
    """The slide at ``path`` (a file, or a DICOM-WSI folder), opened by its format's reader."""
    if not path.exists():
        raise SlideUnreadable("not_found")
    if path.is_dir() or path.suffix.lower() == ".dcm":
        return _DicomSlide.open(path if path.is_dir() else path.parent)
    ome = _OmeSlide.open_if(path)
    if ome is not None:
        return ome
    return _OpenSlide.open(path)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _checked(levels: list[Level]) -> tuple[Level, ...]:
    if not levels or any(
        lv.width < 1 or lv.height < 1 or lv.width * lv.height > MAX_LEVEL_PIXELS for lv in levels
    ):
        raise SlideUnreadable("unreadable")
    return tuple(levels)


def _region(info: SlideInfo, level: int, width: int, height: int) -> None:
    if not 0 <= level < len(info.levels):
        raise ValueError(f"the slide has levels 0 to {len(info.levels) - 1}")
    if width < 1 or height < 1 or width * height > MAX_REGION_PIXELS:
        raise ValueError(f"a region is 1 to {MAX_REGION_PIXELS:,} pixels")


class _OpenSlide:
    def __init__(self, handle: Any, info: SlideInfo) -> None:
        self._handle = handle
        self.info = info

    @classmethod
    def open(cls, path: Path) -> _OpenSlide:
        import openslide

        try:
            vendor = openslide.OpenSlide.detect_format(str(path))
        except Exception:  # noqa: BLE001 - its message may name the file: a code only
            vendor = None
        if vendor is None:
            raise SlideUnreadable("unsupported_format")
        try:
            handle = openslide.OpenSlide(str(path))
        except Exception:  # noqa: BLE001 - as above
            raise SlideUnreadable("unreadable") from None
        properties = handle.properties
        levels = [
            Level(int(w), int(h), float(d))
            for (w, h), d in zip(handle.level_dimensions, handle.level_downsamples, strict=True)
        ]
        tile = (
            properties.get("openslide.level[0].tile-width"),
            properties.get("openslide.level[0].tile-height"),
        )
        info = SlideInfo(
            format=str(vendor),
            levels=_checked(levels),
            tile_width=int(tile[0]) if tile[0] else None,
            tile_height=int(tile[1]) if tile[1] else None,
            mpp_x=_number(properties.get(openslide.PROPERTY_NAME_MPP_X)),
            mpp_y=_number(properties.get(openslide.PROPERTY_NAME_MPP_Y)),
            objective_power=_number(properties.get(openslide.PROPERTY_NAME_OBJECTIVE_POWER)),
        )
        return cls(handle, info)

    def read_region(self, level: int, x: int, y: int, width: int, height: int) -> Image.Image:
        _region(self.info, level, width, height)
        scale = self.info.levels[level].downsample
        origin = (round(x * scale), round(y * scale))  # OpenSlide takes level-0 coordinates
        region: Image.Image = self._handle.read_region(origin, level, (width, height))
        return region.convert("RGB")

    def close(self) -> None:
        self._handle.close()


class _OmeSlide:
    def __init__(self, handle: Any, series: Any, info: SlideInfo) -> None:
        self._handle = handle
        self._series = series
        self.info = info

    @classmethod
    def open_if(cls, path: Path) -> _OmeSlide | None:
        """The slide if ``path`` is an OME-TIFF or QPTIFF pyramid, else None."""
        import tifffile

        try:
            handle = tifffile.TiffFile(path)
        except Exception:  # noqa: BLE001 - not a TIFF at all: OpenSlide decides
            return None
        if not (handle.is_ome or handle.is_qpi):
            handle.close()
            return None
        series = handle.series[0]
        sizes = [_yx(level.shape, series.axes) for level in series.levels]
        base = sizes[0][1]
        levels = [Level(width, height, base / width) for height, width in sizes]
        if len(levels) < 2 and max(levels[0].width, levels[0].height) > 8192:
            handle.close()
            raise SlideUnreadable("not_a_pyramid")
        page = series.levels[0].keyframe
        mpp = _ome_mpp(handle)
        info = SlideInfo(
            format="ome-tiff",
            levels=_checked(levels),
            tile_width=int(page.tilewidth) or None,
            tile_height=int(page.tilelength) or None,
            mpp_x=mpp[0],
            mpp_y=mpp[1],
            objective_power=None,
        )
        return cls(handle, series, info)

    def read_region(self, level: int, x: int, y: int, width: int, height: int) -> Image.Image:
        import numpy as np
        from PIL import Image

        _region(self.info, level, width, height)
        data = self._series.levels[level].asarray()  # small synthetic levels; a cache comes later
        if data.ndim == 3 and data.shape[0] in (3, 4) and self._series.axes.startswith("S"):
            data = np.moveaxis(data, 0, -1)
        crop = data[y : y + height, x : x + width, :3]
        return Image.fromarray(np.ascontiguousarray(crop).astype("uint8"), "RGB")

    def close(self) -> None:
        self._handle.close()


def _yx(shape: tuple[int, ...], axes: str) -> tuple[int, int]:
    return int(shape[axes.index("Y")]), int(shape[axes.index("X")])


def _ome_mpp(handle: Any) -> tuple[float | None, float | None]:
    """Physical pixel sizes from the OME-XML (in µm), if it states them."""
    import re

    xml = handle.ome_metadata or ""
    found = {}
    for axis in ("X", "Y"):
        match = re.search(rf'PhysicalSize{axis}="([0-9.eE+-]+)"', xml)
        found[axis] = _number(match.group(1)) if match else None
    return found["X"], found["Y"]


class _DicomSlide:
    def __init__(self, handle: Any, info: SlideInfo) -> None:
        self._handle = handle
        self.info = info

    @classmethod
    def open(cls, folder: Path) -> _DicomSlide:
        from wsidicom import WsiDicom

        try:
            handle = WsiDicom.open(folder)
        except Exception:  # noqa: BLE001 - its message may quote the files
            raise SlideUnreadable("unreadable") from None
        base = handle.levels[0]
        levels = [
            Level(int(level.size.width), int(level.size.height), base.size.width / level.size.width)
            for level in handle.levels
        ]
        mpp = handle.mpp
        info = SlideInfo(
            format="dicom",
            levels=_checked(levels),
            tile_width=int(handle.tile_size.width),
            tile_height=int(handle.tile_size.height),
            mpp_x=_number(mpp.width) if mpp is not None else None,
            mpp_y=_number(mpp.height) if mpp is not None else None,
            objective_power=None,
        )
        return cls(handle, info)

    def read_region(self, level: int, x: int, y: int, width: int, height: int) -> Image.Image:
        _region(self.info, level, width, height)
        pyramid_level = self._handle.levels[level].level  # wsidicom's: log2 of the downsample
        image: Image.Image = self._handle.read_region((x, y), pyramid_level, (width, height))
        return image.convert("RGB")

    def close(self) -> None:
        self._handle.close()
