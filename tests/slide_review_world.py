"""A hub and a node with slides, for the tests of the review store (issue 16, point 5): the
node's CDM synthetic, its pseudonyms written as a TRE's loading pipeline would, slides
synthesised for two persons (labels, macros and metadata carrying planted identifiers),
registered with the real ``fivesafes node slides add`` and the demo model run on them; alice
(a member) and bob (not) at the hub, and a project asking for OMOP and pathology, approved by
the node. Nothing is released yet."""

from __future__ import annotations

import csv
import json
import zlib
from pathlib import Path
from typing import Any

import duckdb

from federation import fs
from fivesafes.data.synth import generate
from fivesafes.imaging.synth import link_persons
from fivesafes.node.pseudonyms import load_key, pseudonym

NODE = "northfield"
MODEL = "fivesafes-demo-colour-detector"


def slide_world(harness: Any, folder: Path) -> dict[str, Any]:
    """Start the hub and set the node up (not started: the commands need its data file)."""
    harness.start_hub()
    omop = folder / "omop.duckdb"
    generate(omop, persons=1000, seed=3)
    harness.add_node(NODE, {"engine": "duckdb", "path": str(omop)}, start=False)
    config = str(harness.root / NODE / "node.toml")
    fs("node", "pseudonym-key", "-c", config)
    key = load_key(harness.root / NODE / "pseudonym.key")
    link_persons(omop, lambda value: pseudonym(value, key))
    made = folder / "made"
    fs("synth", "slides", "--omop", str(omop), "--out", str(made), "--persons-limit", "2")
    fs("node", "slides", "add", str(made / "slides"), "-c", config,
       "--specimen-map", str(made / "ground-truth" / "specimen_map.csv"))  # fmt: skip
    fs("node", "slides", "predict-demo", "-c", config)
    with duckdb.connect(str(omop), read_only=True) as con:
        slide, path = con.execute(
            "SELECT s.slide_id, f.path FROM pathology_slide s JOIN pathology_slide_file f"
            " USING (slide_id) WHERE s.format = 'aperio' ORDER BY s.slide_id LIMIT 1"
        ).fetchone()
        geojson, heatmap = con.execute(
            "SELECT d.geojson, d.heatmap_png FROM pathology_prediction p"
            " JOIN pathology_prediction_data d USING (prediction_id)"
            " WHERE p.slide_id = ? AND p.model = ?",
            [slide, MODEL],
        ).fetchone()
    with (made / "ground-truth" / "planted_identifiers.csv").open() as handle:
        planted = {row["value"] for row in csv.DictReader(handle)}
    harness.researcher("alice")
    harness.researcher("bob")
    project = harness.project(["alice"], [NODE], data_domains=["omop", "pathology"])
    return {
        "config": config, "slide": slide, "path": Path(path), "key": key, "project": project,
        "planted": planted, "geojson": json.loads(zlib.decompress(geojson)), "heatmap": heatmap,
    }  # fmt: skip
