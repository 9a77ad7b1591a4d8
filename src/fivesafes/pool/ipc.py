"""One released table as an Arrow IPC stream, and reading one from another site within bounds.

A table is written as an uncompressed Arrow IPC stream: a schema message, record batches, the
end-of-stream mark. Reading parses what another site sent, so before Arrow decodes a record
batch its message is checked here: it must be a record batch (no dictionaries, no tensors),
declare no compression, and every one of its buffers must lie inside the message's body. An
uncompressed batch is then only slices of the bytes received, so no message can make the
reader allocate more than it was sent (a compressed body, the way to a decompression bomb,
is refused before it is decompressed). The schema must be exactly the one expected, the rows
are counted against a bound as they arrive, and every batch is validated in full (offsets
inside their buffers, valid UTF-8) before it is used.

The check reads the message's FlatBuffers metadata (Arrow's ``Message`` and ``RecordBatch``
tables of ``format/Message.fbs``) by hand; Arrow has already verified the FlatBuffer when it
read the message, and every read here is bounds-checked again.
"""

from __future__ import annotations

import struct

import pyarrow as pa

_RECORD_BATCH = 3  # MessageHeader.RecordBatch in format/Message.fbs
# Message: version, header_type, header, bodyLength; RecordBatch: length, nodes, buffers,
# compression
_HEADER_TYPE, _HEADER = 1, 2
_LENGTH, _BUFFERS, _COMPRESSION = 0, 2, 3


class IpcRefused(ValueError):
    """What was sent is not a table of the expected shape (the message says why, in words)."""


def write_table(table: pa.Table) -> bytes:
    """``table`` as an uncompressed Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def read_table(data: memoryview, schema: pa.Schema, max_rows: int, what: str) -> pa.Table:
    """The table in ``data``, which must have exactly ``schema`` and at most ``max_rows``
    rows; ``what`` names it in a refusal. Raises :class:`IpcRefused` or Arrow's own errors
    (the caller turns those into words)."""
    source = pa.BufferReader(pa.py_buffer(data))
    reader = pa.ipc.MessageReader.open_stream(source)
    first = reader.read_next_message()
    if first.type != "schema":
        raise IpcRefused(f"{what} does not start with its columns")
    if not pa.ipc.read_schema(first).equals(schema, check_metadata=False):
        raise IpcRefused(f"{what} does not have the columns and types a pool expects")
    batches = []
    rows = 0
    for message in reader:
        if message.type != "record batch":
            raise IpcRefused(f"{what} holds something other than rows")
        rows += _batch_rows(bytes(message.metadata), message.body.size)
        if rows > max_rows:
            raise IpcRefused(f"{what} has more rows than a pool accepts ({max_rows:,})")
        batch = pa.ipc.read_record_batch(message, schema)
        batch.validate(full=True)
        batches.append(batch)
    if source.tell() != len(data):
        raise IpcRefused(f"{what} has bytes after its end")
    return pa.Table.from_batches(batches, schema=schema)


def _batch_rows(metadata: bytes, body_size: int) -> int:
    """The rows a record batch message declares, after checking that its body is not
    compressed and that every buffer lies inside the body."""
    message = _Table.root(metadata)
    if message.ubyte(_HEADER_TYPE) != _RECORD_BATCH:
        raise IpcRefused("a message that should hold rows does not")
    batch = message.table(_HEADER)
    if batch.has(_COMPRESSION):
        raise IpcRefused("a batch of rows is compressed, which a pool does not accept")
    rows = batch.int64(_LENGTH)
    start, count = batch.vector(_BUFFERS)
    for n in range(count):
        offset, length = _unpack("<qq", metadata, start + 16 * n)
        if offset < 0 or length < 0 or offset + length > body_size:
            raise IpcRefused("a batch of rows points outside its own bytes")
    if rows < 0:
        raise IpcRefused("a batch of rows declares a negative number of rows")
    return rows


def _unpack(fmt: str, buf: bytes, pos: int) -> tuple[int, ...]:
    size = struct.calcsize(fmt)
    if pos < 0 or pos + size > len(buf):
        raise IpcRefused("a message's description points outside itself")
    return tuple(struct.unpack_from(fmt, buf, pos))


class _Table:
    """One FlatBuffers table: its position in ``buf`` and its vtable."""

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf = buf
        self.pos = pos
        self.vtable = pos - _unpack("<i", buf, pos)[0]
        self.vsize = _unpack("<H", buf, self.vtable)[0]

    @classmethod
    def root(cls, buf: bytes) -> _Table:
        return cls(buf, _unpack("<I", buf, 0)[0])

    def _field(self, n: int) -> int | None:
        at = 4 + 2 * n
        if at + 2 > self.vsize:
            return None
        offset = _unpack("<H", self.buf, self.vtable + at)[0]
        return self.pos + offset if offset else None

    def has(self, n: int) -> bool:
        return self._field(n) is not None

    def ubyte(self, n: int) -> int:
        at = self._field(n)
        return 0 if at is None else _unpack("<B", self.buf, at)[0]

    def int64(self, n: int) -> int:
        at = self._field(n)
        return 0 if at is None else _unpack("<q", self.buf, at)[0]

    def table(self, n: int) -> _Table:
        at = self._field(n)
        if at is None:
            raise IpcRefused("a message has no description of its rows")
        return _Table(self.buf, at + _unpack("<I", self.buf, at)[0])

    def vector(self, n: int) -> tuple[int, int]:
        """Where a vector's items start, and how many there are (none if absent)."""
        at = self._field(n)
        if at is None:
            return 0, 0
        start = at + _unpack("<I", self.buf, at)[0]
        return start + 4, _unpack("<I", self.buf, start)[0]
