"""Indexing an archive (fivesafes.imaging.index) end to end: the synthetic archive against its
planted ground truth, pydicom's real-world files, re-runs that read only what changed, a run
killed with SIGKILL that resumes to the same tables, the process pool, and the restricted
header store kept out of everything analyses read."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from pydicom.data import get_testdata_files

from fivesafes.data.engines import open_omop
from fivesafes.data.source import parse_data_source
from fivesafes.imaging.headers import HeaderStore, dataset_of
from fivesafes.imaging.index import IndexOptions, index_archive
from fivesafes.imaging.project import SERIES_SQL, in_parts
from fivesafes.imaging.reading import SAID, Reason
from fivesafes.imaging.rules import load_rules
from fivesafes.imaging.store import IndexStore
from fivesafes.imaging.tables import ANALYSIS_TABLES
from fivesafes.imaging.unmapped import unmapped
from imaging_data import SynthNode, synth_node, write_image

TRUTH_KEYS = ("modality", "body_part", "contrast_recorded", "burned_in", "n_instances", "person_id")


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> SynthNode:
    return synth_node(tmp_path_factory.mktemp("imaging"))


@pytest.fixture(scope="module")
def indexed(node):
    """The archive indexed once, in this process; the database and the report."""
    database = node.fresh_database("indexed")
    report = node.index(database, node.root / "indexed-headers.sqlite")
    return database, report


def table(database: Path, sql: str) -> list[dict]:
    with duckdb.connect(str(database), read_only=True) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def truth(node: SynthNode) -> list[dict]:
    with (node.truth / "series.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_the_synthetic_archive_is_a_few_hundred_files_of_every_kind(node):
    made = node.made
    assert 150 <= made.files <= 600, made.files
    assert {"CT", "MR", "US", "MG", "OT"} <= set(made.modalities) and {"CR", "DX"} & set(
        made.modalities
    )
    assert made.copies > 0 and made.bare > 0 and made.outside > 0


def test_series_match_the_planted_truth(node, indexed):
    database, report = indexed
    planted = {row["series_instance_uid"]: row for row in truth(node)}
    found = {r["series_instance_uid"]: r for r in table(database, "SELECT * FROM imaging_series")}
    assert set(found) == set(planted)
    wrong = []
    for uid, row in planted.items():
        expected = (
            row["modality"],
            row["body_part"] or None,
            row["contrast_recorded"],
            row["burned_in"],
            int(row["n_instances"]),
            int(row["person_id"]) if row["person_id"] else None,
        )
        got = found[uid]
        seen = (
            got["modality"],
            got["body_part"],
            got["contrast"],
            got["burned_in"],
            got["n_instances"],
            got["person_id"],
        )
        if seen != expected:
            wrong.append((uid, expected, seen))
    assert wrong == []
    assert report.instances == sum(int(r["n_instances"]) for r in planted.values())
    assert report.duplicates == {"same_header": node.made.copies}
    assert report.unreadable == {} and report.finished


def test_chest_ct_with_contrast_per_person_is_the_planted_answer(node, indexed):
    """The PICTURES question's imaging half, read off the series table."""
    database, _ = indexed
    summary = json.loads((node.truth / "summary.json").read_text())
    planted = {int(p): sorted(s) for p, s in summary["chest_ct_with_contrast"]["persons"].items()}
    found: dict[int, list[str]] = {}
    for row in table(
        database,
        "SELECT person_id, series_instance_uid FROM imaging_series "
        "WHERE modality = 'CT' AND body_part = 'CHEST' AND contrast = 'yes' "
        "ORDER BY series_instance_uid",
    ):
        found.setdefault(row["person_id"], []).append(row["series_instance_uid"])
    assert found == planted and len(planted) >= 3


def test_studies_roll_up_the_series(node, indexed):
    database, _ = indexed
    planted: dict[str, set[str]] = {}
    for row in truth(node):
        planted.setdefault(row["study_instance_uid"], set()).add(row["series_instance_uid"])
    found = table(
        database, "SELECT study_instance_uid, n_series, person_id, link FROM imaging_study"
    )
    assert {r["study_instance_uid"]: r["n_series"] for r in found} == {
        uid: len(series) for uid, series in planted.items()
    }
    outside = {r["study_instance_uid"] for r in truth(node) if not r["person_id"]}
    assert {r["study_instance_uid"] for r in found if r["link"] == "no_match"} == outside
    assert all(r["person_id"] is None for r in found if r["link"] != "linked")


