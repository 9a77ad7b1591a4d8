"""What the pool service keeps on disk, and where.

| where (``[pool]``)                     | what                                                   |
| -------------------------------------- | ------------------------------------------------------ |
| ``store/<pool_id>/<node>.extract``     | a node's extract as it arrived, mode 600, until merged |
| ``store/<pool_id>/pool.json``          | the pool's record: the hub's signed terms, each node's |
|                                        | receipt (digest, persons, when), the merge's counts,   |
|                                        | the files' facts once destruction began                |
| ``[data] path`` (and ``.wal``)         | the pooled CDM, mode 600, until the pool is destroyed  |
| ``certificates/<pool_id>.json``        | the signed certificate of destruction, kept            |
| ``certificates/<pool_id>.terms.json``  | the hub's signed terms it was destroyed under, kept    |
| ``certificates/<pool_id>.told``        | empty: the hub has the certificate                     |

The record holds counts and digests only, never a row. A pool's folder and its data file are
deleted when it is destroyed (``fivesafes.pool.destruction``); its certificate stays. One lock
orders the receiver's and the sweeper's changes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError

from fivesafes.protocol.models import Name, Strict
from fivesafes.protocol.pool import Digest, SignedCertificate, SignedPoolTerms

RECORD = "pool.json"
POOL_ID = re.compile(r"^pl_[0-9a-f]{12}$")
NODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class Received(Strict):
    """A node's extract as the pool received it: counts and a digest."""

    digest: Digest
    persons: Annotated[int, Field(ge=0)]
    received_at: datetime


class Merged(Strict):
    """What the merge made, in counts; ``told_hub`` once the hub knows the pool is ready."""

    persons: Annotated[int, Field(ge=0)]
    persons_per_node: dict[Name, int]
    rows: dict[str, int]
    merged_at: datetime
    told_hub: bool = False


class PoolRecord(Strict):
    terms: SignedPoolTerms
    received: dict[Name, Received] = {}
    merged: Merged | None = None
    destroying: list[dict[str, Any]] | None = None  # the files' facts, once destruction began


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 600, whole or not at all (a partial file beside it,
    then renamed); its folder is made with mode 700."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    handle = os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def file_facts(path: Path, name: str) -> dict[str, Any]:
    """A file's name (as given), size and SHA-256, read now."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return {"name": name, "bytes": size, "sha256": digest.hexdigest()}


def _write_text(path: Path, text: str) -> None:
    """Write a file of no data (a certificate, terms) whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text + "\n")
    os.replace(partial, path)


class PoolFiles:
    """The pool service's folders (``[pool] store`` and ``certificates``) and its data file."""

    def __init__(self, store: Path, certificates: Path, data_path: Path) -> None:
        self.store = store
        self.certificates = certificates
        self.data_path = data_path
        self.lock = threading.RLock()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the pool's files alone, across processes (``fivesafes pool serve`` holds them
        while it runs, ``fivesafes pool sweep`` for its one pass): raises ``BlockingIOError``
        at once if another process holds them."""
        self.store.mkdir(parents=True, exist_ok=True)
        with (self.store / ".service.lock").open("a") as held:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:
                yield
            finally:
                fcntl.flock(held, fcntl.LOCK_UN)

    def folder(self, pool_id: str) -> Path:
        if not POOL_ID.fullmatch(pool_id):
            raise ValueError("not a pool id")
        return self.store / pool_id

    def extract_path(self, pool_id: str, node: str) -> Path:
        if not NODE.fullmatch(node):
            raise ValueError("not a node's name")
        return self.folder(pool_id) / f"{node}.extract"

    def certificate_path(self, pool_id: str) -> Path:
        return self.certificates / f"{self.folder(pool_id).name}.json"

    def held(self) -> list[str]:
        """The pools with a record here (not yet destroyed), by id."""
        if not self.store.is_dir():
            return []
        return sorted(
            entry.name
            for entry in self.store.iterdir()
            if POOL_ID.fullmatch(entry.name) and (entry / RECORD).is_file()
        )

    def record(self, pool_id: str) -> PoolRecord | None:
        path = self.folder(pool_id) / RECORD
        try:
            return PoolRecord.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except ValidationError:
            raise ValueError("the pool's record is not readable") from None

    def save(self, pool_id: str, record: PoolRecord) -> None:
        write_private(self.folder(pool_id) / RECORD, record.model_dump_json().encode())

    def certificate(self, pool_id: str) -> SignedCertificate | None:
        try:
            text = self.certificate_path(pool_id).read_bytes()
        except FileNotFoundError:
            return None
        return SignedCertificate.model_validate_json(text)

    def save_certificate(
        self, pool_id: str, signed: SignedCertificate, terms: SignedPoolTerms
    ) -> None:
        """Keep the certificate, and beside it the hub's signed terms it was destroyed under."""
        path = self.certificate_path(pool_id)
        _write_text(path.with_suffix(".terms.json"), terms.model_dump_json(indent=2))
        _write_text(path, signed.model_dump_json(indent=2))

    def certificate_terms(self, pool_id: str) -> SignedPoolTerms | None:
        try:
            text = self.certificate_path(pool_id).with_suffix(".terms.json").read_bytes()
        except FileNotFoundError:
            return None
        return SignedPoolTerms.model_validate_json(text)

    def certified(self) -> list[str]:
        """The pools destroyed here, by id."""
        if not self.certificates.is_dir():
            return []
        return sorted(
            path.stem for path in self.certificates.glob("*.json") if POOL_ID.fullmatch(path.stem)
        )

    def told(self, pool_id: str) -> bool:
        """Whether the hub has this pool's certificate."""
        return self.certificate_path(pool_id).with_suffix(".told").exists()

    def mark_told(self, pool_id: str) -> None:
        self.certificate_path(pool_id).with_suffix(".told").touch()

    def data_files(self) -> list[Path]:
        """The pooled data file and every file DuckDB and the merge keep beside it (its
        ``.wal``, a merge's partial files: names that are the data file's, dots before or a
        suffix after)."""
        data = self.data_path
        if not data.parent.is_dir():
            return []
        return sorted(
            path
            for path in data.parent.iterdir()
            if path.is_file()
            and (
                path.name.lstrip(".") == data.name
                or path.name.lstrip(".").startswith(f"{data.name}.")
            )
        )

    def merging_path(self) -> Path:
        """Where the merge writes before the pooled file is moved into place."""
        return self.data_path.with_name(f".{self.data_path.name}.merging")

    def remove_folder(self, pool_id: str) -> None:
        folder = self.folder(pool_id)
        if folder.is_dir():
            for path in sorted(folder.rglob("*"), reverse=True):
                with contextlib.suppress(FileNotFoundError):
                    path.rmdir() if path.is_dir() else path.unlink()
            folder.rmdir()
