"""An extract as bytes: how a node sends it and how a pool reads it.

The format, version 1, is one file of three parts:

1. the mark ``FIVESAFES-POOL-EXTRACT-1`` and a newline (25 bytes);
2. a header: its length as 4 bytes (big-endian, at most 64 KiB), then JSON
   ``{"variables": [...], "tables": [[name, bytes], ...]}``, the variables released and each
   table's name and length, in the order ``fivesafes.pool.minimise.released_tables`` gives,
   padded with spaces to end at a multiple of 8 bytes (Arrow reads its buffers in place when
   they are aligned, and each stream's length is a multiple of 8);
3. each table as an uncompressed Arrow IPC stream (``fivesafes.pool.ipc``), back to back.

Reading parses input from another site, so it is bounded (:class:`~fivesafes.pool.checks.Bounds`:
bytes in all, rows per table) and refuses anything it does not expect with an
:class:`~fivesafes.pool.checks.ExtractRefused` (a ValueError) in words that never echo a value
of the input: a wrong mark, a header that is not exactly the format's, a variable the catalogue
does not define, tables other than those the variables need or out of order, lengths that do
not add up to the file, a table whose columns or types differ from the released ones, a
compressed or malformed stream, then every check of ``fivesafes.pool.checks``. Arrow's own
errors are turned into one sentence; their text (which may quote the input) is dropped.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from fivesafes.analyses.catalogue import VARIABLES
from fivesafes.pool.checks import Bounds, ExtractRefused, check_extract
from fivesafes.pool.ipc import IpcRefused, read_table, write_table
from fivesafes.pool.minimise import arrow_schema, released_columns, released_tables

MARK = b"FIVESAFES-POOL-EXTRACT-1\n"
MAX_HEADER = 64 * 1024
ALIGN = 8  # Arrow's buffers are read in place when they start at a multiple of 8 bytes
_UNREADABLE = (  # after ExtractRefused and IpcRefused, themselves ValueErrors
    pa.ArrowException,
    ValueError,  # bad JSON, UTF-8 or numbers
    struct.error,
    OSError,
    IndexError,
    KeyError,
    TypeError,
    OverflowError,
    RecursionError,  # JSON nested too deep
)


def write_extract(variables: tuple[str, ...], tables: Mapping[str, pa.Table]) -> bytes:
    """The extract of ``variables`` made of ``tables``, in the format above."""
    streams = [(name, write_table(tables[name])) for name in released_tables(variables)]
    header = {"variables": list(variables), "tables": [[n, len(s)] for n, s in streams]}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(len(MARK) + 4 + len(text)) % ALIGN)  # each stream starts aligned
    return MARK + struct.pack(">I", len(text)) + text + b"".join(s for _, s in streams)


def read_extract(
    data: bytes, bounds: Bounds | None = None
) -> tuple[tuple[str, ...], dict[str, pa.Table]]:
    """The variables and tables of the extract in ``data``, checked; or :class:`ExtractRefused`."""
    bounds = bounds or Bounds()
    try:
        return _read(memoryview(data), bounds)
    except ExtractRefused:
        raise
    except IpcRefused as refused:
        raise ExtractRefused(f"the extract's tables could not be read: {refused}") from None
    except _UNREADABLE:
        raise ExtractRefused(
            "the extract could not be read: its tables are not well-formed Arrow streams"
        ) from None


def _read(data: memoryview, bounds: Bounds) -> tuple[tuple[str, ...], dict[str, pa.Table]]:
    if len(data) > bounds.max_bytes:
        raise ExtractRefused(
            f"the extract is larger than a pool accepts ({bounds.max_bytes:,} bytes)"
        )
    if bytes(data[: len(MARK)]) != MARK:
        raise ExtractRefused("this is not a pool extract: it does not start with the format's mark")
    at = len(MARK) + 4
    if len(data) < at:
        raise ExtractRefused("the extract ends inside its header")
    size = struct.unpack(">I", data[len(MARK) : at])[0]
    if size > MAX_HEADER or at + size > len(data):
        raise ExtractRefused("the extract's header is too long or ends early")
    variables, lengths = _header(json.loads(bytes(data[at : at + size]).decode("utf-8")))
    at += size
    if at + sum(lengths) != len(data):
        raise ExtractRefused("the extract's length is not the sum of its tables' lengths")
    tables: dict[str, pa.Table] = {}
    for name, length in zip(released_tables(variables), lengths, strict=True):
        schema = arrow_schema(name, released_columns(name, variables))
        what = f"the {name} table"
        tables[name] = read_table(data[at : at + length], schema, bounds.rows(name), what)
        at += length
    check_extract(variables, tables, bounds)
    return variables, tables


def _header(header: Any) -> tuple[tuple[str, ...], list[int]]:
    """The variables and the tables' lengths of a parsed header, refused unless exactly the
    format's."""
    wrong = ExtractRefused("the extract's header is not the format's")
    if not isinstance(header, dict) or set(header) != {"variables", "tables"}:
        raise wrong
    names, tables = header["variables"], header["tables"]
    if not isinstance(names, list) or not isinstance(tables, list):
        raise wrong
    if not names or len(names) > len(VARIABLES) or len(set(map(str, names))) != len(names):
        raise ExtractRefused("the extract's header does not list its variables once each")
    if not all(isinstance(n, str) and n in VARIABLES for n in names):
        raise ExtractRefused("the extract names a variable the analysis catalogue does not define")
    variables = tuple(names)
    expected = released_tables(variables)
    if len(tables) != len(expected):
        raise ExtractRefused("the extract does not hold exactly the tables its variables need")
    lengths = []
    for entry, name in zip(tables, expected, strict=True):
        if not (isinstance(entry, list) and len(entry) == 2 and entry[0] == name):
            raise ExtractRefused("the extract does not hold exactly the tables its variables need")
        length = entry[1]
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise wrong
        lengths.append(length)
    return variables, lengths
