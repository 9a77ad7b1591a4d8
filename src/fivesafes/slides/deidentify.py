"""A de-identified copy of a slide, for release (issue 16, point 2; ADR 0029): the slide's
pyramid and nothing else, rewritten into a new file, never edited in place.

What the copy keeps is the allow-list: every **tiled** image of the file (the pyramid's levels;
their tiles' bytes copied unchanged), and of each only the tags that say how to read it
(:data:`KEPT_TAGS`: size, compression, colour, tiling, JPEG tables, resolution). What it drops:
every stripped image (the label, the macro, the thumbnail), and every other tag (the
description with its free text and file name, the scanner's make, model and serial, software,
dates, artist, host, XMP, EXIF, GPS and private tags). An Aperio slide's copy gets a new
description of only its allow-listed facts (objective power, microns per pixel), so that
OpenSlide still reads it as Aperio with its physical size.

TIFF-based formats only for now (Aperio ``.svs``, generic tiled TIFF): anything else is refused
in words (``SlideUnreadable("copy_not_supported")``). ``tifftools`` reads and writes the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fivesafes.slides.reading import SlideInfo, SlideUnreadable

COPYABLE = frozenset({"aperio", "generic-tiff"})
KEPT_TAGS = frozenset(
    {
        "NewSubfileType", "ImageWidth", "ImageLength", "BitsPerSample", "Compression",
        "Photometric", "SamplesPerPixel", "PlanarConfig", "TileWidth", "TileLength",
        "TileOffsets", "TileByteCounts", "JPEGTables", "YCbCrSubsampling", "YCbCrPositioning",
        "ReferenceBlackWhite", "XResolution", "YResolution", "ResolutionUnit", "SampleFormat",
        "Predictor", "ExtraSamples",
    }
)  # fmt: skip
"""The tags a copy keeps: how to read the image, nothing about where it came from."""


def aperio_description(info: SlideInfo) -> str:
    """An Aperio description of only the allow-listed facts (OpenSlide reads ``AppMag`` and
    ``MPP`` from it; the first line must start with "Aperio")."""
    fields = ["Aperio Image Library (de-identified copy, fivesafes)"]
    fields.append(f"{info.width}x{info.height}")
    if info.objective_power is not None:
        fields.append(f"AppMag = {info.objective_power:g}")
    if info.mpp_x is not None:
        fields.append(f"MPP = {info.mpp_x:.4f}")
    return fields[0] + "\r\n" + "|".join(fields[1:])


def write_copy(source: Path, target: Path, info: SlideInfo) -> Path:
    """Write the de-identified copy of the slide at ``source`` (of facts ``info``) to
    ``target`` (which must not exist), atomically."""
    import tifftools

    if info.format not in COPYABLE:
        raise SlideUnreadable("copy_not_supported")
    if target.exists():
        raise FileExistsError("the copy's target exists already")
    try:
        document: dict[str, Any] = tifftools.read_tiff(str(source))
    except Exception:  # noqa: BLE001 - its message may name the file: a code only
        raise SlideUnreadable("unreadable") from None
    names = {tag.value: tag.name for tag in tifftools.Tag}
    tiled = []
    for ifd in document["ifds"]:
        tags = ifd["tags"]
        if tifftools.Tag.TileWidth.value not in tags:
            continue  # a stripped image: the label, the macro or the thumbnail
        ifd["tags"] = {k: v for k, v in tags.items() if names.get(k) in KEPT_TAGS}
        tiled.append(ifd)
    if not tiled:
        raise SlideUnreadable("not_a_pyramid")
    tiled.sort(key=lambda ifd: -int(ifd["tags"][tifftools.Tag.ImageWidth.value]["data"][0]))
    if info.format == "aperio":
        tiled[0]["tags"][tifftools.Tag.ImageDescription.value] = {
            "datatype": tifftools.Datatype.ASCII,
            "data": aperio_description(info),
        }
    for ifd in tiled[1:]:  # a reduced-resolution image of the first, as TIFF says
        ifd["tags"][tifftools.Tag.NewSubfileType.value] = {
            "datatype": tifftools.Datatype.LONG,
            "data": [1],
        }
    document["ifds"] = tiled
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        tifftools.write_tiff(document, str(partial), allowExisting=False)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target
