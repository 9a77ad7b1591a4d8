"""Indexing a real PACS through DICOMweb: Orthanc 1.10 (Debian's, with its DICOMweb plugin) on
loopback holds the synthetic archive (tests/orthanc.py). The index read through QIDO-RS and
WADO-RS gives the same series, studies and instances as the same files read from disk (apart
from where each instance is and its size); a re-run after a study is added reads that study
alone; the command line indexes it, audited, and tells an unreachable service in words.
Skipped where Orthanc is not installed (bash scripts/imaging.sh installs it)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import duckdb
import pydicom
import pytest

from federation import fs
from fivesafes.data.synth import generate
from fivesafes.demo.processes import free_port
from fivesafes.imaging.dicomweb import DicomwebClient
from fivesafes.imaging.dicomweb_index import index_dicomweb
from fivesafes.imaging.headers import DICOM_JSON, HeaderStore, dataset_of
from fivesafes.imaging.index import IndexOptions
from fivesafes.imaging.rules import load_rules
from imaging_data import TODAY, SynthNode, pseudonymiser, synth_node
from orthanc import running_orthanc, upload


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> SynthNode:
    return synth_node(tmp_path_factory.mktemp("dicomweb-node"))


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    with running_orthanc(tmp_path_factory.mktemp("orthanc")) as url:
        yield url


def rows(database: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(sql).fetchall()


def by_study(archive: Path) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for path in sorted(p for p in archive.rglob("*") if p.is_file()):
        study = pydicom.dcmread(path, stop_before_pixels=True, force=True).StudyInstanceUID
        found.setdefault(str(study), []).append(path)
    return found


SERIES = "SELECT * EXCLUDE (bytes) FROM imaging_series ORDER BY ALL"
STUDIES = "SELECT * EXCLUDE (bytes) FROM imaging_study ORDER BY ALL"
INSTANCES = (
    "SELECT * EXCLUDE (path, size, mtime, file_meta, transfer_syntax_uid, header_sha256, issues)"
    " FROM imaging_instance ORDER BY ALL"
)


def test_dicomweb_gives_the_series_the_files_give_and_reads_a_new_study_alone(
    node, orthanc, tmp_path
):
    studies = by_study(node.archive)
    held = next(uid for uid, files in studies.items() if len(files) > 5)  # added later
    files = node.fresh_database("files")
    node.index(files, tmp_path / "files.sqlite")
    first = [p for uid, paths in studies.items() if uid != held for p in paths]
    assert upload(orthanc, first) == len(first)

    database, headers = node.fresh_database("dicomweb"), tmp_path / "dicomweb.sqlite"

    def index():
        return index_dicomweb(
            DicomwebClient(orthanc + "/dicom-web"),
            database=database,
            header_store=headers,
            rules=load_rules(),
            pseudonym_of=pseudonymiser(node.key),
            options=IndexOptions(today=TODAY),
        )

    report = index()
    without_held = f"study_instance_uid <> '{held}'"
    assert rows(database, SERIES) == rows(
        files, SERIES.replace("ORDER BY", f"WHERE {without_held} ORDER BY")
    )
    assert report.studies_listed == report.studies_read == len(studies) - 1
    assert report.unreadable == {} and report.duplicates == {}  # Orthanc keeps one copy

    assert upload(orthanc, studies[held]) == len(studies[held])
    again = index()
    held_series = rows(
        files, f"SELECT count(*), sum(n_instances) FROM imaging_series WHERE NOT ({without_held})"
    )[0]
    assert (again.studies_listed, again.studies_read) == (len(studies), 1)
    assert (again.new, again.changed, again.unchanged) == (held_series[0], 0, 0)
    assert again.read == held_series[1]
    for sql in (SERIES, STUDIES, INSTANCES):
        assert rows(database, sql) == rows(files, sql), sql
    # where each instance is: its WADO-RS URL; its full header: the metadata, as DICOM JSON
    paths = rows(database, "SELECT path FROM imaging_instance")
    assert all(p.startswith(f"{orthanc}/dicom-web/studies/") for (p,) in paths)
    with HeaderStore(headers) as store:
        kept = store.get(paths[0][0])
        assert store.count() == len(paths)
    assert kept is not None and kept.media_type == DICOM_JSON
    full = dataset_of(kept)
    uid = rows(
        database, f"SELECT sop_instance_uid FROM imaging_instance WHERE path = '{kept.path}'"
    )
    assert full.SOPInstanceUID == uid[0][0] and full.PatientID
    assert not full.get("PixelData")  # bulk data stays a URI on the server: never fetched

    settled = index()
    assert (settled.read, settled.studies_read) == (0, 0)


def test_an_operator_indexes_a_pacs_from_the_command_line(node, orthanc, tmp_path):
    omop = tmp_path / "omop.duckdb"
    generate(omop, persons=50, seed=3)
    home = tmp_path / "tre"
    fs(
        "node", "init", "--dir", str(home), "--name", "pacs-node",
        "--hub-url", "http://127.0.0.1:9", "--data", str(omop),
    )  # fmt: skip
    config = str(home / "node.toml")
    fs("node", "pseudonym-key", "-c", config)
    upload(orthanc, sorted(p for p in node.archive.rglob("*") if p.is_file()))
    url = orthanc + "/dicom-web"
    run = fs("node", "imaging", "index", "--dicomweb", url, "-c", config, "--json", "--by", "op")
    report = json.loads(run.stdout)
    assert report["source"] == "dicomweb" and report["finished"] and report["series"] > 50
    shown = fs("node", "imaging", "index", "--dicomweb", url, "-c", config)
    assert "series unchanged since the last run (not read)" in shown.stdout
    assert "0 instances read" in shown.stdout

    closed = f"http://127.0.0.1:{free_port()}/dicom-web"
    failed = fs("node", "imaging", "index", "--dicomweb", closed, "-c", config, check=False)
    assert failed.returncode != 0
    assert f"The DICOMweb service at {closed} cannot be reached" in failed.stderr
    assert "Traceback" not in failed.stderr + failed.stdout
    both = fs("node", "imaging", "index", str(node.archive), "--dicomweb", url, "-c", config,
              check=False)  # fmt: skip
    assert both.returncode != 0 and "one source a run" in both.stderr
    secret = url.replace("http://", "http://op:hunter2@")
    leaked = fs("node", "imaging", "index", "--dicomweb", secret, "-c", config, check=False)
    assert leaked.returncode != 0 and "not in the URL" in leaked.stderr
    assert "hunter2" not in leaked.stdout + leaked.stderr

    with sqlite3.connect(home / "node.db") as con:
        events = con.execute(
            "SELECT actor, outcome, details FROM audit_events"
            " WHERE event_type = 'imaging_indexed' ORDER BY rowid"
        ).fetchall()
    assert [(actor, outcome) for actor, outcome, _ in events[:3]] == [
        ("op", "ok"),
        (events[1][0], "ok"),
        (events[2][0], "failed"),
    ]
    details = json.loads(events[0][2])
    assert details["paths"] == [url] and details["source"] == "dicomweb"
    assert details["series_listed"] == report["found"]
    assert json.loads(events[2][2])["paths"] == [closed]
    assert len(events) == 3 and not [e for e in events if "hunter2" in e[2]]


@pytest.mark.postgres
def test_a_postgresql_node_indexes_a_pacs_and_gets_its_study_and_series(node, orthanc, tmp_path):
    """A node whose data is on PostgreSQL: the index through DICOMweb is kept in the index's
    own file (``[imaging] index_file``) and only study and series are published into the
    node's schema, equal to what a DuckDB node's index of the same service holds."""
    from fivesafes.data.pg_load import copy_omop_to_postgres
    from fixtures_omop import PG_URL, drop_schema, new_schema_name

    upload(orthanc, sorted(p for p in node.archive.rglob("*") if p.is_file()))
    url = orthanc + "/dicom-web"
    reference = node.fresh_database("dicomweb-reference")
    index_dicomweb(
        DicomwebClient(url),
        database=reference,
        header_store=tmp_path / "reference-headers.sqlite",
        rules=load_rules(),
        pseudonym_of=pseudonymiser(node.key),
        options=IndexOptions(today=TODAY),
    )
    schema = new_schema_name()
    try:
        copy_omop_to_postgres(node.omop, PG_URL, schema)
        home = tmp_path / "tre"
        fs(
            "node", "init", "--dir", str(home), "--name", "pg-pacs-node",
            "--hub-url", "http://127.0.0.1:9", "--data", str(node.omop),
        )  # fmt: skip
        config = home / "node.toml"
        text = config.read_text()
        start = text.index("[data]")
        end = text.index("\n[", start) + 1
        data = f'[data]\nengine = "postgres"\nurl = "{PG_URL}"\nschema = "{schema}"\n'
        config.write_text(text[:start] + data + "\n" + text[end:])
        (home / "pseudonym.key").write_bytes((node.root / "pseudonym.key").read_bytes())
        run = fs("node", "imaging", "index", "--dicomweb", url, "-c", str(config), "--json")
        assert json.loads(run.stdout)["finished"]
        assert (home / "imaging-index.duckdb").is_file()
        import psycopg

        with psycopg.connect(PG_URL) as con:
            published = sorted(
                con.execute(
                    f"SELECT series_instance_uid, person_id, modality, body_part, contrast, "
                    f'n_instances FROM "{schema}".imaging_series'
                ).fetchall()
            )
        expected = sorted(
            rows(
                reference,
                "SELECT series_instance_uid, person_id, modality, body_part, contrast, "
                "n_instances FROM imaging_series",
            )
        )
        assert published == expected and len(expected) > 50
    finally:
        drop_schema(schema)
