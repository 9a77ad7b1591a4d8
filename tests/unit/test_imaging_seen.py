"""The UIDs a run remembers (fivesafes.imaging.seen) and the run's first-run and writing paths:
no UID the index holds is ever reported absent, duplicates are found across roots and runs with
and without the remembered hashes, and a batch that fails to write ends the run as failed."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from fivesafes.imaging import seen
from fivesafes.imaging.headers import HeaderStore
from fivesafes.imaging.seen import SeenUids, hashes_of
from imaging_data import SynthNode, synth_node, write_image


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> SynthNode:
    return synth_node(tmp_path_factory.mktemp("imaging-seen"))


def uids(n: int, rng: random.Random) -> list[str]:
    return [f"1.2.826.0.1.3680043.8.498.{rng.randrange(10**12)}.{i}" for i in range(n)]


def test_no_uid_added_is_ever_said_to_be_absent(monkeypatch):
    monkeypatch.setattr(seen, "_TAIL", 500)  # merge the tail into the main array often
    rng = random.Random(15)
    con = duckdb.connect()
    at_start = uids(3000, rng)
    con.register("rows", pa.table({"sop_instance_uid": at_start}))
    con.execute("CREATE TABLE imaging_instance AS SELECT * FROM rows")
    remembered = SeenUids.of(con)
    assert remembered is not None and len(remembered) == 3000
    added: list[str] = []
    for _ in range(12):
        batch = uids(300, rng)
        hashes = hashes_of(con, batch)
        remembered.add(hashes)
        added += batch
    assert len(remembered) == 3000 + 12 * 300
    assert bool(np.all(remembered.maybe(hashes_of(con, at_start + added))))
    strangers = uids(5000, random.Random(16))
    # 64-bit hashes: a stranger said to be held would be a collision, about 1 in 10^11 here
    assert not bool(np.any(remembered.maybe(hashes_of(con, strangers))))
    assert np.all(np.diff(remembered.main.astype(np.float64)) >= 0)


def test_beyond_the_limit_a_run_keeps_no_hashes():
    con = duckdb.connect()
    con.execute("CREATE TABLE imaging_instance AS SELECT 'u' || range AS sop_instance_uid "
                "FROM range(10)")  # fmt: skip
    assert SeenUids.of(con, limit=9) is None
    assert SeenUids.of(con, limit=10) is not None


def copy_of_one_file(node: SynthNode, into: Path) -> Path:
    """A second root holding a copy of one file of the archive and a file of its own."""
    original = sorted(node.archive.rglob("*.dcm"))[0]
    into.mkdir()
    shutil.copy(original, into / "copy.dcm")
    write_image(into / "own.dcm", SOPInstanceUID="2.25.77001", SeriesInstanceUID="2.25.770",
                StudyInstanceUID="2.25.77", PatientID="SYN00000003")  # fmt: skip
    return original


@pytest.mark.parametrize("limit", [seen.LIMIT, 0], ids=["remembered", "asked-each-batch"])
def test_a_copy_under_another_root_is_a_duplicate(node, tmp_path, monkeypatch, limit):
    monkeypatch.setattr(seen, "LIMIT", limit)
    database, headers = node.fresh_database(f"copies-{limit}"), tmp_path / "h.sqlite"
    first = node.index(database, headers)
    original = copy_of_one_file(node, tmp_path / "second")
    second = node.index(database, headers, [tmp_path / "second"])
    # nothing was known under the second root: it was read as the walk found it
    assert (second.found, second.new, second.changed, second.unchanged) == (2, 2, 0, 0)
    assert second.indexed == 1 and second.duplicates["same_header"] == 1
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute(
            "SELECT status, reason, detail FROM imaging_files WHERE path = ?",
            [str(tmp_path / "second" / "copy.dcm")],
        ).fetchall()
        instances = con.execute("SELECT count(*) FROM imaging_instance").fetchone()
    said = f"the same SOPInstanceUID as {original}, with the same header (a copy)"
    assert rows == [("duplicate", "same_header", said)]
    assert instances is not None and instances[0] == first.indexed + 1


def test_a_batch_that_cannot_be_written_fails_the_run_and_keeps_what_was_written(
    node, tmp_path, monkeypatch
):
    database, headers = node.fresh_database("failing"), tmp_path / "h.sqlite"
    written = 0
    real = HeaderStore.replace

    def replace(self, put, drop=()):
        nonlocal written
        written += 1
        if written == 3:
            raise OSError("disk full")
        return real(self, put, drop)

    monkeypatch.setattr(HeaderStore, "replace", replace)
    with pytest.raises(OSError, match="disk full"):
        node.index(database, headers, batch_files=20)
    with duckdb.connect(str(database), read_only=True) as con:
        runs = con.execute("SELECT status FROM imaging_runs").fetchall()
        files = con.execute("SELECT count(*) FROM imaging_files").fetchone()
    assert runs == [("failed",)] and files is not None and files[0] == 40
    monkeypatch.setattr(HeaderStore, "replace", real)
    again = node.index(database, headers, batch_files=20)
    assert again.unchanged == 40 and again.read == node.made.files - 40
