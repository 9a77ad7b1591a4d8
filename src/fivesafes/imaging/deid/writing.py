"""A de-identified data set written as a DICOM Part 10 file (PS3.10 7.1): the 128-byte
preamble, ``DICM``, new File Meta Information (our Implementation Class UID, PS3.7 D.3.3.2)
and the data set in the file meta's transfer syntax.

An element the engine kept is still as pydicom read it, undecoded: the bytes it had in the
source file. Written little endian in the encoding it was read in, it is copied back as those
bytes. That is faster (pydicom spends about 10 µs an element decoding a value and as long
encoding it again) and truer: what was kept leaves exactly as it came, no value re-read,
re-padded or re-encoded on the way. Plain ASCII values the engine made are encoded here for
the same reason; anything else (another encoding, a big endian or deflated transfer syntax, a
VR pydicom left ambiguous) is pydicom's to write. Sequences have undefined length, so no
length has to be worked out in advance.
"""

from __future__ import annotations

import struct
from typing import Any

import pydicom
from pydicom import config
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element, write_dataset, write_file_meta_info
from pydicom.multival import MultiValue
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

IMPLEMENTATION_CLASS_UID = "2.25.111287697946573920303045836766057583249"
"""fivesafes' Implementation Class UID (PS3.7 D.3.3.2): ``2.25.`` and the integer of the UUID
``uuid5(NAMESPACE_URL, "urn:fivesafes:dicom:implementation")``, a root no one else has."""
IMPLEMENTATION_VERSION_NAME = "FIVESAFES_DEID1"


def file_meta(source: Dataset, sop_class: str, sop_instance: str) -> FileMetaDataset:
    """New File Meta Information for a data set de-identified from ``source``: its (new) SOP
    Class and Instance UIDs, the source's transfer syntax, ours the implementation; no Source
    Application Entity Title."""
    meta = FileMetaDataset()
    meta.add(_element(0x00020001, "OB", b"\x00\x01"))
    meta.add(_element(0x00020002, "UI", sop_class))
    meta.add(_element(0x00020003, "UI", sop_instance))
    meta.add(_element(0x00020010, "UI", _transfer_syntax(source)))
    meta.add(_element(0x00020012, "UI", IMPLEMENTATION_CLASS_UID))
    meta.add(_element(0x00020013, "SH", IMPLEMENTATION_VERSION_NAME))
    return meta


def _element(tag: int, vr: str, value: Any) -> DataElement:
    return DataElement(tag, vr, value, validation_mode=config.IGNORE)


def _transfer_syntax(source: Dataset) -> str:
    """The source's transfer syntax: its file meta's, or the encoding it was read in."""
    given = getattr(source, "file_meta", None)
    syntax = given.get("TransferSyntaxUID") if given is not None else None
    if syntax:
        return str(syntax)
    implicit, little = source.original_encoding
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRBigEndian if little is False else ExplicitVRLittleEndian


def part10(dataset: Dataset) -> bytes:
    """``dataset`` (with its file meta) as a Part 10 file: preamble, prefix, file meta, data
    set in the file meta's transfer syntax. Little endian data sets go through
    :func:`_write_dataset`; big endian and deflated ones through pydicom's writer."""
    syntax = UID(dataset.file_meta.TransferSyntaxUID)
    buffer = DicomBytesIO()
    if syntax.is_deflated:
        pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
        return buffer.getvalue()
    buffer.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(buffer, dataset.file_meta, enforce_standard=True)
    buffer.is_implicit_VR, buffer.is_little_endian = syntax.is_implicit_VR, syntax.is_little_endian
    if syntax.is_little_endian:
        _write_dataset(buffer, dataset, dataset._character_set)
    else:
        write_dataset(buffer, dataset)
    return buffer.getvalue()


_SHORT = struct.Struct("<HH2sH")  # explicit VR, 2-byte length
_LONG = struct.Struct("<HH2s2xI")  # explicit VR, reserved, 4-byte length
_IMPLICIT = struct.Struct("<HHI")
_LONG_VRS = frozenset(
    ("OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV")
)
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END = b"\xfe\xff\x00\xe0\xff\xff\xff\xff", b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
_SEQUENCE_END = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


def _write_dataset(fp: DicomBytesIO, dataset: Dataset, encodings: Any) -> None:
    """pydicom's ``write_dataset`` for a little endian data set, but an element still raw in
    the encoding written is copied as its bytes, a plain ASCII value encoded here (pydicom
    spends ~10 µs an element on either), and sequences have undefined length. Anything else,
    and a data set that is not in the encoding written, is pydicom's to encode."""
    implicit = fp.is_implicit_VR
    elements = dataset._dict
    same = dataset.original_encoding == (implicit, True) and (
        dataset.original_character_set == dataset._character_set
    )
    if not same and any(isinstance(e, RawDataElement) or len(e.VR) > 2 for e in elements.values()):
        write_dataset(fp, dataset, encodings)  # it decodes, re-encodes, settles "OB or OW"
        return
    write = fp.write
    for tag in sorted(elements):
        elem = elements[tag]
        group, number = tag >> 16, tag & 0xFFFF
        if number == 0 and group > 6:  # retired group lengths, as pydicom leaves them out
            continue
        if isinstance(elem, RawDataElement):
            value, length = elem.value or b"", elem.length
        elif elem.VR == "SQ":
            write(
                _IMPLICIT.pack(group, number, _UNDEFINED)
                if implicit
                else _LONG.pack(group, number, b"SQ", _UNDEFINED)
            )
            for item in elem.value:
                write(_ITEM)
                _write_dataset(fp, item, item._character_set)
                write(_ITEM_END)
            write(_SEQUENCE_END)
            continue
        else:
            plain = _plain(elem.VR, elem.value)
            if plain is None:
                write_data_element(fp, elem, encodings)
                continue
            value, length = plain, len(plain)
        vr = elem.VR or ""
        if implicit:
            write(_IMPLICIT.pack(group, number, length))
        elif vr in _LONG_VRS:
            write(_LONG.pack(group, number, vr.encode(), length))
        else:
            write(_SHORT.pack(group, number, vr.encode(), length))
        write(value)
        if length == _UNDEFINED:
            write(_SEQUENCE_END)


_PLAIN_VRS = frozenset(
    ("AE", "AS", "CS", "DA", "DT", "LO", "LT", "SH", "ST", "TM", "UC", "UI", "UR", "UT")
)


def _plain(vr: str, value: Any) -> bytes | None:
    """The bytes of an empty value, or of text all ASCII (one value or several), padded as
    PS3.5 says (UI with NUL, text with a space); None for anything else."""
    if value is None or value == "":
        return b"" if len(vr) == 2 else None
    if vr not in _PLAIN_VRS:
        return None
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list | MultiValue) or not all(isinstance(v, str) for v in values):
        return None
    text = "\\".join(values)
    if not text.isascii():
        return None
    return (text + ("\0" if vr == "UI" else " ") * (len(text) % 2)).encode("ascii")
