"""A lean walk of a DICOM file's leading bytes (PS3.10 chapter 7, PS3.5 sections 7.1 and 7.5):
the few elements the index reads, as raw bytes, and where Pixel Data begins, without building
a pydicom dataset.

pydicom's parse costs about 300 µs a file, reading only the tags asked for or not: it makes a
Python object of every element it passes. This walk reads each element's tag, VR and length
with one ``struct`` call, keeps the bytes of the wanted ones (a slice of the buffer already
read) and jumps over the rest, so a typical header costs a fraction of that.

It answers only for the encodings nearly every archive holds, read the way pydicom reads them:
Explicit VR Little Endian (and the encapsulated syntaxes, JPEG, JPEG 2000, RLE, whose data set
is Explicit VR Little Endian) and Implicit VR Little Endian, with or without a preamble and
file meta, with sequences of defined or undefined length nested at any depth. Anything else
raises :class:`Unsupported` and pydicom reads the file (:mod:`fivesafes.imaging.reading`):
Big Endian, Deflated, an unknown transfer syntax, a command set, a VR it does not know, an
element running past the end, elements out of order, a sequence that switches between
implicit and explicit VR, an undefined length other than a sequence's. Every bad file is
therefore judged by pydicom, as before; ``tests/unit/test_imaging_part10.py`` checks that both
read every pydicom test file and the synthetic archive to the same record.

The buffer given may be only the file's first bytes: :class:`NeedMore` says how many the walk
needs (a header longer than the first read), and the caller reads more and walks again.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

IMPLICIT_LITTLE = "1.2.840.10008.1.2"
EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"
_ENCAPSULATED = ("1.2.840.10008.1.2.4.", "1.2.840.10008.1.2.5")  # JPEG family; RLE Lossless

ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF
PIXEL_DATA = 0x7FE00010
STOP_AT = frozenset({0x7FE00008, 0x7FE00009, PIXEL_DATA})  # pydicom's stop_before_pixels
TRANSFER_SYNTAX, MEDIA_CLASS = 0x00020010, 0x00020002
MAX_DEPTH = 16  # nested sequences deeper than this are left to pydicom

VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN "
    b"UR US UT UV".split()
)
LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())  # 4-byte length

_TAG = struct.Struct("<HH")
_EXPLICIT = struct.Struct("<HH2sH")
_IMPLICIT = struct.Struct("<HHI")
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")


class Unsupported(Exception):
    """The walk does not answer for this file: pydicom must read it."""


class NeedMore(Exception):
    """The walk needs the file's first ``upto`` bytes (more than it was given)."""

    def __init__(self, upto: int) -> None:
        super().__init__(upto)
        self.upto = upto


@dataclass(frozen=True, slots=True)
class Walked:
    """What the walk found: the wanted elements' raw values, and where the header ends."""

    file_meta: bool  # a "DICM" preamble or file meta elements were present
    transfer_syntax: str | None
    media_class: str | None  # MediaStorageSOPClassUID
    implicit: bool
    values: dict[int, bytes]  # wanted tag -> its value's bytes, as written
    end: int  # where Pixel Data begins, or the file's size when it has none
    pixel_data_truncated: bool  # Pixel Data declares more bytes than the file holds


def walk(data: bytes, size: int, wanted: frozenset[int]) -> Walked:
    """Walk ``data``, the first bytes of a file of ``size`` bytes, keeping ``wanted`` tags.

    Raises :class:`NeedMore` when the header goes on past ``data``, :class:`Unsupported`
    when pydicom must read the file."""
    return _Walk(data, size).run(wanted)


