"""The slide cohort criterion (``cohorts.criteria.SlideCriterion``, ``slides.cohort``) on a real
node's data: synthetic slides written (``slides.synth``, which also records their specimens in
the CDM) and registered (``slides.register``) with their specimen map; the persons with a slide
of a stain are exactly those the ground truth names; a window on the specimen's date counts;
an opted-out person's slides are gone; the task reads the ``pathology`` data domain."""

from __future__ import annotations

import csv
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from fivesafes.cohorts.compile import cohort_ids
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource
from fivesafes.data.synth import generate
from fivesafes.imaging.synth import link_persons
from fivesafes.node.pseudonyms import pseudonym
from fivesafes.slides.register import RegisterReport, read_map, read_slides, write_slides
from fivesafes.slides.synth import write_slides as synthesise

KEY = bytes(range(32))


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("slides-cohort")
    omop = root / "omop.duckdb"
    generate(omop, persons=1500, seed=3)
    link_persons(omop, lambda value: pseudonym(value, KEY))
    made = synthesise(omop, root / "made", seed=2, persons_limit=12, width=1024, height=768)
    report = RegisterReport()
    slides = read_slides(
        [root / "made" / "slides"], KEY, read_map(made.truth / "specimen_map.csv"), report
    )
    with duckdb.connect(str(omop)) as con:
        write_slides(con, slides, lambda p: pseudonym(p, KEY), report)
    with (made.truth / "slides.csv").open() as handle:
        truth = [row for row in csv.DictReader(handle) if row["format"] == "svs"]
    return {"omop": omop, "truth": truth, "report": report, "root": root}


def persons(database: Path, cohort: dict) -> set[int]:
    with open_omop(DuckDBSource(engine="duckdb", path=database)) as db:
        found = cohort_ids(db, cohort=Cohort.model_validate(cohort)).to_pyarrow()
    return set(found.column("person_id").to_pylist())


def test_persons_with_a_slide_of_a_stain_are_the_planted_ones(node):
    assert node["report"].links == {"linked": len(node["truth"]) + 1}  # the OME-TIFF copy too
    by_stain: dict[str, set[int]] = {}
    for row in node["truth"]:
        by_stain.setdefault(row["stain"], set()).add(int(row["person_id"]))
    he = {"name": "h&e", "criteria": [{"domain": "slide", "stain": ["h & e"]}]}
    assert persons(node["omop"], he) == by_stain["H&E"] and len(by_stain["H&E"]) >= 5
    ihc = sorted(s for s in by_stain if s != "H&E")
    assert ihc, "the synthetic slides hold some immunohistochemistry"
    either = {"name": "ihc", "criteria": [{"domain": "slide", "stain": ihc}]}
    assert persons(node["omop"], either) == set().union(*(by_stain[s] for s in ihc))
    dates = sorted(date.fromisoformat(r["specimen_date"]) for r in node["truth"])
    middle = dates[len(dates) // 2]
    windowed = {
        "name": "later",
        "criteria": [{"domain": "slide", "window": {"start": middle.isoformat()}}],
    }
    later = {int(r["person_id"]) for r in node["truth"]
             if date.fromisoformat(r["specimen_date"]) >= middle}  # fmt: skip
    assert persons(node["omop"], windowed) == later
    assert Cohort.model_validate(he).data_domains() == {"omop", "pathology"}


def test_an_opted_out_persons_slides_are_gone(node, tmp_path):
    copy = tmp_path / "omop.duckdb"
    shutil.copy(node["omop"], copy)
    leaving = int(node["truth"][0]["person_id"])
    with duckdb.connect(str(copy)) as con:
        con.execute("CREATE TABLE fivesafes_opt_out (person_id BIGINT)")
        con.execute("INSERT INTO fivesafes_opt_out VALUES (?)", [leaving])
    anyone = {"name": "any slide", "criteria": [{"domain": "slide"}]}
    assert leaving in persons(node["omop"], anyone)
    assert leaving not in persons(copy, anyone)
