"""What an output checker opens of a held extract (ADR 0028, point 5): a random sample of its
written files, each as its de-identified header and a thumbnail of its first frame.

- **The files** of an extract are the regular files below its folder, in the sorted order of
  their paths relative to it (:func:`extract_files`); a file is named on a page by its place
  in that order, never by a path. Symbolic links, hidden names (a write still under way is
  ``.<name>.<pid>.part``) and anything resolving outside the folder are not the extract's.
- **The sample** (:func:`sample_files`) is chosen by a generator seeded with the extract's id
  and a number (``seed``): the same page shows the same files, another seed other ones.
- **A header** (:func:`header_rows`) is every element as tag, keyword, VR and value: a long
  value cut at :data:`MAX_VALUE` characters, a sequence nested by item, pixel data and other
  binary values as their size only. Bounded: :data:`MAX_DEPTH` levels of sequences,
  :data:`MAX_ROWS` rows a file.
- **A thumbnail** (:func:`thumbnail_png`) is the first frame rendered to 8-bit grey as a
  viewer shows it (``imaging.deid.ocr.rendered``: modality rescale, the file's first window,
  MONOCHROME1 inverted, colour by luminance), at most :data:`THUMBNAIL` pixels on its longer
  side, as PNG; ``None`` for a file without an image (a structured report) or one that cannot
  be decoded. A frame over ``ocr.MAX_PIXELS`` pixels is not decoded at all. The last few are
  kept in memory, so a page (which asks whether a file has an image) and its images decode
  each file once.

Nothing here writes, and nothing is told in an error: a file that cannot be read is ``None``.
"""

from __future__ import annotations

import io
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from PIL import Image
from pydicom import dcmread
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels.utils import pixel_array
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, Tag

from fivesafes.imaging.deid.ocr import MAX_PIXELS, rendered

DEFAULT_SAMPLE = 6
MAX_SAMPLE = 24
MAX_SEED = 1_000_000_000
THUMBNAIL = 256  # pixels on the longer side, at most
MAX_VALUE = 200  # characters of a value shown
MAX_DEPTH = 8  # levels of nested sequences shown
MAX_ROWS = 2_000  # rows of one header shown
DEFER = 4_096  # values longer than this are read from the file only if shown
CUT = "…"

BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN", "OB or OW", "US or OW",
                        "US or SS or OW"})  # fmt: skip
PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})  # float, double, pixel data


@dataclass(frozen=True)
class SampledFile:
    """A file of the sample: its place in the extract's sorted files, and where it is."""

    index: int
    path: Path


@dataclass(frozen=True)
class HeaderRow:
    """One element of a header as the page shows it; a sequence's ``items`` each a list of
    rows of their own."""

    tag: str  # "(0010,0010)", as the verifier names elements
    keyword: str
    vr: str
    value: str
    items: tuple[tuple[HeaderRow, ...], ...] = ()


def extract_files(folder: Path) -> list[str]:
    """The extract's files: their paths relative to ``folder`` (POSIX), sorted; empty if the
    folder is not there."""
    if not folder.is_dir() or folder.is_symlink():
        return []
    root = folder.resolve()
    found: list[str] = []
    for top, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".") and not (Path(top) / d).is_symlink()]
        for name in files:
            path = Path(top) / name
            if name.startswith(".") or path.is_symlink() or not path.is_file():
                continue
            found.append(path.relative_to(root).as_posix())
    return sorted(found)


def file_at(folder: Path, index: int) -> Path:
    """The extract's file at ``index`` in :func:`extract_files`' order; :class:`IndexError`
    if there is none (or it would be outside ``folder``)."""
    files = extract_files(folder)
    if not 0 <= index < len(files):
        raise IndexError(index)
    return _inside(folder, files[index])


def sample_files(folder: Path, extract_id: str, n: int, seed: int = 0) -> list[SampledFile]:
    """At most ``n`` (bounded by :data:`MAX_SAMPLE`) of the extract's files, chosen at random
    by ``(extract_id, seed)``: the same arguments, the same files; in the files' order."""
    return _sampled(folder, extract_files(folder), extract_id, n, seed)


def _sampled(
    folder: Path, files: list[str], extract_id: str, n: int, seed: int
) -> list[SampledFile]:
    chosen = choose(len(files), extract_id, n, seed)
    return [SampledFile(i, _inside(folder, files[i])) for i in chosen]


def choose(total: int, extract_id: str, n: int, seed: int = 0) -> list[int]:
    """Which of ``total`` files :func:`sample_files` shows (their places, in order)."""
    count = max(0, min(n, MAX_SAMPLE, total))
    chooser = random.Random(f"{extract_id}\x00{seed}")  # a str seed: the same in every process
    return sorted(chooser.sample(range(total), count))


def _inside(folder: Path, relative: str) -> Path:
    root = folder.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or path == root:
        raise IndexError(relative)
    return path


def read_header(path: Path) -> Dataset | None:
    """The file's dataset, its long values (pixel data) left in the file until asked for;
    ``None`` if it cannot be read as DICOM."""
    try:
        return dcmread(path, defer_size=DEFER)
    except Exception:  # noqa: BLE001 - any reader failure means one thing: not shown
        return None


def header_rows(dataset: Dataset) -> list[HeaderRow]:
    """Every element of ``dataset`` as a row (see the module's words), in tag order."""
    budget = [MAX_ROWS, 0]  # rows left to show; whether any was left out
    rows = list(_rows(dataset, 0, budget))
    if budget[1]:
        rows.append(HeaderRow("", "", "", f"(only the first {MAX_ROWS} elements are shown)"))
    return rows


