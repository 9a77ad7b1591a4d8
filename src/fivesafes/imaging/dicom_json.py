"""The DICOM JSON model (PS3.18 annex F) as the index reads it: an instance's attributes from a
QIDO-RS answer turned into the record a file's header gives (:class:`reading.Header`), so that
the same judging, rules, person linking and tables apply; and the instance's WADO-RS metadata
kept, compact, as its header for the restricted store.

An attribute is ``{"vr": "CS", "Value": [...]}`` keyed by its tag in hex (``"00180050"``); it
becomes the text a file would give: values joined by a backslash (``ORIGINAL\\PRIMARY``),
numbers written as numbers (DS and IS come as JSON numbers: ``3`` for a file's ``"3.0"``, the
same number once judged), a person name by its alphabetic form, padding stripped. An
attribute with no ``Value`` is absent, as an empty element in a file. Bulk data (``BulkDataURI``,
``InlineBinary``) is never text and never fetched.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fivesafes.imaging.reading import (
    MAX_STORED_HEADER,
    MAX_VALUE,
    SAID,
    TAGS,
    FileStat,
    Header,
    Outcome,
    Reason,
    Unreadable,
    compress,
    missing_identity,
)

INCLUDE_FIELDS = tuple(f"{tag:08X}" for tag in TAGS.values())
"""QIDO-RS ``includefield``: exactly the attributes the index reads (sent as one parameter
each: Orthanc reads no comma-separated list)."""

SOP_INSTANCE_UID = f"{TAGS['SOPInstanceUID']:08X}"
NUMBER_OF_STUDY_INSTANCES = "00201208"
NUMBER_OF_SERIES_INSTANCES = "00201209"
STUDY_INSTANCE_UID = f"{TAGS['StudyInstanceUID']:08X}"
SERIES_INSTANCE_UID = f"{TAGS['SeriesInstanceUID']:08X}"


def text(attribute: Any) -> str | None:
    """An attribute's values as one text, as a file's header would give it; None if none."""
    if not isinstance(attribute, dict):
        return None
    values = attribute.get("Value")
    if not isinstance(values, list) or not values:
        return None
    parts = [_one(value) for value in values]
    joined = "\\".join(parts).strip(" \x00\r\n\t")
    return joined[:MAX_VALUE] or None


def _one(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dict):  # a person name: its alphabetic form
        alphabetic = value.get("Alphabetic")
        return alphabetic if isinstance(alphabetic, str) else ""
    return ""


def uid(obj: Any, key: str) -> str | None:
    """A UID attribute of a DICOM JSON object (``key`` its tag in hex)."""
    return text(obj.get(key)) if isinstance(obj, dict) else None


def count(obj: Any, key: str) -> int | None:
    """A count attribute (NumberOfSeriesRelatedInstances, …), or None if not given."""
    found = text(obj.get(key)) if isinstance(obj, dict) else None
    try:
        return int(found) if found is not None else None
    except ValueError:
        return None


def canonical(obj: dict[str, Any]) -> bytes:
    """An instance's DICOM JSON, compact and in tag order: what the store keeps and hashes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def header_of(obj: Any, location: str, metadata: dict[str, Any] | None, note: str) -> Outcome:
    """The record of the instance ``obj`` (a QIDO-RS result) at ``location`` (its WADO-RS
    URL), with ``metadata`` (its WADO-RS metadata) as the header kept; without metadata the
    header is not kept and ``note`` says why. There is no file: size and mtime are zero here
    and left out of the instance row by the caller."""
    file = FileStat(location, 0, 0)
    if not isinstance(obj, dict):
        said = f"{SAID[Reason.UNPARSABLE]} (not a DICOM JSON object)"
        return Unreadable(file, Reason.UNPARSABLE, said)
    values = {keyword: text(obj.get(f"{tag:08X}")) for keyword, tag in TAGS.items()}
    refused = missing_identity(file, values)
    if refused is not None:
        return refused
    raw = canonical(metadata if metadata is not None else obj)
    kept = metadata is not None and len(raw) <= MAX_STORED_HEADER
    notes = () if kept else (note if metadata is None else "header_too_large_to_store",)
    return Header(
        file=file,
        values=values,
        transfer_syntax_uid=None,
        file_meta=False,
        stored=compress(raw) if kept else None,
        header_bytes=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        notes=notes,
    )