class _Walk:
    __slots__ = ("data", "n", "size")

    def __init__(self, data: bytes, size: int) -> None:
        self.data, self.n, self.size = data, len(data), size

    def need(self, upto: int) -> None:
        if upto > self.n:
            if self.n < self.size and upto <= self.size:
                raise NeedMore(upto)
            raise Unsupported("past the end of the file")

    def run(self, wanted: frozenset[int]) -> Walked:
        data = self.data
        p, file_meta = 0, False
        if self.size >= 132:
            self.need(132)
            if data[128:132] == b"DICM":
                p, file_meta = 132, True
        syntax, media, p, found_meta = self.file_meta(p)
        file_meta = file_meta or found_meta
        if p >= self.size:
            raise Unsupported("no data set")
        self.need(p + 8)
        group, _ = _TAG.unpack_from(data, p)
        if group == 0:
            raise Unsupported("a command set")
        first_vr = data[p + 4 : p + 6]
        if syntax is not None:  # declared ("" too: pydicom then assumes explicit; we do not)
            if syntax == IMPLICIT_LITTLE:
                implicit = True
            elif syntax == EXPLICIT_LITTLE or syntax.startswith(_ENCAPSULATED):
                implicit = False
            else:
                raise Unsupported("another transfer syntax")
        elif first_vr in VRS:
            if group >= 1024:
                raise Unsupported("big endian")
            implicit = False
        else:
            implicit = True
        if implicit == _looks_explicit(first_vr):  # pydicom would switch: let it
            raise Unsupported("the encoding is not the one declared")
        values, end = self.data_set(p, implicit, wanted)
        truncated = end < self.size and self.pixel_data_truncated(end, implicit)
        return Walked(file_meta, syntax, media, implicit, values, end, truncated)

    def file_meta(self, p: int) -> tuple[str | None, str | None, int, bool]:
        """Group 0002, always Explicit VR Little Endian; where the data set starts."""
        data = self.data
        syntax = media = None
        found, last = False, -1
        while p + 8 <= self.size:
            self.need(p + 8)
            group, element, vr, length = _EXPLICIT.unpack_from(data, p)
            if group != 2:
                break
            tag = group << 16 | element
            if tag <= last or vr not in VRS:
                raise Unsupported("file meta out of order or not explicit")
            last, found = tag, True
            start = p + 8
            if vr in LONG_VRS:
                self.need(p + 12)
                (length,) = _U32.unpack_from(data, p + 8)
                start = p + 12
            if length == UNDEFINED:
                raise Unsupported("undefined length in the file meta")
            p = start + length
            if tag in (TRANSFER_SYNTAX, MEDIA_CLASS):
                self.need(p)
                uid = _uid(data[start:p])
                if tag == TRANSFER_SYNTAX:
                    syntax = uid
                else:
                    media = uid
        return syntax, media, p, found

    def data_set(
        self, p: int, implicit: bool, wanted: frozenset[int]
    ) -> tuple[dict[int, bytes], int]:
        data, size, n = self.data, self.size, self.n
        values: dict[int, bytes] = {}
        last = -1
        while p < size:  # the hot loop: no call but struct's while the buffer holds
            if p + 12 > n:
                self.need(p + 8)
            if implicit:
                group, element, length = _IMPLICIT.unpack_from(data, p)
                tag, start, vr = group << 16 | element, p + 8, b""
            else:
                group, element, vr, length = _EXPLICIT.unpack_from(data, p)
                tag, start = group << 16 | element, p + 8
                if vr not in VRS:
                    raise Unsupported("an unknown VR")
                if vr in LONG_VRS:
                    if p + 12 > n:
                        self.need(p + 12)
                    (length,) = _U32.unpack_from(data, p + 8)
                    start = p + 12
            if tag <= last or group == 0xFFFE:
                raise Unsupported("elements out of order")
            if tag in STOP_AT:
                return values, p
            last = tag
            if length == UNDEFINED:
                if tag in wanted or not (vr == b"SQ" or (implicit and self._item_at(start))):
                    raise Unsupported("an undefined length that is not a sequence's")
                p = self.items(start, implicit, 1)
                continue
            p = start + length
            if tag in wanted:
                if vr == b"SQ":
                    raise Unsupported("a wanted element is a sequence")
                if p > n:
                    self.need(p)
                values[tag] = data[start:p]
        if p > size:
            raise Unsupported("past the end of the file")
        return values, size

    def _item_at(self, p: int) -> bool:
        self.need(p + 4)
        group, element = _TAG.unpack_from(self.data, p)
        return bool((group << 16 | element) == ITEM)

    def items(self, p: int, implicit: bool, depth: int) -> int:
        """Past the items of a sequence of undefined length starting at ``p``."""
        if depth > MAX_DEPTH:
            raise Unsupported("sequences nested too deep")
        data = self.data
        while True:
            self.need(p + 8)
            group, element, length = _IMPLICIT.unpack_from(data, p)
            tag = group << 16 | element
            p += 8
            if tag == SEQUENCE_END:
                return p
            if tag != ITEM:
                raise Unsupported("a sequence holds something other than items")
            if length != UNDEFINED:
                p += length
                continue
            p = self.item(p, implicit, depth)

    def item(self, p: int, implicit: bool, depth: int) -> int:
        """Past the elements of an item of undefined length starting at ``p``."""
        data = self.data
        self.need(p + 8)
        if not implicit and not _looks_explicit(data[p + 4 : p + 6]):
            group, element = _TAG.unpack_from(data, p)
            if (group << 16 | element) != ITEM_END:
                raise Unsupported("an item in implicit VR inside explicit VR")
        while True:
            self.need(p + 8)
            if implicit:
                group, element, length = _IMPLICIT.unpack_from(data, p)
                start, vr = p + 8, b""
            else:
                group, element, vr, length = _EXPLICIT.unpack_from(data, p)
                start = p + 8
            tag = group << 16 | element
            if tag == ITEM_END:
                return p + 8
            if not implicit:
                if vr not in VRS:
                    raise Unsupported("an unknown VR")
                if vr in LONG_VRS:
                    self.need(p + 12)
                    (length,) = _U32.unpack_from(data, p + 8)
                    start = p + 12
            if length == UNDEFINED:
                if not (vr == b"SQ" or (implicit and self._item_at(start))):
                    raise Unsupported("an undefined length that is not a sequence's")
                p = self.items(start, implicit, depth + 1)
            else:
                p = start + length
            if p > self.size:
                raise Unsupported("past the end of the file")

    def pixel_data_truncated(self, end: int, implicit: bool) -> bool:
        """Whether the Pixel Data element at ``end`` declares more bytes than the file holds
        (as :func:`fivesafes.imaging.reading.pixel_data_truncated` reads it)."""
        if end + 12 > self.n and self.n < self.size:
            raise NeedMore(min(end + 12, self.size))
        return pixel_data_truncated(self.data[end : end + 12], end, self.size, implicit, True)


