"""Clean Pixel Data (DICOM PS3.15 E.3.1): text burned into an image's pixels, blanked where it
is known to be.

Where is data: ``pixel_regions.toml`` beside this module (its format is written at its top),
rules that match an image by Modality, Rows and Columns, and optionally Manufacturer,
Manufacturer's Model Name and SOP Class UID, each naming rectangles to blank. Every rule that
matches blanks its rectangles in every frame, with numpy. Nothing is read in the image: an
image no rule matches keeps its pixels, and if it says Burned In Annotation (0028,0301) YES it
keeps saying so, counted ``pixels_unmatched``, for the check downstream to refuse; only an
image a rule matched is marked NO, counted ``pixels_cleaned``.

Blank is black as the image shows it: 0, or the largest stored value for MONOCHROME1, the
smallest for signed MONOCHROME2; for PALETTE COLOR, index 0 (whatever colour the palette
gives it). Compressed pixel data is decoded (by pydicom's decoders: JPEG, JPEG 2000 and RLE
here, not JPEG-LS) and written back uncompressed, Explicit VR Little Endian, colour as RGB
interleaved: the transfer syntax changes only for an image whose pixels changed. An image a
rule matches whose pixels cannot be decoded, or written back the way they were stored (one
bit a pixel), raises :class:`Undecodable`: the caller refuses the file rather than pass it on.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian

SHIPPED = "pixel_regions.toml"
_OFFSET_TABLES = (0x7FE00001, 0x7FE00002)  # Extended Offset Table and its lengths


class Undecodable(Exception):
    """The pixel data of an image a rule matched cannot be blanked."""


@dataclass(frozen=True)
class Region:
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class RegionRule:
    name: str
    modality: str
    rows: int
    columns: int
    manufacturer: str | None
    model: str | None
    sop_class: str | None
    regions: tuple[Region, ...]
    source: str

    def matches(self, image: dict[str, Any]) -> bool:
        """Whether this rule is for ``image`` (:func:`kind_of`)."""
        return (
            image["modality"] == self.modality
            and image["rows"] == self.rows
            and image["columns"] == self.columns
            and self.manufacturer in (None, image["manufacturer"])
            and self.model in (None, image["model"])
            and self.sop_class in (None, image["sop_class"])
        )


def load_rules(text: str) -> tuple[RegionRule, ...]:
    """The rules of a regions file; ``ValueError`` in words naming the rule at fault."""
    rules = []
    for number, row in enumerate(tomllib.loads(text).get("rule", ()), start=1):
        name = row.get("name", f"rule {number}")
        rows, columns = int(row["rows"]), int(row["columns"])
        regions = tuple(Region(*(int(v) for v in r)) for r in row["regions"])
        for r in regions:
            if r.x < 0 or r.y < 0 or r.width < 1 or r.height < 1:
                raise ValueError(f"{name}: a region must have a place and a size")
            if r.x + r.width > columns or r.y + r.height > rows:
                raise ValueError(f"{name}: a region runs outside the image")
        rules.append(
            RegionRule(
                name=name,
                modality=str(row["modality"]),
                rows=rows,
                columns=columns,
                manufacturer=_fold(row.get("manufacturer")),
                model=_fold(row.get("model")),
                sop_class=row.get("sop_class"),
                regions=regions,
                source=str(row["source"]),
            )
        )
    return tuple(rules)


@cache
def shipped_rules() -> tuple[RegionRule, ...]:
    return load_rules(resources.files(__package__).joinpath(SHIPPED).read_text("utf-8"))


def _fold(text: object) -> str | None:
    return None if text is None else str(text).strip().upper()


def kind_of(dataset: Dataset) -> dict[str, Any]:
    """What the rules look at in an image (a size that is not a number matches no rule)."""
    return {
        "modality": str(dataset.get("Modality", "") or "").strip(),
        "rows": _number(dataset.get("Rows")),
        "columns": _number(dataset.get("Columns")),
        "manufacturer": _fold(dataset.get("Manufacturer", "") or ""),
        "model": _fold(dataset.get("ManufacturerModelName", "") or ""),
        "sop_class": str(dataset.get("SOPClassUID", "") or ""),
    }


def _number(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def regions_of(dataset: Dataset, rules: Iterable[RegionRule] | None = None) -> list[Region]:
    """The regions the rules (by default the shipped ones) blank in this kind of image."""
    image = kind_of(dataset)
    return [r for rule in (rules or shipped_rules()) if rule.matches(image) for r in rule.regions]


def covered(dataset: Dataset) -> bool:
    """Whether a shipped region rule covers this kind of image (its burned-in text would be
    blanked): what lifts the rejectors' ``burned_in_annotation`` when pixels are cleaned."""
    return bool(regions_of(dataset))


def clean_pixels(
    dataset: Dataset, counts: Counter[str], rules: Iterable[RegionRule] | None = None
) -> None:
    """Blank the known burned-in regions of ``dataset`` (de-identified, its file meta made),
    in place; count the outcome in ``counts``."""
    if 0x7FE00010 not in dataset:
        return
    regions = regions_of(dataset, rules)
    if not regions:
        if str(dataset.get("BurnedInAnnotation", "") or "").strip().upper() == "YES":
            counts["pixels_unmatched"] += 1
        return
    try:
        _blank(dataset, regions)
    except Undecodable:
        raise
    except Exception as exc:  # a pixel module that does not describe its pixels
        raise Undecodable("the pixel data does not match its description") from exc
    dataset.BurnedInAnnotation = "NO"
    counts["pixels_cleaned"] += 1


def _blank(dataset: Dataset, regions: list[Region]) -> None:
    syntax = UID(dataset.file_meta.TransferSyntaxUID)
    try:
        pixels = np.array(dataset.pixel_array, copy=True)
    except Exception as exc:  # each decoder fails in its own way
        raise Undecodable("the pixel data cannot be decoded") from exc
    bits = int(dataset.BitsAllocated)
    if pixels.dtype.itemsize * 8 != bits:
        raise Undecodable("the pixels cannot be written back as they were stored")
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    black = _black(dataset)
    for r in regions:
        rows, columns = slice(r.y, r.y + r.height), slice(r.x, r.x + r.width)
        if frames > 1:
            pixels[:, rows, columns] = black
        else:
            pixels[rows, columns] = black
    if syntax.is_compressed:
        dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        for tag in _OFFSET_TABLES:
            dataset.pop(tag, None)
    elif not syntax.is_little_endian:
        pixels = pixels.astype(pixels.dtype.newbyteorder(">"))
    dataset.PixelData = pixels.tobytes()
    element = dataset["PixelData"]
    element.VR = "OW" if bits > 8 else "OB"
    element.is_undefined_length = False
    if int(dataset.get("SamplesPerPixel", 1) or 1) > 1:  # decoded as RGB, interleaved
        if str(dataset.get("PhotometricInterpretation", "")).startswith("YBR"):
            dataset.PhotometricInterpretation = "RGB"
        dataset.PlanarConfiguration = 0


def _black(dataset: Dataset) -> int:
    stored = int(dataset.get("BitsStored", dataset.BitsAllocated))
    signed = int(dataset.get("PixelRepresentation", 0) or 0) == 1
    if dataset.get("PhotometricInterpretation") == "MONOCHROME1":
        return (1 << (stored - 1)) - 1 if signed else (1 << stored) - 1
    return -(1 << (stored - 1)) if signed else 0