def test_unlinked_patients_are_counted_never_guessed(node, indexed):
    _, report = indexed
    outside = [r for r in truth(node) if not r["person_id"]]
    assert outside and report.links["no_match"] == len(outside)
    assert set(report.links) == {"linked", "no_match"}


def test_files_without_file_meta_are_indexed(node, indexed):
    database, _ = indexed
    bare = table(database, "SELECT count(*) AS n FROM imaging_instance WHERE NOT file_meta")
    assert bare == [{"n": node.made.bare}]


def test_unmapped_lists_the_texts_no_rule_matched(node, indexed):
    database, _ = indexed
    with IndexStore(database, read_only=True) as store:
        found = unmapped(store, load_rules(), limit=50)
    texts = {text for _, text, _ in found.body_part}
    planted_unknown = [r for r in truth(node) if not r["body_part"]]
    assert found.body_part_unknown == len(planted_unknown)
    if planted_unknown:  # the temporal bones studies: mapped by no shipped rule
        assert "CT TEMPORAL BONES" in texts and "TEMPORAL BONES" in texts
    assert not texts & {"CHEST", "THORAX", "LUNG", "HEAD", "BRAIN"}
    counts = [n for _, _, n in found.contrast]
    assert counts == sorted(counts, reverse=True) and found.contrast  # commonest first


def test_the_restricted_store_holds_every_header_and_nothing_reads_it(node, indexed):
    database, report = indexed
    store_path = node.root / "indexed-headers.sqlite"
    assert store_path.stat().st_mode & 0o777 == 0o600
    with HeaderStore(store_path) as headers:
        assert headers.count() == report.instances
        any_path = table(database, "SELECT path FROM imaging_instance LIMIT 1")[0]["path"]
        full = dataset_of(headers.get(any_path))
        assert str(full.PatientName).startswith("SYNTHETIC^PERSON") and full.PatientID
    # the data source has no header, no PatientID, no name, no birth date: not in its tables'
    # columns, and not in any value of the tables analyses read (paths carry PatientIDs at one
    # site, so the instance and file tables keep them apart from the analyses' tables)
    with duckdb.connect(str(database), read_only=True) as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        columns = con.execute(
            "SELECT table_name, column_name, data_type FROM duckdb_columns() "
            "WHERE table_name LIKE 'imaging%'"
        ).fetchall()
        for name in ANALYSIS_TABLES:
            values = con.execute(
                f"SELECT string_agg(CAST(COLUMNS(*) AS VARCHAR), '|') FROM {name}"
            ).fetchone()
            joined = "|".join(v for v in values if v)
            assert "SYN" not in joined.upper() and str(node.archive) not in joined, name
    assert not {"imaging_header", "header"} & set(tables)
    assert not [c for c in columns if c[2] == "BLOB"]
    assert not [
        c
        for c in columns
        if any(w in c[1] for w in ("patient_id", "patient_name", "birth", "accession"))
    ]
    with pytest.raises(ValueError, match="not an OMOP CDM"):
        open_omop(parse_data_source({"engine": "duckdb", "path": str(database)})).table(
            "imaging_header"
        )


def test_every_real_world_file_is_indexed_or_reported(tmp_path):
    root = Path(get_testdata_files()[0]).parents[1]  # pydicom's data and pydicom-data's files
    database = tmp_path / "data.duckdb"
    duckdb.connect(str(database)).close()
    report = index_archive(
        [root],
        database=database,
        header_store=tmp_path / "h.sqlite",
        rules=load_rules(),
        pseudonym_of=lambda p: None,
        options=IndexOptions(batch_files=40),
    )
    files = table(database, "SELECT status, reason, detail FROM imaging_files")
    assert len(files) == report.found == report.read > 200
    assert {f["status"] for f in files} == {"indexed", "unreadable", "skipped", "duplicate"}
    for f in files:
        if f["status"] in ("unreadable", "skipped"):
            assert f["detail"].startswith(SAID[Reason(f["reason"])])
    assert report.indexed == sum(f["status"] == "indexed" for f in files) > 100
    assert report.links == {"no_identifier": report.series}  # no key given: nobody linked


