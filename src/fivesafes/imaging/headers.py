"""The restricted header store: the full header of every indexed image, kept apart from the
index.

The index tables (``imaging_study``, ``imaging_series``, ``imaging_instance``) live in the
node's data source, where analyses read. The headers do not: they are a SQLite file of their
own (``[imaging] header_store`` in ``node.toml``; created with mode 600), holding per file the
raw bytes from the start of the file to Pixel Data (file meta, every element, private ones
too), compressed with zlib. Only the extraction step (de-identification, a later release) is
meant to read it; no analysis, API route or log does, and nothing in the data source names it.
Converting each header to the DICOM JSON model would cost about ten times the read, so the
bytes are kept as read and parsed by whoever needs them (:func:`dataset_of`).

An image indexed through DICOMweb (:mod:`fivesafes.imaging.dicomweb`) has no file to read
bytes from: its header is the instance's WADO-RS metadata, the DICOM JSON model (PS3.18
F.2), kept compact and compressed, with bulk data left as the server's URIs (never fetched).
``media_type`` says which a row holds: ``application/dicom`` (bytes up to Pixel Data) or
``application/dicom+json``; :func:`dataset_of` reads either.

Writes are idempotent by path (a file read again replaces its row), so a run interrupted
between this store's commit and the index's loses nothing: the file is read again next time.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from fivesafes.imaging.reading import quiet_pydicom

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

SCHEMA = """
CREATE TABLE IF NOT EXISTS imaging_header (
    path TEXT PRIMARY KEY,
    sop_instance_uid TEXT NOT NULL,
    header_bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    header BLOB NOT NULL,
    media_type TEXT NOT NULL DEFAULT 'application/dicom'
)
"""
DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"


class StoredHeader(NamedTuple):
    path: str  # the file's path, or the instance's WADO-RS URL
    sop_instance_uid: str
    header_bytes: int
    sha256: str
    header: bytes  # zlib-compressed
    media_type: str = DICOM  # or DICOM_JSON


class HeaderStore:
    """The restricted store at ``path``; :meth:`start` opens (and creates) it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    def start(self) -> HeaderStore:
        created = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if created:  # readable by its owner only, from the first byte
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        # one thread at a time, but not always the one that opened it: an index run writes
        # its batches on a thread of their own (fivesafes.imaging.index)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(imaging_header)")}
        if "media_type" not in columns:  # a store written before DICOMweb: raw bytes only
            self._db.execute(
                f"ALTER TABLE imaging_header ADD COLUMN media_type TEXT NOT NULL DEFAULT '{DICOM}'"
            )
        return self

    def stop(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> HeaderStore:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the header store is not started")
        return self._db

    def replace(self, put: Iterable[StoredHeader], drop: Iterable[str] = ()) -> None:
        """In one transaction: remove the rows of ``drop`` (paths) and write ``put``."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("DELETE FROM imaging_header WHERE path = ?", ((p,) for p in drop))
            db.executemany(
                "INSERT OR REPLACE INTO imaging_header VALUES (?, ?, ?, ?, ?, ?)",
                put,
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def drop_under(self, low: str, high: str) -> None:
        """Remove the rows whose path is in [``low``, ``high``): a DICOMweb study or series."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM imaging_header WHERE path >= ? AND path < ?", (low, high))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def get(self, path: str) -> StoredHeader | None:
        row = self.db.execute(
            "SELECT path, sop_instance_uid, header_bytes, sha256, header, media_type"
            " FROM imaging_header WHERE path = ?",
            (path,),
        ).fetchone()
        return StoredHeader(*row) if row else None

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM imaging_header").fetchone()[0])


def dataset_of(stored: StoredHeader) -> Dataset:
    """The whole header as a pydicom dataset (for the extraction step). From DICOM JSON, an
    element whose value the server left as a bulk data URI has no value: nothing is fetched."""
    import pydicom
    from pydicom.dataset import Dataset

    raw = zlib.decompress(stored.header)
    with quiet_pydicom():  # its warnings quote values
        if stored.media_type == DICOM_JSON:
            return Dataset.from_json(json.loads(raw), bulk_data_uri_handler=lambda *_: b"")
        return pydicom.dcmread(io.BytesIO(raw), force=True)