def pixel_data_truncated(head: bytes, end: int, size: int, implicit: bool, little: bool) -> bool:
    """Whether the element whose first bytes are ``head``, at ``end`` in a file of ``size``
    bytes, is Pixel Data declaring more bytes than the file holds."""
    order = "<" if little else ">"
    try:
        group, element = struct.unpack(order + "HH", head[:4])
        if (group << 16 | element) != PIXEL_DATA:
            return False
        if implicit:
            (length,) = struct.unpack(order + "I", head[4:8])
            header = 8
        elif head[4:6] in LONG_VRS:
            (length,) = struct.unpack(order + "I", head[8:12])
            header = 12
        else:
            (length,) = struct.unpack(order + "H", head[6:8])
            header = 8
    except struct.error:
        return False
    return bool(length != UNDEFINED and end + header + length > size)


def _looks_explicit(vr: bytes) -> bool:
    """pydicom's test of a first element: two capital letters where an explicit VR would be."""
    return len(vr) == 2 and 0x40 < vr[0] < 0x5B and 0x40 < vr[1] < 0x5B


def _uid(raw: bytes) -> str:
    """A UI value as pydicom reads it (trailing NUL and spaces gone); one value only."""
    text = raw.decode("latin-1").rstrip("\x00 ")
    if "\\" in text:
        raise Unsupported("a multi-valued UID in the file meta")
    return text.strip()