def test_a_rerun_reads_only_new_changed_and_gone_files(node, tmp_path):
    archive = tmp_path / "archive"
    shutil.copytree(node.archive, archive)
    database = node.fresh_database("rerun")
    headers = tmp_path / "headers.sqlite"
    first = node.index(database, headers, [archive])
    again = node.index(database, headers, [archive])
    assert (again.read, again.unchanged, again.removed) == (0, first.found, 0)
    # add a series, change a file (new size and mtime), remove one
    for n in range(3):
        write_image(
            archive / "added" / f"{n}.dcm",
            SOPInstanceUID=f"2.25.900{n}",
            SeriesInstanceUID="2.25.90",
            StudyInstanceUID="2.25.9",
            PatientID="SYN00000001",
        )
    changed = sorted((archive / "north").rglob("*.dcm"))[0]
    before = table(
        database, f"SELECT series_instance_uid FROM imaging_instance WHERE path = '{changed}'"
    )
    write_image(
        changed,
        SOPInstanceUID="2.25.8001",
        SeriesInstanceUID="2.25.80",
        StudyInstanceUID="2.25.8",
        PatientID="SYN00000002",
        StudyDescription="CT HEAD",
    )
    os.utime(changed, ns=(time.time_ns(), time.time_ns() + 10**9))
    gone = sorted((archive / "south").rglob("IM*"))[0]
    gone_uid = table(
        database, f"SELECT sop_instance_uid FROM imaging_instance WHERE path = '{gone}'"
    )
    gone.unlink()
    third = node.index(database, headers, [archive])
    assert (third.new, third.changed, third.removed, third.read) == (3, 1, 1, 4)
    assert third.unchanged == first.found - 2
    paths = {
        r["path"]
        for r in table(database, f"SELECT path FROM imaging_files WHERE run_id = '{third.run_id}'")
    }
    assert paths == {str(changed), *(str(p) for p in (archive / "added").iterdir())}
    assert table(
        database, "SELECT n_instances FROM imaging_series WHERE series_instance_uid = '2.25.90'"
    ) == [{"n_instances": 3}]
    uid = gone_uid[0]["sop_instance_uid"]
    assert table(
        database, f"SELECT count(*) AS n FROM imaging_instance WHERE sop_instance_uid = '{uid}'"
    ) == [{"n": 0}]
    assert table(
        database, f"SELECT series_instance_uid FROM imaging_instance WHERE path = '{changed}'"
    ) == [{"series_instance_uid": "2.25.80"}]
    assert before != [{"series_instance_uid": "2.25.80"}]
    with HeaderStore(headers) as store:
        assert (
            store.get(str(gone)) is None and store.get(str(changed)).sop_instance_uid == "2.25.8001"
        )


def snapshot(database: Path, headers: Path) -> dict[str, list]:
    """Everything a run leaves, but for when it ran."""
    with duckdb.connect(str(database), read_only=True) as con:
        found = {
            name: con.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall()
            for name in ("imaging_series", "imaging_study", "imaging_instance")
        }
        found["imaging_files"] = con.execute(
            "SELECT path, size, mtime_ns, status, reason, detail, sop_instance_uid "
            "FROM imaging_files ORDER BY path"
        ).fetchall()
    with sqlite3.connect(headers) as con:
        found["headers"] = con.execute(
            "SELECT path, sha256 FROM imaging_header ORDER BY path"
        ).fetchall()
    return found


