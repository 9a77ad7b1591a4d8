"""Reading one DICOM file's header, never its pixel data: what the file says, as a small typed
record (:class:`Header`), or why it could not be read, in words (:class:`Unreadable`). One bad
file never raises: every outcome is a value.

How a file is read (docs/imaging.md, "What is read"):

- First the **lean walk** (:mod:`fivesafes.imaging.part10`): the file's first 32 KiB (more only
  if the header is longer), the wanted elements' bytes kept and every other element jumped
  over, up to Pixel Data. It answers for the common encodings (Explicit and Implicit VR Little
  Endian, encapsulated syntaxes, with or without file meta) in the common character sets
  (ISO_IR 6, 100, 192), at a fifth of pydicom's cost.
- Anything else is read by pydicom, as the lean walk would have read it:
  ``pydicom.dcmread(fp, stop_before_pixels=True, specific_tags=TAGS, force=True)``: parsing
  stops where Pixel Data begins, elements outside :data:`TAGS` are skipped by seeking past
  them, and ``force`` reads a dataset written without the 128-byte preamble and "DICM"
  (old ACR-NEMA style files, raw datasets). A file that has no "DICM" and none of the DICOM
  identifiers is *not DICOM*. Every malformed file takes this path, so it is judged as before.
- The raw bytes up to Pixel Data (file meta and data set, every element, private ones too)
  are hashed, compressed and handed on for the restricted header store
  (:mod:`fivesafes.imaging.headers`): the full header is kept, but not parsed. The lean walk
  has them in its buffer already; after pydicom they are read again.
- A header that runs past the end of the file is *truncated*; Pixel Data whose declared length
  runs past the end is noted (``pixel_data_truncated``) and the header is still indexed.
- A DICOMDIR (Media Storage Directory) is *skipped*: it only refers to files, and the walk
  finds those files themselves. Nothing follows a DICOMDIR's references.

pydicom's log messages and warnings can quote a header's values, so they are silenced while
reading (:func:`quiet_pydicom`); the outcome says what went wrong in the platform's words.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from fivesafes.imaging import part10

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

TAGS: dict[str, int] = {
    "ImageType": 0x00080008,
    "SOPClassUID": 0x00080016,
    "SOPInstanceUID": 0x00080018,
    "StudyDate": 0x00080020,
    "SeriesDate": 0x00080021,
    "Modality": 0x00080060,
    "Manufacturer": 0x00080070,
    "StudyDescription": 0x00081030,
    "SeriesDescription": 0x0008103E,
    "ManufacturerModelName": 0x00081090,
    "PatientID": 0x00100020,
    "ContrastBolusAgent": 0x00180010,
    "BodyPartExamined": 0x00180015,
    "SliceThickness": 0x00180050,
    "KVP": 0x00180060,
    "ProtocolName": 0x00181030,
    "ContrastBolusRoute": 0x00181040,
    "StudyInstanceUID": 0x0020000D,
    "SeriesInstanceUID": 0x0020000E,
    "SeriesNumber": 0x00200011,
    "InstanceNumber": 0x00200013,
    "NumberOfFrames": 0x00280008,
    "BurnedInAnnotation": 0x00280301,
}
"""The elements the index reads (DICOM keyword: tag, as pydicom's dictionary has them); every
other element is skipped. Written out, so that a worker imports pydicom only for a file the
lean walk leaves to it."""

TEXT = frozenset(
    {
        "Manufacturer",
        "StudyDescription",
        "SeriesDescription",
        "ManufacturerModelName",
        "PatientID",
        "ContrastBolusAgent",
        "ProtocolName",
        "ContrastBolusRoute",
    }
)
"""Elements whose value may be in the file's character set (decoded by pydicom); the others
are in the default repertoire and are read as bytes (so a malformed number or date is kept as
written, for :mod:`fivesafes.imaging.project` to judge)."""

DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
MAX_STORED_HEADER = 16 * 1024 * 1024  # larger headers are indexed but not kept in the store
MAX_VALUE = 1024  # characters kept of any one value
FIRST_READ = 32 * 1024  # bytes the lean walk reads first; more only for a longer header
_SHORT = "value_cut_short"
_CHARSET = 0x00080005
_WANTED = frozenset(TAGS.values()) | {_CHARSET}
_KEYWORD = {tag: keyword for keyword, tag in TAGS.items()}
_CODECS = {"": "latin-1", "ISO_IR 6": "latin-1", "ISO_IR 100": "latin-1", "ISO_IR 192": "utf-8"}
_REQUIRED = ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "PatientID")
_IDENTIFIERS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")


class Reason(StrEnum):
    """Why a file is not indexed: a closed set, each told in words by :data:`SAID`."""

    EMPTY = "empty"
    CANNOT_OPEN = "cannot_open"
    NOT_DICOM = "not_dicom"
    TRUNCATED = "truncated"
    UNPARSABLE = "unparsable"
    DICOMDIR = "dicomdir"
    MISSING_PATIENT_ID = "missing_patient_id"
    MISSING_SOP_INSTANCE_UID = "missing_sop_instance_uid"
    MISSING_STUDY_INSTANCE_UID = "missing_study_instance_uid"
    MISSING_SERIES_INSTANCE_UID = "missing_series_instance_uid"


SAID: dict[Reason, str] = {
    Reason.EMPTY: "the file is empty",
    Reason.CANNOT_OPEN: "the file cannot be opened",
    Reason.NOT_DICOM: "not DICOM: no DICM prefix and no DICOM identifiers",
    Reason.TRUNCATED: "truncated: the header runs past the end of the file",
    Reason.UNPARSABLE: "the header cannot be parsed",
    Reason.DICOMDIR: "a DICOMDIR: it only refers to files, which the walk indexes itself",
    Reason.MISSING_PATIENT_ID: "no PatientID: the image cannot belong to a person",
    Reason.MISSING_SOP_INSTANCE_UID: "no SOPInstanceUID: the image has no identity",
    Reason.MISSING_STUDY_INSTANCE_UID: "no StudyInstanceUID: the image is in no study",
    Reason.MISSING_SERIES_INSTANCE_UID: "no SeriesInstanceUID: the image is in no series",
}
_MISSING = {
    "PatientID": Reason.MISSING_PATIENT_ID,
    "SOPInstanceUID": Reason.MISSING_SOP_INSTANCE_UID,
    "StudyInstanceUID": Reason.MISSING_STUDY_INSTANCE_UID,
    "SeriesInstanceUID": Reason.MISSING_SERIES_INSTANCE_UID,
}


@dataclass(frozen=True, slots=True)
class FileStat:
    """A file as the walk found it."""

    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class Header:
    """What one file's header says, as written (text, stripped; None where absent or empty)."""

    file: FileStat
    values: dict[str, str | None]  # keyword -> text, for every keyword of TAGS
    transfer_syntax_uid: str | None
    file_meta: bool  # a preamble and file meta information were present
    stored: bytes | None  # the raw header, zlib-compressed (None: too large to keep)
    header_bytes: int  # its length before compression
    sha256: str  # of the raw header: two files with the same bytes have the same content
    notes: tuple[str, ...]  # what was odd but did not stop the read

    def __getitem__(self, keyword: str) -> str | None:
        return self.values[keyword]


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A file that is not indexed, and why."""

    file: FileStat
    reason: Reason
    detail: str  # in words; never a value from the file

    @property
    def skipped(self) -> bool:
        """Not a problem with the file: it is simply not an image (a DICOMDIR)."""
        return self.reason is Reason.DICOMDIR


Outcome = Header | Unreadable


class _PydicomQuiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


_QUIET = _PydicomQuiet()


@contextmanager
def quiet_pydicom() -> Iterator[None]:
    """pydicom's warnings and log messages silenced: they can quote a header's values."""
    logger = logging.getLogger("pydicom")
    logger.addFilter(_QUIET)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.removeFilter(_QUIET)


def stat_file(path: str) -> FileStat:
    info = os.stat(path)
    return FileStat(path, info.st_size, info.st_mtime_ns)


def read_header(file: FileStat, *, keep_header: bool = True, lean: bool = True) -> Outcome:
    """The header of ``file`` (call inside :func:`quiet_pydicom`); never raises for a bad
    file. ``keep_header=False`` skips the raw bytes (for measuring the parse alone);
    ``lean=False`` has pydicom read every file (for comparing the two readings)."""
    if file.size == 0:
        return Unreadable(file, Reason.EMPTY, SAID[Reason.EMPTY])
    try:
        handle = open(file.path, "rb")  # noqa: SIM115 - closed below, after the raw re-read
    except OSError as exc:
        said = f"{SAID[Reason.CANNOT_OPEN]} ({type(exc).__name__})"
        return Unreadable(file, Reason.CANNOT_OPEN, said)
    with handle:
        if lean:
            try:
                return _lean(file, handle, keep_header)
            except Exception:  # noqa: BLE001, S110 - Unsupported, or anything odd: pydicom judges
                pass
        try:
            import pydicom  # only for a file the lean walk leaves to it

            handle.seek(0)
            dataset = pydicom.dcmread(
                handle, stop_before_pixels=True, specific_tags=list(TAGS.values()), force=True
            )
            return _header(file, dataset, handle, handle.tell(), keep_header)
        except Exception as exc:  # noqa: BLE001 - any parse failure is this file's outcome
            said = f"{SAID[Reason.UNPARSABLE]} ({type(exc).__name__})"
            return Unreadable(file, Reason.UNPARSABLE, said)


def _lean(file: FileStat, handle: Any, keep: bool) -> Outcome:
    """The header through the lean walk; :class:`part10.Unsupported` if pydicom must read it."""
    data = handle.read(min(file.size, FIRST_READ))
    while True:
        try:
            walked = part10.walk(data, file.size, _WANTED)
            break
        except part10.NeedMore as more:
            if more.upto > MAX_STORED_HEADER:
                raise part10.Unsupported("a header too large to hold") from None
            want = min(file.size, max(more.upto, 2 * len(data)))
            extra = handle.read(want - len(data))
            if not extra:
                raise part10.Unsupported("the file is shorter than it was") from None
            data += extra
    codec = _codec_of(walked.values.get(_CHARSET))
    if codec is None:
        raise part10.Unsupported("another character set: pydicom decodes it")
    values: dict[str, str | None] = dict.fromkeys(TAGS)
    for tag, raw in walked.values.items():
        keyword = _KEYWORD.get(tag)  # None: the character set
        if keyword is not None:
            values[keyword] = _text(raw, codec if keyword in TEXT else "latin-1")
    refused = _refused(file, walked.media_class, walked.file_meta, values) or missing_identity(
        file, values
    )
    if refused is not None:
        return refused
    notes = ("pixel_data_truncated",) if walked.pixel_data_truncated else ()
    header = memoryview(data)[: walked.end] if keep else b""
    return Header(
        file=file,
        values=values,
        transfer_syntax_uid=walked.transfer_syntax or None,
        file_meta=walked.file_meta,
        stored=compress(header) if keep else None,
        header_bytes=walked.end if keep else 0,
        sha256=hashlib.sha256(header).hexdigest(),
        notes=notes,
    )


def compress(raw: bytes | memoryview) -> bytes:
    """A header compressed for the store: zlib level 1 with a small window and little memory,
    as setting up zlib's default state costs more than compressing a 2 KB header (4x here).
    Read back with ``zlib.decompress``."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 12, 5)
    return packer.compress(raw) + packer.flush()


def _refused(
    file: FileStat, media_class: str | None, file_meta: bool, values: dict[str, str | None]
) -> Unreadable | None:
    """A DICOMDIR, or not DICOM at all."""
    if media_class == DICOMDIR_CLASS:
        return Unreadable(file, Reason.DICOMDIR, SAID[Reason.DICOMDIR])
    if not file_meta and not any(values[k] for k in _IDENTIFIERS):
        return Unreadable(file, Reason.NOT_DICOM, SAID[Reason.NOT_DICOM])
    return None


def missing_identity(file: FileStat, values: dict[str, str | None]) -> Unreadable | None:
    """An image without a patient or an identity (:data:`_REQUIRED`)."""
    for keyword in _REQUIRED:
        if not values[keyword]:
            reason = _MISSING[keyword]
            return Unreadable(file, reason, SAID[reason])
    return None


def _header(file: FileStat, dataset: Dataset, handle: Any, end: int, keep: bool) -> Outcome:
    meta = dataset.file_meta
    file_meta = dataset.preamble is not None or len(meta) > 0
    if str(meta.get("MediaStorageSOPClassUID", "")) == DICOMDIR_CLASS:
        return Unreadable(file, Reason.DICOMDIR, SAID[Reason.DICOMDIR])
    notes: list[str] = []
    values = _values(dataset, notes)
    refused = _refused(file, None, file_meta, values)
    if refused is not None:
        return refused
    if end > file.size or _SHORT in notes:
        return Unreadable(file, Reason.TRUNCATED, SAID[Reason.TRUNCATED])
    refused = missing_identity(file, values)
    if refused is not None:
        return refused
    if end < file.size and _pixel_data_truncated(handle, end, file.size, dataset):
        notes.append("pixel_data_truncated")
    stored, digest = None, hashlib.sha256()
    if keep:
        handle.seek(0)
        if end <= MAX_STORED_HEADER:
            raw = handle.read(end)
            digest.update(raw)
            stored = compress(raw)
        else:  # hashed as it streams past, never held whole
            notes.append("header_too_large_to_store")
            for start in range(0, end, 1 << 20):
                digest.update(handle.read(min(1 << 20, end - start)))
    syntax = meta.get("TransferSyntaxUID")
    return Header(
        file=file,
        values=values,
        transfer_syntax_uid=str(syntax) if syntax else None,
        file_meta=file_meta,
        stored=stored,
        header_bytes=end if keep else 0,
        sha256=digest.hexdigest(),
        notes=tuple(notes),
    )


def _text(raw: bytes | None, codec: str) -> str | None:
    """A value's bytes as text, stripped of padding; None when absent or empty."""
    if raw is None:
        return None
    text = raw.decode(codec, "replace").strip(" \x00\r\n\t")
    return text[:MAX_VALUE] or None


def _values(dataset: Dataset, notes: list[str]) -> dict[str, str | None]:
    """Every keyword of :data:`TAGS` as text (multiple values joined by a backslash), or None.

    Values are decoded from the raw bytes pydicom read, in the file's character set when it
    is one of the common single ones (ISO_IR 6, 100, 192; none given); text in any other
    character set is decoded by pydicom."""
    raw_elements: Any = getattr(dataset, "_dict", None)  # pydicom's own: raw, unconverted
    if not isinstance(raw_elements, dict):
        raw_elements = {tag: dataset.get_item(tag) for tag in TAGS.values() if tag in dataset}
    charset = raw_elements.get(_CHARSET)
    codec = _codec_of(None if charset is None else charset.value)
    values: dict[str, str | None] = {}
    for keyword, tag in TAGS.items():
        element = raw_elements.get(tag)
        values[keyword] = (
            None if element is None else _value(dataset, keyword, element, codec, notes)
        )
    return values


def _codec_of(raw: Any) -> str | None:
    """The Python codec of a Specific Character Set value (bytes as read, or converted; None
    when absent or empty), for the common single ones; None for any other (pydicom decodes
    those)."""
    if raw is None:
        return "latin-1"
    text = (
        raw.decode("latin-1")
        if isinstance(raw, bytes)
        else "\\".join(raw)
        if _multiple(raw)
        else str(raw or "")
    )
    return _CODECS.get(text.strip(" \x00").upper())


def _value(
    dataset: Dataset, keyword: str, element: Any, codec: str | None, notes: list[str]
) -> str | None:
    try:
        raw = element.value
        if raw is None:
            return None
        if isinstance(raw, bytes):
            declared = getattr(element, "length", len(raw))
            if declared != 0xFFFFFFFF and len(raw) < declared:
                notes.append(_SHORT)
            if keyword in TEXT and codec is None:  # another character set: pydicom's work
                value: Any = dataset[element.tag].value
                text = "\\".join(str(v) for v in value) if _multiple(value) else str(value or "")
            else:
                text = raw.decode(codec if keyword in TEXT and codec else "latin-1", "replace")
        else:  # already converted by pydicom (a dataset built in memory)
            text = "\\".join(str(v) for v in raw) if _multiple(raw) else str(raw)
    except Exception:  # noqa: BLE001 - a value that cannot be decoded is noted, not fatal
        notes.append(f"{keyword}_undecodable")
        return None
    text = text.strip(" \x00\r\n\t")
    return text[:MAX_VALUE] or None


def _multiple(value: Any) -> bool:
    return isinstance(value, list | tuple) or type(value).__name__ == "MultiValue"


def _pixel_data_truncated(handle: Any, end: int, size: int, dataset: Dataset) -> bool:
    """Whether the Pixel Data element at ``end`` declares more bytes than the file holds."""
    try:
        handle.seek(end)
        head = handle.read(12)
    except OSError:
        return False
    little = dataset.original_encoding[1] is not False
    implicit = dataset.original_encoding[0] is not False
    return part10.pixel_data_truncated(head, end, size, implicit, little)
