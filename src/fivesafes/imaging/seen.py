"""Which SOPInstanceUIDs the index may already hold: a run's answer without a scan of the index.

Every batch asks whether its instances' UIDs are in the index already (a duplicate is not added
again, :mod:`fivesafes.imaging.index`). Asked of DuckDB, each question scans the UID column of
every instance indexed: at ten million instances about 0.6 s a batch of a thousand, so a run's
time would grow with the square of the archive's size. Instead a run keeps the 64-bit hashes
(DuckDB's ``hash``) of every UID in the index, sorted, in memory (8 bytes an instance): a UID
whose hash is not there is certainly not in the index; only the few whose hash is there (a
duplicate, or a rare collision) are looked up in DuckDB.

Beyond :data:`LIMIT` instances (256 MiB of hashes) a run keeps none and asks DuckDB every
batch, as before: the memory a run holds stays bounded. An archive that size is the Spark job's
(:mod:`fivesafes.imaging.spark_index`).
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np
import pyarrow as pa

LIMIT = 32_000_000  # instances whose hashes a run keeps at most (8 bytes each)
_TAIL = 262_144  # hashes added before they are merged into the main sorted array


class SeenUids:
    """The hashes of the UIDs in ``imaging_instance`` when made, and of those added since."""

    def __init__(self, hashes: np.ndarray) -> None:
        self.main = np.sort(hashes.astype(np.uint64, copy=False))
        self.tail = np.empty(0, np.uint64)  # sorted too; merged into main when it grows

    @classmethod
    def of(cls, con: duckdb.DuckDBPyConnection, limit: int | None = None) -> SeenUids | None:
        """The UIDs of the index on ``con``; None beyond ``limit`` (:data:`LIMIT`) instances."""
        found = con.execute("SELECT count(*) FROM imaging_instance").fetchone()
        if found is None or int(found[0]) > (LIMIT if limit is None else limit):
            return None
        column = con.execute(
            "SELECT hash(sop_instance_uid) AS h FROM imaging_instance"
        ).fetchnumpy()["h"]
        return cls(np.asarray(column, np.uint64))

    def __len__(self) -> int:
        return len(self.main) + len(self.tail)

    def maybe(self, hashes: np.ndarray) -> np.ndarray:
        """For each hash, whether the index may hold its UID (False: certainly not)."""
        held: np.ndarray = _within(self.main, hashes) | _within(self.tail, hashes)
        return held

    def add(self, hashes: np.ndarray) -> None:
        self.tail = _merged(self.tail, np.sort(hashes.astype(np.uint64, copy=False)))
        if len(self.tail) >= _TAIL:
            self.main = _merged(self.main, self.tail)
            self.tail = np.empty(0, np.uint64)


def hashes_of(con: duckdb.DuckDBPyConnection, uids: Sequence[str]) -> np.ndarray:
    """DuckDB's hash of each of ``uids``, in order (the same as :meth:`SeenUids.of` keeps)."""
    if not uids:
        return np.empty(0, np.uint64)
    con.register("imaging_seen_uids", pa.table({"uid": pa.array(list(uids), pa.string())}))
    try:
        column = con.execute("SELECT hash(uid) AS h FROM imaging_seen_uids").fetchnumpy()["h"]
    finally:
        con.unregister("imaging_seen_uids")
    return np.asarray(column, np.uint64)


def _within(sorted_hashes: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    if len(sorted_hashes) == 0:
        return np.zeros(len(hashes), bool)
    at = np.searchsorted(sorted_hashes, hashes)
    inside = at < len(sorted_hashes)
    found = np.zeros(len(hashes), bool)
    found[inside] = sorted_hashes[at[inside]] == hashes[inside]
    return found


def _merged(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Two sorted arrays as one (a copy of ``left`` with ``right`` slotted in: linear)."""
    if len(right) == 0:
        return left
    merged: np.ndarray = np.insert(left, np.searchsorted(left, right), right)
    return merged