KILLABLE = """
import sys, time
from datetime import date
from pathlib import Path
from fivesafes.imaging.index import IndexOptions, index_archive
from fivesafes.imaging.rules import load_rules
from imaging_data import pseudonymiser

def progress(stage, done, total):
    if stage == "reading headers" and done:
        print("batch", done, flush=True)
        time.sleep(0.3)  # a window for the test to kill this run between batches

if __name__ == "__main__":
    archive, database, headers, key = sys.argv[1:5]
    index_archive([Path(archive)], database=Path(database), header_store=Path(headers),
                  rules=load_rules(), pseudonym_of=pseudonymiser(bytes.fromhex(key)),
                  options=IndexOptions(workers=2, batch_files=25, pool_from=0,
                                       today=date(2025, 6, 1)), progress=progress)
    print("done", flush=True)
"""


def test_a_killed_run_resumes_to_the_same_tables(node, tmp_path):
    script = tmp_path / "index_run.py"
    script.write_text(KILLABLE)
    database, headers = node.fresh_database("killed"), tmp_path / "killed.sqlite"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
        ),
    }
    run = subprocess.Popen(
        [
            sys.executable,
            str(script),
            str(node.archive),
            str(database),
            str(headers),
            node.key.hex(),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    batches = 0
    assert run.stdout is not None
    for line in run.stdout:
        if line.startswith("batch"):
            batches += 1
        if batches == 3:
            os.killpg(run.pid, signal.SIGKILL)  # the run and its readers, as a crash would
            break
    run.wait(timeout=30)
    assert run.returncode == -signal.SIGKILL
    runs = table(database, "SELECT status FROM imaging_runs")
    written = table(database, "SELECT count(*) AS n FROM imaging_files")[0]["n"]
    assert runs == [{"status": "running"}] and 75 <= written < node.made.files

    resumed = node.index(database, headers, workers=2, pool_from=0, batch_files=25)
    assert resumed.read == node.made.files - written and resumed.unchanged == written
    assert table(database, "SELECT status FROM imaging_runs ORDER BY started_at") == [
        {"status": "running"},
        {"status": "finished"},
    ]

    whole = node.fresh_database("whole")
    node.index(whole, tmp_path / "whole.sqlite", batch_files=25)
    assert snapshot(database, headers) == snapshot(whole, tmp_path / "whole.sqlite")


def test_the_process_pool_gives_the_tables_one_process_gives(node, indexed, tmp_path):
    database = node.fresh_database("pool")
    report = node.index(database, tmp_path / "pool.sqlite", workers=2, pool_from=0, batch_files=30)
    assert report.read == node.made.files
    one, _ = indexed
    for name in ("imaging_series", "imaging_study"):
        sql = f"SELECT * FROM {name} ORDER BY ALL"
        assert table(database, sql) == table(one, sql)


def test_roll_ups_in_parts_give_the_tables_one_statement_gives(
    node, indexed, tmp_path, monkeypatch
):
    """A large archive is rolled up in parts (memory bounded per statement); the tables are
    the same, row for row, the OMOP ones built from them too."""
    import fivesafes.imaging.store as store_module

    monkeypatch.setattr(store_module, "SERIES_PART_INSTANCES", 90)  # about 5 parts here
    monkeypatch.setattr(store_module, "STUDY_PART_SERIES", 40)
    database = node.fresh_database("parts")
    node.index(database, tmp_path / "parts.sqlite")
    one, _ = indexed
    for name in ("imaging_series", "imaging_study", "image_occurrence", "image_feature"):
        sql = f"SELECT * FROM {name} ORDER BY ALL"
        assert table(database, sql) == table(one, sql), name
    assert len(in_parts(SERIES_SQL, "imaging_series", "imaging_instance", "series_instance_uid",
                        node.made.files, 90)) > 3  # fmt: skip


def test_the_index_never_indexes_its_own_files(tmp_path):
    """An operator may walk the node's own folder: the data file, the header store and their
    journals are left out, not reported as files that are not DICOM."""
    write_image(tmp_path / "scan.dcm")
    database = tmp_path / "data.duckdb"
    duckdb.connect(str(database)).close()
    for _ in range(2):
        report = index_archive(
            [tmp_path],
            database=database,
            header_store=tmp_path / "h.sqlite",
            rules=load_rules(),
            pseudonym_of=lambda p: p,
        )
        assert report.unreadable == {}
    assert [r["path"] for r in table(database, "SELECT path FROM imaging_files")] == [
        str(tmp_path / "scan.dcm")
    ]
