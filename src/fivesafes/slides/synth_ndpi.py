"""A synthetic slide as a Hamamatsu NDPI (``fivesafes synth slides --ndpi``): the layout that
OpenSlide reads as vendor ``hamamatsu`` (its ``hamamatsu-ndpi`` format), with identifiers planted
where NanoZoomer files carry them.

**What OpenSlide asks of an NDPI**, and how this file meets it:

| OpenSlide reads | written here |
| --- | --- |
| tag 65420 (NDPI's file format) in the first IFD | ``1``, in every IFD |
| each IFD in **one** strip | each level, and the macro, one JPEG |
| tag 65421 (source lens): above 0 a level, -1 the macro | the objective power; -1 |
| tag 65424 (focal plane) of a level: plane 0 only | ``0`` |
| levels in order, each narrower than the last | level 0 first, then by 4 |
| a level's tile: its JPEG's restart interval, one MCU high | 4:2:2 (MCUs of 16 x 8) |
| the restart interval divides the MCUs of a row | 16, 8, 4, 2 or 1 MCUs |
| tag 65426 (MCU starts, optional) | each interval's offset |
| microns per pixel: the resolution in centimetres | ``XResolution``, ``YResolution`` |
| NDPI's 64-bit offsets (as tifffile does for ``.ndpi``) | :func:`_write_tiff` |

A tile is at most 256 x 8 pixels; OpenSlide reads a level in whole tiles, so each level here
is the SVS's widened to whole MCUs (a multiple of 16 wide, 8 high; a slide whose sides are
multiples of 16 times the downsamples gains nothing). OpenSlide adds levels of its own between
the stored ones (its JPEG decoder scaling a level by 1/2, 1/4 and 1/8), so it reports more
levels than are stored. With 4:2:0 (MCUs 16 high) OpenSlide 4.0.1 could not read the tiles
(libjpeg's warning "found marker 0xd9 instead of RST0", which OpenSlide makes an error), so
the JPEGs here are 4:2:2.
A level's JPEG is made in bands of rows with Pillow (``restart_marker_blocks``) and the bands'
intervals joined into one stream, so level 0 is never one array in memory.

**Where the identifiers are** (each a row of ``planted_identifiers.csv``):

| where | what |
| --- | --- |
| ``macro_pixels`` | the macro (source lens -1): the label: name, hospital and NHS numbers |
| ``metadata:Reference`` | tag 65427 (``hamamatsu.Reference``): name, hospital number |
| ``metadata:property_map`` | tag 65449 (``hamamatsu.*``): a free-text ``Comment`` |
| ``metadata:ScannerSerialNumber`` | tag 65442 (and ``NDP.S/N`` in the property map) |
| ``metadata:DateTime`` | TIFF ``DateTime``: when the slide was scanned |

No tile of an NDPI is stored as a 256 x 256 JPEG of its own (a level is one stream of narrow
stripes), so none is passed through as the file stores it (``tiles``): every DeepZoom tile is
read through OpenSlide and encoded again.
"""

from __future__ import annotations

import io
import math
import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from fivesafes.slides.synth_pixels import (
    TILE,
    level0,
    lower_levels,
    reduced_buffer,
    render_label,
    render_macro,
)
from fivesafes.slides.synth_plan import DOWNSAMPLE, Slide

MCU_WIDTH, MCU_HEIGHT = 16, 8  # pixels: a 4:2:2 JPEG's minimum coded unit
QUALITY = 80
MAKE = "Hamamatsu"
MODEL = "NanoZoomer (synthetic)"
SOFTWARE = "NDP.scan (synthetic)"

# the NDPI's own tags (OpenSlide's names; tifffile's in brackets)
FILE_FORMAT = 65420
SOURCE_LENS = 65421  # [Magnification]
X_OFFSET = 65422  # nm from the slide's centre
Y_OFFSET = 65423
FOCAL_PLANE = 65424  # [ZOffsetFromSlideCenter]
MCU_STARTS = 65426
REFERENCE = 65427  # [SlideLabel]
SERIAL_NUMBER = 65442
PROPERTY_MAP = 65449  # [Comments]

_RESTART = re.compile(rb"\xff[\xd0-\xd7]")  # a restart marker (0xFF in data is stuffed)
_SOF0 = 0xC0
_SOS = 0xDA


