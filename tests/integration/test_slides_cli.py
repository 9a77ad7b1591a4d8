"""Registering slides from the command line: the real ``fivesafes node slides add`` on a node
made by ``fivesafes node init``, slides written with tifffile (``test_slides_register``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb

from federation import fs
from federation import fs as run_fivesafes
from fivesafes.data.synth import generate
from slides_data import write_pyramid


def test_an_operator_registers_slides_with_the_command(tmp_path):
    """The real ``fivesafes node slides add``: counts printed, each file's outcome in the
    report, the run audited with counts only (no path, no planted value), the rows in the
    node's data file; again, nothing new."""
    node = tmp_path / "tre"
    omop = tmp_path / "omop.duckdb"
    generate(omop, persons=30, seed=5)
    fs("node", "init", "--dir", str(node), "--name", "slides-node",
       "--hub-url", "http://127.0.0.1:9", "--data", str(omop))  # fmt: skip
    config = str(node / "node.toml")
    fs("node", "pseudonym-key", "-c", config)
    for early in (("copy", "SLNOPE", "--out", str(tmp_path / "x.svs")), ("predict-demo",)):
        none_yet = fs("node", "slides", *early, "-c", config, check=False)
        assert none_yet.returncode != 0 and "No slides are registered" in none_yet.stderr
    folder = tmp_path / "slides"
    write_pyramid(folder / "A.tif", 4)
    write_pyramid(folder / "B.tif", 5)
    (folder / "C.svs").write_bytes(b"\x00" * 64)
    mapping = tmp_path / "map.csv"
    mapping.write_text("file,patient_id\nA.tif,RXH-0000001\n")
    outcome = tmp_path / "outcome.csv"
    run = fs("node", "slides", "add", str(folder), "--specimen-map", str(mapping), "-c", config,
             "--report", str(outcome), "--json", "--by", "op-sam")  # fmt: skip
    counts = json.loads(run.stdout)
    assert counts["files"] == 3 and counts["registered"] == 2
    assert counts["refused"] == {"unsupported_format": 1}
    assert counts["links"] == {"no_map": 1, "no_match": 1}
    with outcome.open() as handle:
        rows = {Path(r["path"]).name: r["outcome"] for r in csv.DictReader(handle)}
    assert rows == {"A.tif": "registered", "B.tif": "registered", "C.svs": "refused"}
    with duckdb.connect(str(omop), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM pathology_slide").fetchone()[0] == 2
    audit = (node / "node.db").read_bytes()
    assert b"slides_registered" in audit
    for leaked in (b"RXH-0000001", b"A.tif", str(folder).encode(), b"SMITH"):
        assert leaked not in audit
    again = json.loads(fs("node", "slides", "add", str(folder), "-c", config, "--json").stdout)
    assert again["registered"] == 0 and again["already_registered"] == 2


def test_synthetic_slides_are_registered_and_linked_to_their_persons(tmp_path):
    """``fivesafes synth slides`` then ``fivesafes node slides add`` with the specimen map it
    writes: every slide linked to the person the ground truth names; the planted identifiers
    (label, macro, metadata) are nowhere in the node's data."""
    from fivesafes.imaging.synth import link_persons
    from fivesafes.node.pseudonyms import load_key, pseudonym

    said: list[str] = []  # every command's output: searched for the planted values at the end

    def fs(*args: str, check: bool = True):  # the real command, its output kept
        done = run_fivesafes(*args, check=check)
        said.extend((done.stdout, done.stderr))
        return done

    node = tmp_path / "tre"
    omop = tmp_path / "omop.duckdb"
    generate(omop, persons=1000, seed=1)
    fs("node", "init", "--dir", str(node), "--name", "slides-node",
       "--hub-url", "http://127.0.0.1:9", "--data", str(omop))  # fmt: skip
    config = str(node / "node.toml")
    fs("node", "pseudonym-key", "-c", config)
    key = load_key(node / "pseudonym.key")
    link_persons(omop, lambda value: pseudonym(value, key))  # as the TRE's loading pipeline does
    made = tmp_path / "made"
    fs("synth", "slides", "--omop", str(omop), "--out", str(made), "--persons-limit", "3")
    with (made / "ground-truth" / "slides.csv").open() as handle:
        truth = list(csv.DictReader(handle))
    counts = json.loads(
        fs("node", "slides", "add", str(made / "slides"), "-c", config, "--json",
           "--specimen-map", str(made / "ground-truth" / "specimen_map.csv")).stdout
    )  # fmt: skip
    assert counts["registered"] == len(truth) and counts["links"] == {"linked": len(truth)}
    with duckdb.connect(str(omop), read_only=True) as con:
        persons = sorted(
            r[0] for r in con.execute("SELECT person_id FROM pathology_slide").fetchall()
        )
        stored = " ".join(
            str(v) for row in con.execute("SELECT * FROM pathology_slide").fetchall() for v in row
        )
    assert persons == sorted(int(row["person_id"]) for row in truth)
    with (made / "ground-truth" / "planted_identifiers.csv").open() as handle:
        planted = {row["value"] for row in csv.DictReader(handle)}
    assert planted and not [value for value in planted if value in stored]

    # AI predictions: the demo model on every slide, and one model's GeoJSON imported by hand
    demo = fs("node", "slides", "predict-demo", "-c", config, "--by", "op-sam").stdout
    assert f"Predictions imported: {len(truth)}." in demo
    with duckdb.connect(str(omop), read_only=True) as con:
        # Aperio slides first (ids are keyed by a new node key each run: sort on the format)
        listed = "SELECT slide_id FROM pathology_slide ORDER BY format <> 'aperio', slide_id"
        slide_ids = [r[0] for r in con.execute(listed).fetchall()]
        first_path = con.execute(
            "SELECT path FROM pathology_slide_file WHERE slide_id = ?", [slide_ids[0]]
        ).fetchone()[0]
        counts = con.execute(
            "SELECT count(*), min(features) FROM pathology_prediction"
            " WHERE model = 'fivesafes-demo-colour-detector'"
        ).fetchone()
    assert counts[0] == len(truth) and counts[1] > 0
    regions = json.loads((made / "ground-truth" / "tumour_regions.geojson").read_text())
    mine = Path(first_path).relative_to(made).as_posix()
    drawn = [f for f in regions["features"] if f["properties"]["slide"] == mine]
    own = {"type": "FeatureCollection", "features": drawn}
    geojson = tmp_path / "regions.geojson"
    geojson.write_text(json.dumps(own))
    fs("node", "slides", "predictions", "add", slide_ids[0], "--model", "hand-drawn",
       "--model-version", "1", "--run-at", "2026-12-06T10:00:00", "--geojson", str(geojson),
       "-c", config)  # fmt: skip
    outside = tmp_path / "outside.geojson"
    ring = [[0, 0], [10**7, 0], [0, 10], [0, 0]]
    outside.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
         "properties": {"class": "Tumor"}}]}))  # fmt: skip
    refused = fs("node", "slides", "predictions", "add", slide_ids[1], "--model", "x",
                 "--model-version", "1", "--run-at", "2026-12-06T10:00:00",
                 "--geojson", str(outside), "-c", config, check=False)  # fmt: skip
    assert refused.returncode != 0 and "outside the slide" in refused.stdout + refused.stderr

    from fivesafes.cohorts.compile import cohort_ids
    from fivesafes.cohorts.criteria import Cohort
    from fivesafes.data.engines import open_omop
    from fivesafes.data.source import DuckDBSource

    def persons_of(criterion: dict) -> set[int]:
        cohort = Cohort.model_validate({"name": "c", "criteria": [criterion]})
        with open_omop(DuckDBSource(engine="duckdb", path=omop)) as db:
            return set(cohort_ids(db, cohort=cohort).to_pyarrow().column("person_id").to_pylist())

    everyone = {int(row["person_id"]) for row in truth}
    demo_model = {"domain": "slide", "predicted_by": ["fivesafes-demo-colour-detector"]}
    assert persons_of(demo_model) == everyone
    with duckdb.connect(str(omop), read_only=True) as con:
        drawn_for = con.execute(
            "SELECT person_id FROM pathology_slide WHERE slide_id = ?", [slide_ids[0]]
        ).fetchone()[0]
    assert persons_of({"domain": "slide", "predicted_by": ["hand-drawn"]}) == {drawn_for}

    # a de-identified copy for release: the pyramid only, none of the planted values
    copy = tmp_path / "release" / "copy.svs"
    fs("node", "slides", "copy", slide_ids[0], "--out", str(copy), "-c", config)
    data = copy.read_bytes()
    assert planted and not [value for value in planted if value.encode() in data]
    again = fs("node", "slides", "copy", slide_ids[0], "--out", str(copy), "-c", config,
               check=False)  # fmt: skip
    assert again.returncode != 0 and "exists already" in again.stdout + again.stderr
    assert b"slide_copied" in (node / "node.db").read_bytes()

    # nothing the node wrote (its state database with the audit log, any file in its folder)
    # nor anything a command printed holds a planted value
    written = b"".join(p.read_bytes() for p in node.rglob("*") if p.is_file())
    printed = "\n".join(said)
    assert [v for v in planted if v.encode() in written or v in printed] == []