def _rows(dataset: Dataset, depth: int, budget: list[int]) -> Iterator[HeaderRow]:
    for element in dataset.elements():
        if budget[0] <= 0:
            budget[1] = 1
            return
        budget[0] -= 1
        yield _row(dataset, element, depth, budget)


def _row(
    dataset: Dataset, element: DataElement | RawDataElement, depth: int, budget: list[int]
) -> HeaderRow:
    tag = Tag(element.tag)
    named = f"({tag.group:04X},{tag.element:04X})"
    vr = element.VR or _dictionary_vr(tag)
    if tag in PIXEL_TAGS or vr in BINARY_VRS:  # never decoded: its size alone
        return HeaderRow(named, _keyword(tag), _vr(vr), f"({_size(element)} bytes)")
    try:
        full = dataset[tag]
    except Exception:  # noqa: BLE001 - a value pydicom cannot convert is not shown
        return HeaderRow(named, _keyword(tag), _vr(vr), "(a value that cannot be read)")
    if full.VR == "SQ" or isinstance(full.value, Sequence):
        items: Sequence = full.value or Sequence()
        words = f"{len(items)} item{'' if len(items) == 1 else 's'}"
        if depth + 1 >= MAX_DEPTH:
            return HeaderRow(named, _keyword(tag), "SQ", f"{words} (nested too deep to show)")
        nested = tuple(tuple(_rows(item, depth + 1, budget)) for item in items)
        return HeaderRow(named, _keyword(tag), "SQ", words, nested)
    if full.VR in BINARY_VRS or isinstance(full.value, bytes | bytearray):
        return HeaderRow(named, _keyword(tag), _vr(full.VR), f"({_size(full)} bytes)")
    return HeaderRow(named, _keyword(tag), _vr(full.VR), _text(full.value))


def _dictionary_vr(tag: BaseTag) -> str:
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"  # a private element read without its VR


def _keyword(tag: BaseTag) -> str:
    return keyword_for_tag(tag) or ("(private)" if tag.is_private else "")


def _vr(vr: object) -> str:
    return str(vr or "")


def _size(element: DataElement | RawDataElement) -> int:
    value = element.value
    if isinstance(value, bytes | bytearray):
        return len(value)
    length = getattr(element, "length", 0) or 0
    return 0 if length == 0xFFFFFFFF else int(length)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value)
    text = "".join(c if c.isprintable() else " " for c in text)
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + CUT


class Thumbnail(NamedTuple):
    png: bytes
    width: int
    height: int


def thumbnail_png(path: Path, *, size: int = THUMBNAIL) -> bytes | None:
    """The first frame of the file at ``path`` as a PNG at most ``size`` pixels on its longer
    side; ``None`` if it has no image that can be shown."""
    found = thumbnail(path, size=size)
    return None if found is None else found.png


def thumbnail(path: Path, *, size: int = THUMBNAIL) -> Thumbnail | None:
    """:func:`thumbnail_png` with its width and height. The last few made are kept in memory
    (by path, modification time and size): a page and its images render each file once."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return _thumbnail(str(path), stat.st_mtime_ns, stat.st_size, size)


@lru_cache(maxsize=MAX_SAMPLE * 2)
def _thumbnail(path: str, _mtime: int, _bytes: int, size: int) -> Thumbnail | None:
    try:
        dataset = dcmread(path, stop_before_pixels=True)
        rows, columns = int(dataset.get("Rows", 0) or 0), int(dataset.get("Columns", 0) or 0)
        frames = int(dataset.get("NumberOfFrames", 1) or 1)
    except Exception:  # noqa: BLE001 - not DICOM, or its size unreadable
        return None
    if rows <= 0 or columns <= 0 or rows * columns > MAX_PIXELS:
        return None
    try:
        frame = pixel_array(path, index=0 if frames > 1 else None)
        if frames > 1 and frame.ndim == 4:  # a decoder that kept the frame axis
            frame = frame[0]
        image = Image.fromarray(rendered(frame, dataset))
        image.thumbnail((size, size), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.save(out, format="PNG")
    except Exception:  # noqa: BLE001 - no pixel data, or a decoder failure: nothing to show
        return None
    return Thumbnail(out.getvalue(), image.width, image.height)


@dataclass(frozen=True)
class ShownFile:
    """A file of the sample as its page shows it: its place among the extract's files, its
    header's rows (``None``: not readable as DICOM), the size of its thumbnail (``None``: no
    image) and its modality."""

    index: int
    rows: list[HeaderRow] | None
    image: tuple[int, int] | None
    modality: str


def shown(sampled: SampledFile) -> ShownFile:
    """What the page shows of one file of the sample (its thumbnail is asked for apart)."""
    dataset = read_header(sampled.path)
    if dataset is None:
        return ShownFile(sampled.index, None, None, "")
    try:
        rows = header_rows(dataset)
        modality = _text(dataset.get("Modality", ""))[:16]
    except Exception:  # noqa: BLE001 - a header pydicom cannot walk is shown as unreadable
        return ShownFile(sampled.index, None, None, "")
    image = thumbnail(sampled.path)
    size = None if image is None else (image.width, image.height)
    return ShownFile(sampled.index, rows, size, modality)


def sample_page(
    folder: Path, extract_id: str, n: int, seed: int = 0
) -> tuple[int, list[ShownFile]]:
    """How many files the extract holds, and what its page shows of :func:`sample_files`."""
    files = extract_files(folder)
    return len(files), [shown(s) for s in _sampled(folder, files, extract_id, n, seed)]