@dataclass(frozen=True)
class Stripes:
    """One level as one JPEG stream: the bytes, and where each restart interval starts."""

    data: bytes
    starts: tuple[int, ...]  # offsets in ``data`` of each interval's first byte


def level_sizes(slide: Slide) -> list[tuple[int, int]]:
    """Each stored level's (width, height): the SVS's, widened to whole MCUs."""
    return [
        (math.ceil(w / MCU_WIDTH) * MCU_WIDTH, math.ceil(h / MCU_HEIGHT) * MCU_HEIGHT)
        for w, h in slide.level_sizes
    ]


def restart_interval(width: int) -> int:
    """MCUs per restart interval for a level ``width`` pixels wide (a multiple of 16): the
    largest of 16, 8, 4, 2 and 1 that divides the row's MCUs (opentile 0.22 makes wrong tiles
    of stripes whose width does not divide 256)."""
    mcus = width // MCU_WIDTH
    return max(n for n in (1, 2, 4, 8, 16) if mcus % n == 0)


def encode_level(bands: Iterable[np.ndarray], width: int, height: int) -> Stripes:
    """A level as one baseline JPEG with restart markers, from its rows in ``bands`` (top to
    bottom, each ``width`` wide and, but for the last, a multiple of 8 high). Each band is
    encoded alone with the same tables; as every band starts on an interval, its intervals are
    the whole image's, numbered on across the bands."""
    interval = restart_interval(width)
    header = b""
    intervals: list[bytes] = []
    for band in bands:
        out = io.BytesIO()
        Image.fromarray(band).save(
            out, "JPEG", quality=QUALITY, subsampling="4:2:2", restart_marker_blocks=interval
        )
        head, scan = _split(out.getvalue())
        header = header or head
        intervals += _RESTART.split(scan)
    expected = math.ceil(height / MCU_HEIGHT) * (width // MCU_WIDTH // interval)
    if len(intervals) != expected:
        raise RuntimeError(f"a level of {expected} restart intervals came out as {len(intervals)}")
    parts = [_with_height(header, height)]
    starts = []
    at = len(parts[0])
    for n, data in enumerate(intervals):
        if n:
            parts.append(bytes((0xFF, 0xD0 + (n - 1) % 8)))
            at += 2
        starts.append(at)
        parts.append(data)
        at += len(data)
    parts.append(b"\xff\xd9")
    return Stripes(b"".join(parts), tuple(starts))


def _split(jpeg: bytes) -> tuple[bytes, bytes]:
    """A baseline JPEG's header (to the end of its scan header) and its scan data (to EOI)."""
    at = 2
    while jpeg[at] == 0xFF:
        marker = jpeg[at + 1]
        at += 2 + int.from_bytes(jpeg[at + 2 : at + 4], "big")
        if marker == _SOS:
            if jpeg[-2:] != b"\xff\xd9":
                raise RuntimeError("the JPEG does not end with EOI")
            return jpeg[:at], jpeg[at:-2]
    raise RuntimeError("the JPEG has no scan")


def _with_height(header: bytes, height: int) -> bytes:
    """``header`` with its frame's height set to ``height``."""
    at = 2
    while header[at] == 0xFF:
        marker = header[at + 1]
        if marker == _SOF0:
            place = at + 5  # marker, length, precision
            return header[:place] + height.to_bytes(2, "big") + header[place + 2 :]
        at += 2 + int.from_bytes(header[at + 2 : at + 4], "big")
    raise RuntimeError("the JPEG has no baseline frame")


def _bands(rows: np.ndarray, width: int, height: int) -> Iterator[np.ndarray]:
    """A level in memory as bands of 256 rows, widened to ``width`` x ``height`` by repeating
    its last column and row."""
    wider = ((0, height - rows.shape[0]), (0, width - rows.shape[1]), (0, 0))
    whole = np.pad(rows, wider, mode="edge")
    for y in range(0, height, TILE):
        yield np.ascontiguousarray(whole[y : min(y + TILE, height)])


def _level0_bands(
    slide: Slide, reduced: np.ndarray, width: int, height: int
) -> Iterator[np.ndarray]:
    """Level 0 as bands of 256 rows, joined from its tiles as they are made (every tile is
    made, so that ``reduced`` holds level 1 at the end). The tiles run on past the slide's
    edge to a whole tile, so they hold every pixel of a level widened to whole MCUs."""
    columns = math.ceil(slide.width / TILE)
    row: list[np.ndarray] = []
    y = 0
    for tile in level0(slide, reduced):
        row.append(tile)
        if len(row) < columns:
            continue
        if y < height:
            band = np.concatenate(row, axis=1)
            yield np.ascontiguousarray(band[: min(TILE, height - y), :width])
        row, y = [], y + TILE


# ---- what is planted ----------------------------------------------------------------------


def serial_number(slide: Slide) -> str:
    """The NanoZoomer's serial number: six digits from the slide's scanner."""
    return f"{int(slide.scanner[2:]) * 7 % 1_000_000:06d}"


def scan_datetime(slide: Slide) -> str:
    """The TIFF ``DateTime`` of the scan, as TIFF writes it."""
    return f"{slide.scanned:%Y:%m:%d %H:%M:%S}"


def reference(slide: Slide) -> str:
    """Tag 65427 (the slide's reference): what the operator typed from the label."""
    who = slide.identity
    return f"{slide.specimen_id} {slide.block} {who.name} {who.hospital_number}"


def property_map(slide: Slide) -> str:
    """Tag 65449: ``key=value`` lines, CR LF apart (OpenSlide's ``hamamatsu.<key>``)."""
    fields = {
        "Product": MODEL,
        "NDP.S/N": serial_number(slide),
        "Created": f"{slide.scanned:%Y/%m/%d}",
        "Comment": slide.comment,
    }
    return "\r\n".join(f"{key}={value}" for key, value in fields.items())


def planted(slide: Slide) -> list[tuple[str, str, str]]:
    """Every identifier planted in the slide's NDPI: (where, kind, value)."""
    who = slide.identity
    drawn = (
        ("patient_name", who.name),
        ("hospital_number", who.hospital_number),
        ("nhs_number", who.nhs_number),
    )
    return [
        *(("macro_pixels", kind, value) for kind, value in drawn),
        ("metadata:Reference", "patient_name", who.name),
        ("metadata:Reference", "hospital_number", who.hospital_number),
        ("metadata:property_map", "patient_name", who.name),
        ("metadata:property_map", "nhs_number", who.nhs_number),
        ("metadata:property_map", "hospital_number", who.hospital_number),
        ("metadata:ScannerSerialNumber", "scanner_serial", serial_number(slide)),
        ("metadata:DateTime", "scan_datetime", scan_datetime(slide)),
    ]


# ---- the file ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Image:
    """One IFD: one strip of JPEG and the tags that say what it is."""

    jpeg: bytes
    width: int
    height: int
    lens: float  # NDPI source lens: above 0 a level, -1 the macro
    mpp: float | None  # microns per pixel (a level's)
    starts: tuple[int, ...] = ()  # where each restart interval starts (a level of many)


def write_ndpi(slide: Slide, path: Path) -> tuple[int, int]:
    """Write the slide as an NDPI at ``path``: its levels, then its macro. Returns level 0's
    (width, height)."""
    sizes = level_sizes(slide)
    reduced = reduced_buffer(slide)
    width, height = sizes[0]
    first = encode_level(_level0_bands(slide, reduced, width, height), width, height)
    images = [_Image(first.data, width, height, slide.app_mag, slide.mpp, first.starts)]
    levels = lower_levels(slide, reduced)
    for k, (w, h) in enumerate(sizes[1:], 1):
        stripes = encode_level(_bands(levels[k - 1], w, h), w, h)
        mpp = slide.mpp * DOWNSAMPLE**k
        images.append(_Image(stripes.data, w, h, slide.app_mag, mpp, stripes.starts))
    macro = render_macro(render_label(slide), levels[0])
    out = io.BytesIO()
    macro.save(out, "JPEG", quality=QUALITY, subsampling="4:2:2")
    images.append(_Image(out.getvalue(), macro.width, macro.height, -1.0, None))
    _write_tiff(path, images, _ascii_tags(slide))
    return sizes[0]


def _ascii_tags(slide: Slide) -> dict[int, str]:
    """The text tags every IFD carries (the first IFD's are OpenSlide's properties)."""
    return {
        271: MAKE,  # Make
        272: MODEL,  # Model
        305: SOFTWARE,  # Software
        306: scan_datetime(slide),  # DateTime
        REFERENCE: reference(slide),
        SERIAL_NUMBER: serial_number(slide),
        PROPERTY_MAP: property_map(slide),
    }


# TIFF field types
_ASCII, _SHORT, _LONG, _RATIONAL, _SLONG, _FLOAT = 2, 3, 4, 5, 9, 11
_FORMATS = {_SHORT: "H", _LONG: "I", _RATIONAL: "I", _SLONG: "i", _FLOAT: "f"}
_SIZES = {_ASCII: 1, _SHORT: 2, _LONG: 4, _RATIONAL: 8, _SLONG: 4, _FLOAT: 4}


def _tags(image: _Image, strip_at: int, text: dict[int, str]) -> dict[int, tuple[int, bytes]]:
    """An image's tags: code -> (type, value as little-endian bytes)."""

    def packed(kind: int, *values: float) -> tuple[int, bytes]:
        return kind, struct.pack(f"<{len(values)}{_FORMATS[kind]}", *values)

    tags = {
        256: packed(_LONG, image.width),  # ImageWidth
        257: packed(_LONG, image.height),  # ImageLength
        258: packed(_SHORT, 8, 8, 8),  # BitsPerSample
        259: packed(_SHORT, 7),  # Compression: JPEG
        262: packed(_SHORT, 6),  # PhotometricInterpretation: YCbCr
        273: packed(_LONG, strip_at),  # StripOffsets: one strip
        277: packed(_SHORT, 3),  # SamplesPerPixel
        278: packed(_LONG, image.height),  # RowsPerStrip
        279: packed(_LONG, len(image.jpeg)),  # StripByteCounts
        530: packed(_SHORT, 2, 1),  # YCbCrSubSampling: 4:2:2
        FILE_FORMAT: packed(_LONG, 1),
        SOURCE_LENS: packed(_FLOAT, image.lens),
        X_OFFSET: packed(_SLONG, 0),
        Y_OFFSET: packed(_SLONG, 0),
        FOCAL_PLANE: packed(_SLONG, 0),
    }
    if image.mpp is not None:  # pixels per centimetre: 10^4 / mpp, exactly
        resolution = packed(_RATIONAL, 10**8, round(image.mpp * 10**4))
        tags |= {282: resolution, 283: resolution, 296: packed(_SHORT, 3)}  # centimetre
    if len(image.starts) > 1:
        tags[MCU_STARTS] = packed(_LONG, *image.starts)
    tags |= {code: (_ASCII, value.encode("ascii") + b"\0") for code, value in text.items()}
    return dict(sorted(tags.items()))


def _write_tiff(path: Path, images: list[_Image], text: dict[int, str]) -> None:
    """Write ``images`` as an NDPI: classic little-endian TIFF with NDPI's 64-bit extensions,
    as OpenSlide and tifffile read them: the first IFD's offset in 8 bytes, each IFD's next
    offset in 8 bytes, then 4 bytes per entry (the high half of its value or offset: all 0
    here, the file being under 4 GB), and text always out of line. The strips come first,
    then each IFD after the values it points to."""
    with path.open("wb") as handle:
        handle.write(b"II" + struct.pack("<H", 42) + bytes(8))
        strips = []
        for image in images:
            strips.append(handle.tell())
            handle.write(image.jpeg)
        link = 4  # where the offset of the next IFD is written
        for image, strip_at in zip(images, strips, strict=True):
            handle.write(bytes(handle.tell() % 2))
            values_at = handle.tell()
            values = bytearray()
            fields = []
            for code, (kind, value) in _tags(image, strip_at, text).items():
                if kind != _ASCII and len(value) <= 4:
                    field = value.ljust(4, b"\0")
                else:
                    field = struct.pack("<I", values_at + len(values))
                    values += value + bytes(len(value) % 2)
                count = len(value) // _SIZES[kind]
                fields.append(struct.pack("<HHI", code, kind, count) + field)
            handle.write(values)
            ifd = handle.tell()
            if ifd >= 1 << 32:
                raise ValueError("an NDPI written here must be under 4 GB")
            handle.write(struct.pack("<H", len(fields)) + b"".join(fields))
            following = handle.tell()
            handle.write(bytes(8 + 4 * len(fields)))  # no next IFD yet; the high halves
            end = handle.tell()
            handle.seek(link)
            handle.write(struct.pack("<Q", ifd))
            handle.seek(end)
            link = following
